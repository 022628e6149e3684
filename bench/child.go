package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Ready starts the line a benchmark child prints once it consumes:
// "ready URL", URL being the server it uses.
const Ready = "ready"

// child is the process under test (the switch, or the raw forwarder), run
// apart so that its CPU time and peak memory are its own.
type child struct {
	cmd    *exec.Cmd
	out    *bufio.Reader
	stderr *tail
	url    string        // the server it uses, from its ready line
	exited chan struct{} // closed once the process has exited
	rest   []byte        // its output after the ready line
	err    error         // from Wait
}

// startChild runs exe with args and waits for its ready line.
func startChild(ctx context.Context, exe string, args ...string) (*child, error) {
	cmd := exec.Command(exe, args...)
	dieWithParent(cmd)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	c := &child{cmd: cmd, out: bufio.NewReader(stdout), stderr: &tail{n: 64 << 10}, exited: make(chan struct{})}
	cmd.Stderr = c.stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("bench: starting %s: %w", exe, err)
	}
	ready := make(chan error, 1)
	go func() {
		line, err := c.out.ReadString('\n')
		word, url, _ := strings.Cut(strings.TrimSpace(line), " ")
		if err == nil && (word != Ready || url == "") {
			err = fmt.Errorf("unexpected first line %q", line)
		}
		c.url = url
		ready <- err
	}()
	select {
	case err = <-ready:
	case <-ctx.Done():
		err = ctx.Err()
	case <-time.After(30 * time.Second):
		err = errors.New("not ready after 30s")
	}
	if err != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return nil, fmt.Errorf("bench: %s %s: %w; its stderr:\n%s", exe, strings.Join(args[:2], " "), err, c.stderr)
	}
	go func() {
		c.rest, _ = io.ReadAll(c.out)
		c.err = cmd.Wait()
		close(c.exited)
	}()
	return c, nil
}

// kill ends the child at once, when a phase fails.
func (c *child) kill() {
	_ = c.cmd.Process.Kill()
	<-c.exited
}

// failure describes a child that exited before it was asked to.
func (c *child) failure() error {
	return fmt.Errorf("bench: the process under test exited early (%v); its stderr:\n%s", c.err, c.stderr)
}

// usage is what a child cost.
type usage struct {
	CPUSeconds      float64 `json:"cpu_seconds"`       // over the timed window
	MicrosPerRecord float64 `json:"cpu_us_per_record"` // CPUSeconds per input record
	TotalCPUSeconds float64 `json:"total_cpu_seconds"` // its whole life: start-up and shutdown too
	PeakRSSMiB      float64 `json:"peak_rss_mib"`
}

// wait waits for the child, asked to finish (by SIGTERM, once: a second
// signal kills a cofswitch process), to exit, SIGKILLing it a minute
// later; it decodes the JSON line the child printed last into v, and
// returns its CPU time and peak RSS.
func (c *child) wait(v any) (usage, error) {
	select {
	case <-c.exited:
	case <-time.After(time.Minute):
		c.kill()
		return usage{}, fmt.Errorf("bench: the process under test did not stop within a minute of SIGTERM; killed. Its stderr:\n%s", c.stderr)
	}
	rest, werr := c.rest, c.err
	var u usage
	if ru, ok := c.cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		u.TotalCPUSeconds = tvSeconds(ru.Utime) + tvSeconds(ru.Stime)
	}
	if werr != nil {
		return u, fmt.Errorf("bench: child %v; its stderr:\n%s", werr, c.stderr)
	}
	lines := strings.Split(strings.TrimSpace(string(rest)), "\n")
	last := []byte(lines[len(lines)-1])
	var peak struct {
		KiB int64 `json:"peak_rss_kib"`
	}
	if err := json.Unmarshal(last, v); err != nil {
		return u, fmt.Errorf("bench: child's final line %q: %w", last, err)
	}
	if err := json.Unmarshal(last, &peak); err != nil || peak.KiB <= 0 {
		return u, fmt.Errorf("bench: child's final line %q: no peak_rss_kib", last)
	}
	u.PeakRSSMiB = float64(peak.KiB) / 1024
	return u, nil
}

// PeakRSSKiB is this process's peak resident set (VmHWM), which a child
// reports itself: the rusage a parent gets is wrong for a child started
// with vfork, as Go starts them, since exec carries the parent's peak
// into the child's.
func PeakRSSKiB() int64 {
	v := procField("/proc/self/status", "VmHWM")
	if f := strings.Fields(v); len(f) == 2 && f[1] == "kB" {
		n, _ := strconv.ParseInt(f[0], 10, 64)
		return n
	}
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		return ru.Maxrss
	}
	return 0
}

func tvSeconds(tv syscall.Timeval) float64 {
	return float64(tv.Sec) + float64(tv.Usec)/1e6
}

// selfCPU is this process's CPU time so far.
func selfCPU() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return tvSeconds(ru.Utime) + tvSeconds(ru.Stime)
}

// tail keeps the last n bytes or so written to it: a child's stderr, whose
// fatal reason comes last.
type tail struct {
	mu sync.Mutex
	b  []byte
	n  int
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > 2*t.n {
		t.b = append(t.b[:0], t.b[len(t.b)-t.n:]...)
	}
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.b) > t.n {
		return "..." + string(t.b[len(t.b)-t.n:])
	}
	return string(t.b)
}

// warnings returns the lines at level WARN or ERROR, the last ten at most.
func (t *tail) warnings() []string {
	var out []string
	for line := range strings.Lines(t.String()) {
		if strings.Contains(line, "level=WARN") || strings.Contains(line, "level=ERROR") {
			out = append(out, strings.TrimSpace(line))
		}
	}
	return out[max(0, len(out)-10):]
}

// children are a phase's processes under test, all on the one durable
// consumer.
type children []*child

// startChildren starts n children with the same arguments, one after the
// other, each ready before the next starts.
func startChildren(ctx context.Context, n int, exe string, args ...string) (children, error) {
	var cs children
	for range n {
		c, err := startChild(ctx, exe, args...)
		if err != nil {
			cs.kill()
			return nil, err
		}
		cs = append(cs, c)
	}
	return cs, nil
}

// kill ends every child at once, when a phase fails.
func (cs children) kill() {
	for _, c := range cs {
		_ = c.cmd.Process.Kill()
	}
	for _, c := range cs {
		<-c.exited
	}
}

// cpu is the CPU time the children have used so far, summed; 0 when /proc
// cannot be read.
func (cs children) cpu() float64 {
	var s float64
	for _, c := range cs {
		s += procCPU(c.cmd.Process.Pid)
	}
	return s
}

// stop asks every child to finish at once (SIGTERM) and sums what they
// counted and what they cost (peak RSS summed too: a bound on what they
// held at once). It returns the warnings they logged, each child's
// prefixed with its number when there are several.
func (cs children) stop() (childStats, usage, []string, error) {
	for _, c := range cs {
		_ = c.cmd.Process.Signal(syscall.SIGTERM)
	}
	var total childStats
	var u usage
	var warnings []string
	var errs []error
	for i, c := range cs {
		var st childStats
		cu, err := c.wait(&st)
		for _, w := range c.stderr.warnings() {
			if len(cs) > 1 {
				w = fmt.Sprintf("[%d] %s", i+1, w)
			}
			warnings = append(warnings, w)
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		total.add(st)
		u.TotalCPUSeconds += cu.TotalCPUSeconds
		u.PeakRSSMiB += cu.PeakRSSMiB
	}
	return total, u, warnings, errors.Join(errs...)
}
