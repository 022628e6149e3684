package dnstap

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	tap "github.com/dnstap/golang-dnstap"
	framestream "github.com/farsightsec/golang-framestream"
	"github.com/miekg/dns"

	"github.com/cofswitch/cofswitch/cof"
)

var quiet = WithLogger(slog.New(slog.DiscardHandler))

// newCollector returns a collector whose converter counts into st.
func newCollector(t *testing.T, st *Stats) *collector {
	t.Helper()
	c, err := NewConverter(WithStats(st), quiet)
	if err != nil {
		t.Fatal(err)
	}
	return &collector{conv: c}
}

// testFrames returns n dnstap frames, each a RESOLVER_RESPONSE with one
// A record for host<i>.example.com.
func testFrames(t *testing.T, n int) [][]byte {
	t.Helper()
	frames := make([][]byte, n)
	for i := range frames {
		name := "host" + string(rune('a'+i%26)) + ".example.com."
		resp := wire(t, name, dns.TypeA, []string{name + " 60 IN A 192.0.2.1"}, nil, nil)
		frames[i] = frame(t, msg(resolverResponse, resp, "example.com"))
	}
	return frames
}

// sendFrames connects to network/addr as a resolver does: the
// bidirectional Frame Streams handshake, the frames, then STOP and FINISH.
func sendFrames(t *testing.T, network, addr string, frames [][]byte) {
	t.Helper()
	c, err := net.Dial(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	w, err := tap.NewWriter(c, &tap.WriterOptions{Bidirectional: true, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatalf("handshake: %v", err)
	}
	for _, f := range frames {
		if _, err := w.WriteFrame(f); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil { // STOP, then waits for FINISH
		t.Fatalf("close: %v", err)
	}
}

func checkNoSecrets(t *testing.T, lines [][]byte) {
	t.Helper()
	all := bytes.Join(lines, nil)
	for _, s := range secrets {
		if bytes.Contains(all, s) {
			t.Errorf("output holds %q", s)
		}
	}
	for _, l := range lines {
		if _, err := cof.Parse(bytes.TrimSuffix(l, []byte("\n"))); err != nil {
			t.Errorf("line %s: %v", l, err)
		}
	}
}

func TestUnixSocketRoundTrip(t *testing.T) {
	st := &Stats{}
	col := newCollector(t, st)
	path := filepath.Join(t.TempDir(), "dnstap.sock")
	srv, err := ListenUnix(context.Background(), path, col.handle, WithStats(st), quiet)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != DefaultSocketMode {
		t.Fatalf("socket file: %v, %v; want mode %v", fi, err, DefaultSocketMode)
	}
	frames := testFrames(t, 50)
	done := make(chan struct{})
	for range 3 { // three resolvers at once
		go func() {
			defer func() { done <- struct{}{} }()
			sendFrames(t, "unix", path, frames)
		}()
	}
	for range 3 {
		<-done
	}
	checkFor(t, 5*time.Second, "150 records", func() bool { return col.count() == 150 })
	checkNoSecrets(t, col.all())
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket file left after Close: %v", err)
	}
	s := st.Snapshot()
	if s.Frames != 150 || s.Connections != 3 || s.Active != 0 || s.Records != 150 || s.Messages["RESOLVER_RESPONSE"] != 150 {
		t.Errorf("stats = %+v", s)
	}
}

func TestUnixSocketFile(t *testing.T) {
	dir := t.TempDir()
	h := func(*Message) {}
	t.Run("stale socket replaced", func(t *testing.T) {
		path := filepath.Join(dir, "stale.sock")
		ln, err := net.Listen("unix", path)
		if err != nil {
			t.Fatal(err)
		}
		ln.(*net.UnixListener).SetUnlinkOnClose(false)
		ln.Close()
		srv, err := ListenUnix(context.Background(), path, h, SocketMode(0o600), quiet)
		if err != nil {
			t.Fatal(err)
		}
		defer srv.Close()
		if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
			t.Errorf("mode %v, want 0600", fi.Mode().Perm())
		}
	})
	t.Run("live socket kept", func(t *testing.T) {
		path := filepath.Join(dir, "live.sock")
		ln, err := net.Listen("unix", path)
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		if _, err := ListenUnix(context.Background(), path, h, quiet); !errors.Is(err, ErrSocketInUse) {
			t.Errorf("err = %v, want ErrSocketInUse", err)
		}
	})
	t.Run("regular file kept", func(t *testing.T) {
		path := filepath.Join(dir, "file")
		if err := os.WriteFile(path, []byte("keep me"), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := ListenUnix(context.Background(), path, h, quiet); !errors.Is(err, ErrNotSocket) {
			t.Errorf("err = %v, want ErrNotSocket", err)
		}
		if b, _ := os.ReadFile(path); string(b) != "keep me" {
			t.Errorf("file changed")
		}
	})
	t.Run("context cancel stops the server", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		srv, err := ListenUnix(ctx, filepath.Join(dir, "ctx.sock"), h, quiet)
		if err != nil {
			t.Fatal(err)
		}
		cancel()
		select {
		case <-srv.Done():
		case <-time.After(5 * time.Second):
			t.Fatal("server still running after cancel")
		}
	})
}

func TestTCP(t *testing.T) {
	st := &Stats{}
	col := newCollector(t, st)
	srv, err := ListenTCP(context.Background(), "127.0.0.1:0", col.handle, WithStats(st), quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	sendFrames(t, "tcp", srv.Addr().String(), testFrames(t, 20))
	checkFor(t, 5*time.Second, "20 records", func() bool { return col.count() == 20 })
	checkNoSecrets(t, col.all())

	for _, addr := range []string{"0.0.0.0:0", ":0", "[::]:0", "192.0.2.1:6000", "example.com:6000"} {
		if _, err := ListenTCP(context.Background(), addr, col.handle, quiet); !errors.Is(err, ErrNotLoopback) {
			t.Errorf("ListenTCP(%q) = %v, want ErrNotLoopback", addr, err)
		}
	}
	open, err := ListenTCP(context.Background(), "0.0.0.0:0", col.handle, AllowNonLoopback(), quiet)
	if err != nil {
		t.Fatalf("with AllowNonLoopback: %v", err)
	}
	open.Close()
}

// TestGarbageConnection: connections that send garbage, before or after
// the handshake, are closed and counted; a resolver beside them goes on.
func TestGarbageConnection(t *testing.T) {
	st := &Stats{}
	col := newCollector(t, st)
	path := filepath.Join(t.TempDir(), "g.sock")
	srv, err := ListenUnix(context.Background(), path, col.handle, WithStats(st), HandshakeTimeout(time.Second), quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()

	garbage, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer garbage.Close()
	garbage.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))

	bad, err := net.Dial("unix", path) // a good handshake, then a frame of junk
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()
	fw, err := framestream.NewWriter(bad, &framestream.WriterOptions{
		ContentTypes: [][]byte{tap.FSContentType}, Bidirectional: true, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	fw.WriteFrame([]byte("\xff\xff\xff not protobuf"))
	fw.Flush()

	sendFrames(t, "unix", path, testFrames(t, 10))
	checkFor(t, 5*time.Second, "10 records", func() bool { return col.count() == 10 })
	for _, c := range []net.Conn{garbage, bad} {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.ReadAll(c); err != nil {
			t.Errorf("garbage connection not closed by the server: %v", err)
		}
	}
	checkFor(t, 5*time.Second, "counts", func() bool {
		s := st.Snapshot()
		return s.Malformed["handshake"] == 1 && s.Malformed["protobuf"] == 1 && s.Active == 0
	})
}

func TestMaxConnections(t *testing.T) {
	st := &Stats{}
	path := filepath.Join(t.TempDir(), "m.sock")
	srv, err := ListenUnix(context.Background(), path, func(*Message) {}, MaxConnections(1), WithStats(st), quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	first, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	checkFor(t, 5*time.Second, "first connection", func() bool { return st.Snapshot().Active == 1 })
	second, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	second.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadAll(second); err != nil {
		t.Errorf("second connection not closed: %v", err)
	}
	if s := st.Snapshot(); s.Refused != 1 {
		t.Errorf("Refused = %d, want 1", s.Refused)
	}
}

// TestReadFile writes a file with golang-dnstap's file output, the one
// 'dnstap -w' uses, and reads it back.
func TestReadFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "capture.fstrm")
	out, err := tap.NewFrameStreamOutputFromFilename(path)
	if err != nil {
		t.Fatal(err)
	}
	go out.RunOutputLoop()
	frames := testFrames(t, 30)
	for _, f := range frames[:15] {
		out.GetOutputChannel() <- f
	}
	out.GetOutputChannel() <- []byte("junk frame") // skipped and counted; the file goes on
	for _, f := range frames[15:] {
		out.GetOutputChannel() <- f
	}
	out.Close()

	st := &Stats{}
	col := newCollector(t, st)
	if err := ReadFile(context.Background(), path, col.handle, WithStats(st), quiet); err != nil {
		t.Fatal(err)
	}
	if col.count() != 30 {
		t.Errorf("got %d records, want 30", col.count())
	}
	checkNoSecrets(t, col.all())
	if s := st.Snapshot(); s.Frames != 31 || s.Malformed["protobuf"] != 1 {
		t.Errorf("stats = %+v", s)
	}

	err = ReadStream(context.Background(), bytes.NewReader([]byte("not a frame stream")), col.handle, quiet)
	if !errors.Is(err, ErrMalformed) {
		t.Errorf("ReadStream(garbage) = %v, want ErrMalformed", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := ReadFile(ctx, path, col.handle, quiet); !errors.Is(err, context.Canceled) {
		t.Errorf("ReadFile(cancelled) = %v", err)
	}
}

func TestOptions(t *testing.T) {
	for _, opt := range []Option{SocketMode(0), SocketMode(os.ModeSetuid | 0o600), MaxFrameBytes(10),
		HandshakeTimeout(0), MaxConnections(0), WithStats(nil), WithLogger(nil)} {
		if _, err := NewConverter(opt); !errors.Is(err, ErrInvalidOption) {
			t.Errorf("err = %v, want ErrInvalidOption", err)
		}
	}
}
