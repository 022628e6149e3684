package pipeline_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cofswitch/cofswitch/cof"
	"github.com/cofswitch/cofswitch/sensor/pipeline"
)

func TestParseInput(t *testing.T) {
	for _, tc := range []struct {
		spec, err string
	}{
		{"dnstap-unix:/run/x.sock", ""},
		{"eve:-", ""},
		{"zeek:/var/log/dns.log", ""},
		{"dnstap-unix:-", "cannot read standard input"},
		{"eve", "want KIND:SOURCE"},
		{"eve:", "want KIND:SOURCE"},
		{"bind:/x", `unknown kind "bind"`},
	} {
		in, err := pipeline.ParseInput(tc.spec)
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("%s: %v", tc.spec, err)
		case tc.err == "" && in.String() != tc.spec:
			t.Errorf("%s read as %s", tc.spec, in)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err) || !errors.Is(err, pipeline.ErrBadInput)):
			t.Errorf("%s: %v, want %q", tc.spec, err, tc.err)
		}
	}
	for _, k := range pipeline.KindNames() {
		if !strings.Contains(pipeline.InputHelp(), k+":") || !strings.Contains(pipeline.InputHelp(), "--input "+k+":") {
			t.Errorf("the help lists no %s with an example", k)
		}
	}
}

// lines is a Publisher that keeps what it is given: the pipeline's own
// output, before any bus.
type lines struct {
	mu      sync.Mutex
	got     []string
	flushes int
}

func (l *lines) Add(b []byte) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.got = append(l.got, strings.TrimSpace(string(b)))
	return nil
}

func (l *lines) Flush() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.flushes++
	return nil
}

func (l *lines) records(t *testing.T) []cof.Record {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []cof.Record
	for _, s := range l.got {
		r, err := cof.Parse([]byte(s))
		if err != nil {
			t.Fatalf("published %q: %v", s, err)
		}
		out = append(out, r)
	}
	return out
}

func appendTo(t *testing.T, path string, recs ...string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, r := range recs {
		fmt.Fprintln(f, r)
	}
}

func rec(name, rdata string, t int64) string {
	return fmt.Sprintf(`{"rrname":%q,"rrtype":"A","rdata":[%q],"time_first":%d,"time_last":%d}`, name, rdata, t, t)
}

// run runs a pipeline until want records are published, then stops it.
func run(t *testing.T, o pipeline.Options, out *lines, want int) pipeline.Stats {
	t.Helper()
	p, err := pipeline.New(o, out)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	deadline := time.Now().Add(10 * time.Second)
	for len(out.records(t)) < want && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	return p.Stats()
}

// The default filter withholds internal names and special-purpose
// addresses; the window merges identical observations; positions saved at
// each flush let a restart go on after the last line handled.
func TestFilterWindowAndResume(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "in.ndjson")
	appendTo(t, log,
		rec("www.example.com", "93.184.216.34", 1700000000),
		rec("www.example.com", "93.184.216.34", 1700000060), // merged with the first
		rec("nas.corp", "93.184.216.35", 1700000000),        // internal zone
		rec("db.example.com", "10.1.2.3", 1700000000),       // RFC 1918
		rec("mail.example.com", "151.101.1.69", 1700000000),
		"not json")
	filter, err := pipeline.CompileFilter(pipeline.DefaultFilterSpec())
	if err != nil {
		t.Fatal(err)
	}
	o := pipeline.Options{Inputs: []pipeline.Input{{Kind: "cof", Source: log}}, Filter: filter,
		Window: 100 * time.Millisecond, StateDir: dir}
	out := &lines{}
	st := run(t, o, out, 2)
	got := out.records(t)
	slices.SortFunc(got, func(a, b cof.Record) int { return strings.Compare(a.RRName, b.RRName) })
	if len(got) != 2 || got[0].RRName != "mail.example.com" || got[1].RRName != "www.example.com" {
		t.Fatalf("published %v", out.got)
	}
	if w := got[1]; w.Count != 2 || w.TimeFirst != 1700000000 || w.TimeLast != 1700000060 {
		t.Errorf("merged record: count %d, times %d..%d", w.Count, w.TimeFirst, w.TimeLast)
	}
	if st.Observations != 5 || st.Withheld != 2 || st.Published != 2 || st.LineErrors != 1 || st.Reduction() != 1.5 {
		t.Errorf("stats %+v, reduction %.2f", st, st.Reduction())
	}

	// A restart reads only what was written since.
	appendTo(t, log, rec("new.example.com", "151.101.1.70", 1700000100))
	out2 := &lines{}
	run(t, o, out2, 1)
	time.Sleep(200 * time.Millisecond)
	if got := out2.records(t); len(got) != 1 || got[0].RRName != "new.example.com" {
		t.Errorf("after a restart: %v", out2.got)
	}
}

// Without a window, records are published as they come.
func TestNoWindow(t *testing.T) {
	log := filepath.Join(t.TempDir(), "in.ndjson")
	appendTo(t, log, rec("a.example.com", "198.51.100.1", 1), rec("a.example.com", "198.51.100.1", 2))
	out := &lines{}
	st := run(t, pipeline.Options{Inputs: []pipeline.Input{{Kind: "cof", Source: log}}, Window: -1}, out, 2)
	if st.Published != 2 || len(out.got) != 2 {
		t.Errorf("published %d: %v", st.Published, out.got)
	}
}

