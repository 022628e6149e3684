// Package integration runs the whole exchange end to end: the cofswitch
// binary as separate processes (serve, publish, tail) against a real NATS
// server, including kill -9 and restart.
package integration

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cofswitch/cofswitch/bus/bustest"
	"github.com/cofswitch/cofswitch/cof"
	"github.com/cofswitch/cofswitch/routing"
)

// binary is the cofswitch command built once for the package.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "cofswitch-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	binary = filepath.Join(dir, "cofswitch")
	build := exec.Command("go", "build", "-o", binary, "github.com/cofswitch/cofswitch/cmd/cofswitch")
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building cofswitch:", err)
		os.Exit(2)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// startServer runs a NATS server in the test process, so that switch
// processes can be killed and restarted against it.
func startServer(t *testing.T) (*server.Server, *nats.Conn, jetstream.JetStream) {
	return bustest.Server(t)
}

// proc is a running cofswitch subprocess with its output captured.
type proc struct {
	cmd  *exec.Cmd
	mu   sync.Mutex
	out  bytes.Buffer
	done chan struct{}
	err  error
}

func (p *proc) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.Write(b)
}

func (p *proc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

func start(t *testing.T, args ...string) *proc {
	t.Helper()
	return startExe(t, binary, args...)
}

// startExe starts another program, killed at the end of the test.
func startExe(t *testing.T, exe string, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(exe, args...), done: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = p, p
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("output of %v:\n%s", args, p.output())
		}
	})
	return p
}

// stop sends sig and waits for the exit.
func (p *proc) stop(t *testing.T, sig syscall.Signal) error {
	t.Helper()
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
		return p.err
	case <-time.After(20 * time.Second):
		t.Fatalf("process did not exit after %v", sig)
		return nil
	}
}

// run runs cofswitch to completion and returns its stdout, stderr and code.
func run(t *testing.T, stdin []byte, args ...string) (string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	var out, errb bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = bytes.NewReader(stdin), &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errb.String(), code
}

func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

func streamMsgs(t *testing.T, js jetstream.JetStream, name string) uint64 {
	t.Helper()
	s, err := js.Stream(context.Background(), name)
	if err != nil {
		return ^uint64(0)
	}
	info, err := s.Info(context.Background())
	if err != nil {
		return ^uint64(0)
	}
	return info.State.Msgs
}

// inputStreams lists the sensors' input streams that exist.
func inputStreams(t *testing.T, js jetstream.JetStream) []jetstream.Stream {
	t.Helper()
	var out []jetstream.Stream
	names := js.StreamNames(context.Background())
	for name := range names.Name() {
		if strings.HasPrefix(name, routing.InStreamPrefix) {
			if s, err := js.Stream(context.Background(), name); err == nil {
				out = append(out, s)
			}
		}
	}
	return out
}

// inputMsgs is the number of batches waiting in every sensor's input
// stream, or the largest uint64 when one cannot be read (or none exists
// yet).
func inputMsgs(t *testing.T, js jetstream.JetStream) uint64 {
	t.Helper()
	streams := inputStreams(t, js)
	if len(streams) == 0 {
		return ^uint64(0)
	}
	var n uint64
	for _, s := range streams {
		info, err := s.Info(context.Background())
		if err != nil {
			return ^uint64(0)
		}
		n += info.State.Msgs
	}
	return n
}

// batch is one delivered message: its headers and records.
type batch struct {
	header  nats.Header
	records []cof.Record
}

// readBatches returns everything a peer's stream holds, in order.
func readBatches(t *testing.T, js jetstream.JetStream, peer string) []batch {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cons, err := js.OrderedConsumer(ctx, routing.PeerStream(peer), jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	codec, _ := cof.NewCodec()
	defer codec.Close()
	br := codec.NewBatchReader()
	total := streamMsgs(t, js, routing.PeerStream(peer))
	var out []batch
	for got := uint64(0); got < total; {
		fetched, err := cons.Fetch(int(total-got), jetstream.FetchMaxWait(2*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for m := range fetched.Messages() {
			n++
			enc, _ := cof.ParseEncoding(m.Headers().Get("Content-Encoding"))
			if err := br.Reset(m.Data(), enc); err != nil {
				t.Fatal(err)
			}
			b := batch{header: m.Headers()}
			for br.Next() {
				if br.Record() == nil {
					t.Fatalf("invalid line delivered to %s: %v", peer, br.LineErr())
				}
				b.records = append(b.records, *br.Record())
			}
			out = append(out, b)
		}
		if n == 0 {
			t.Fatalf("%s: read %d of %d messages", peer, got, total)
		}
		got += uint64(n)
	}
	return out
}

// readPeer returns the rrnames delivered to a peer, in stream order.
func readPeer(t *testing.T, js jetstream.JetStream, peer string) []string {
	t.Helper()
	var names []string
	for _, b := range readBatches(t, js, peer) {
		for _, r := range b.records {
			names = append(names, r.RRName)
		}
	}
	return names
}

// batchHeaders returns one header of every batch delivered to a peer.
func batchHeaders(t *testing.T, js jetstream.JetStream, peer, key string) []string {
	t.Helper()
	var out []string
	for _, b := range readBatches(t, js, peer) {
		out = append(out, b.header.Get(key))
	}
	return out
}

// natsMsgZstd makes a zstd batch message, as a sensor sends it.
func natsMsgZstd(codec *cof.Codec, subject string, body []byte) *nats.Msg {
	data, _ := codec.Compress(nil, body, cof.Zstd)
	m := nats.NewMsg(subject)
	m.Data = data
	m.Header.Set("Content-Encoding", "zstd")
	return m
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func contains(haystack, needle string) bool { return strings.Contains(haystack, needle) }

// serveExternal starts a nats-server and 'serve' on it with the
// configuration yaml (its secret in a temp dir), and waits until the
// exchange is ready. It returns the server's URL, a JetStream context on it
// and the serve process.
func serveExternal(t *testing.T, yaml string) (string, jetstream.JetStream, *proc) {
	t.Helper()
	srv, _, js := startServer(t)
	url := srv.ClientURL()
	cfg := writeFile(t, "c.yaml", yaml)
	sw := start(t, "serve", "--config", cfg, "--data", t.TempDir(), "--nats-url", url)
	waitFor(t, "switch ready", 15*time.Second, func() bool { return contains(sw.output(), "exchange ready") })
	return url, js, sw
}