func TestNewRefuses(t *testing.T) {
	if _, err := pipeline.New(pipeline.Options{}, &lines{}); !errors.Is(err, pipeline.ErrBadInput) {
		t.Errorf("no input: %v", err)
	}
	_, err := pipeline.New(pipeline.Options{Inputs: []pipeline.Input{{Kind: "nope", Source: "x"}}}, &lines{})
	if !errors.Is(err, pipeline.ErrBadInput) {
		t.Errorf("unknown kind: %v", err)
	}
}

// runUntil runs a pipeline until it returns by itself or stop ends; it
// fails the test when Run takes more than 5 s after that.
func runUntil(t *testing.T, o pipeline.Options, out *lines, stop <-chan struct{}) error {
	t.Helper()
	p, err := pipeline.New(o, out)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	select {
	case err := <-done:
		return err
	case <-stop:
	}
	cancel()
	select {
	case err := <-done:
		return err
	case <-time.After(5 * time.Second):
		t.Fatal("Run still running 5 s after its context ended")
		return nil
	}
}

// Standard input: its end ends the run once every record is published; a
// stop while it is idle (a terminal, a pipe nobody writes) ends the run
// too, publishing what the window holds.
func TestStdin(t *testing.T) {
	t.Run("end", func(t *testing.T) {
		in := strings.NewReader(rec("a.example.com", "198.51.100.1", 1) + "\n" + rec("b.example.com", "198.51.100.2", 1) + "\n")
		out := &lines{}
		never := make(chan struct{})
		o := pipeline.Options{Inputs: []pipeline.Input{{Kind: "cof", Source: "-"}}, Window: time.Hour, Stdin: in}
		if err := runUntil(t, o, out, never); err != nil {
			t.Fatal(err)
		}
		if len(out.got) != 2 {
			t.Errorf("published %v", out.got)
		}
	})
	t.Run("stopped while idle", func(t *testing.T) {
		r, w := io.Pipe()
		defer w.Close()
		go fmt.Fprintln(w, rec("a.example.com", "198.51.100.1", 1))
		out := &lines{}
		stop := make(chan struct{})
		go func() { // stop once the line is read: the pipe is idle then
			for deadline := time.Now().Add(5 * time.Second); len(out.records(t)) == 0 && time.Now().Before(deadline); {
				time.Sleep(10 * time.Millisecond)
			}
			close(stop)
		}()
		o := pipeline.Options{Inputs: []pipeline.Input{{Kind: "cof", Source: "-"}}, Window: -1, Stdin: r}
		if err := runUntil(t, o, out, stop); err != nil {
			t.Fatal(err)
		}
		if len(out.records(t)) != 1 {
			t.Errorf("published %v", out.got)
		}
	})
}

// An input that cannot run (here a dnstap socket in a directory that does
// not exist) ends the run with its error, though another input goes on.
func TestFailedInputEndsRun(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "in.ndjson")
	appendTo(t, log, rec("a.example.com", "198.51.100.1", 1))
	o := pipeline.Options{Inputs: []pipeline.Input{
		{Kind: "cof", Source: log},
		{Kind: "dnstap-unix", Source: filepath.Join(dir, "missing", "dnstap.sock")},
	}, Window: time.Hour, StateDir: dir}
	out := &lines{}
	stop := make(chan struct{})
	timer := time.AfterFunc(5*time.Second, func() { close(stop) })
	defer timer.Stop()
	err := runUntil(t, o, out, stop)
	if !timer.Stop() {
		t.Error("Run went on without its dnstap input until stopped")
	}
	if err == nil || !strings.Contains(err.Error(), "dnstap-unix") {
		t.Fatalf("Run: %v, want the dnstap input's error", err)
	}
}

// A log file that does not exist is waited for, and the log says so.
func TestMissingFileIsNamed(t *testing.T) {
	var buf strings.Builder
	var mu sync.Mutex
	log := slog.New(slog.NewTextHandler(writerFunc(func(b []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return buf.Write(b)
	}), nil))
	path := filepath.Join(t.TempDir(), "eve.json")
	o := pipeline.Options{Inputs: []pipeline.Input{{Kind: "eve", Source: path}}, Log: log}
	stop := make(chan struct{})
	time.AfterFunc(300*time.Millisecond, func() { close(stop) })
	if err := runUntil(t, o, &lines{}, stop); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if !strings.Contains(buf.String(), "waiting for it") || !strings.Contains(buf.String(), path) {
		t.Errorf("the log says nothing of the missing file:\n%s", buf.String())
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(b []byte) (int, error) { return f(b) }

// slow is a Publisher whose first Add waits until released.
type slow struct {
	lines
	started, release chan struct{}
	once             sync.Once
}

func (s *slow) Add(b []byte) error {
	s.once.Do(func() { close(s.started); <-s.release })
	return s.lines.Add(b)
}

// A stop publishes what the inputs had already handed over (lines of
// standard input, dnstap messages: nothing reads them again).
func TestStopPublishesWhatWasRead(t *testing.T) {
	var in strings.Builder
	for i := range 100 {
		fmt.Fprintln(&in, rec(fmt.Sprintf("h%d.example.com", i), "198.51.100.1", 1))
	}
	pr, pw := io.Pipe() // stays open: the stop, not its end, ends the run
	defer pw.Close()
	go io.WriteString(pw, in.String())
	out := &slow{started: make(chan struct{}), release: make(chan struct{})}
	p, err := pipeline.New(pipeline.Options{Inputs: []pipeline.Input{{Kind: "cof", Source: "-"}}, Window: -1, Stdin: pr}, out)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	<-out.started
	time.Sleep(200 * time.Millisecond) // the reader hands over the other 99 lines
	cancel()
	close(out.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := len(out.records(t)); n != 100 {
		t.Errorf("published %d of the 100 records read", n)
	}
}
