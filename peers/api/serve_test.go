package api

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cofswitch/cofswitch/peers/db"
	"github.com/cofswitch/cofswitch/peers/db/dbtest"
)

// serve runs s.Serve on a loopback listener (wrapped by wrap, if given)
// until the test ends, and returns the address.
func serve(t *testing.T, s *Server, wrap func(net.Listener) net.Listener) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if wrap != nil {
		ln = wrap(ln)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return addr
}

func newServer(t *testing.T, store db.Store, opts ...Option) *Server {
	t.Helper()
	s, err := New(store, testCreds(t), append([]Option{WithLogger(discard)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// keyedRequest sends a keyed rate_limit request on a raw connection and
// reads the answer, leaving the connection open (keep-alive).
func keyedRequest(t *testing.T, c net.Conn, br *bufio.Reader) {
	t.Helper()
	if _, err := io.WriteString(c, "GET /dnsdb/v2/rate_limit HTTP/1.1\r\nHost: x\r\nX-Api-Key: k3y\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
}

// TestConnectionTimeouts: a keep-alive connection left idle is closed
// after the idle timeout, one that never sends its headers after the
// header timeout (300 idle connections used to stay open 70 s).
func TestConnectionTimeouts(t *testing.T) {
	store := dbtest.New(t)
	tests := []struct {
		name     string
		timeouts Timeouts
		request  bool
		closed   time.Duration // expected time to close, from the last answer or the connect
	}{
		{name: "idle after an answer", timeouts: Timeouts{Idle: 300 * time.Millisecond, ReadHeader: 10 * time.Second}, request: true, closed: 300 * time.Millisecond},
		{name: "silent from the connect", timeouts: Timeouts{Idle: 10 * time.Second, ReadHeader: 300 * time.Millisecond}, closed: 300 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := serve(t, newServer(t, store, WithTimeouts(tt.timeouts)), nil)
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			br := bufio.NewReader(c)
			if tt.request {
				keyedRequest(t, c, br)
			}
			start := time.Now()
			_ = c.SetReadDeadline(start.Add(5 * time.Second))
			_, err = br.ReadByte()
			took := time.Since(start)
			if !errors.Is(err, io.EOF) || took < tt.closed*2/3 || took > 3*time.Second {
				t.Errorf("read after %v: %v; want EOF after about %v", took, err, tt.closed)
			}
		})
	}
}

// TestMaxConns: with the cap reached by idle connections, the next one
// waits to be accepted; once an idle one goes (closed by its client, or
// by the idle timeout), a keyed request is answered.
func TestMaxConns(t *testing.T) {
	store := dbtest.New(t)
	tests := []struct {
		name     string
		idle     time.Duration
		closeOne bool
		waits    time.Duration // the third connection is not served for this long
	}{
		{name: "a client closes an idle connection", idle: 30 * time.Second, closeOne: true, waits: 500 * time.Millisecond},
		{name: "the idle timeout closes them", idle: time.Second, waits: 500 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := serve(t, newServer(t, store, WithMaxConns(2), WithTimeouts(Timeouts{Idle: tt.idle})), nil)
			var idle []net.Conn
			for range 2 {
				c, err := net.Dial("tcp", addr)
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				keyedRequest(t, c, bufio.NewReader(c)) // accepted, now idle
				idle = append(idle, c)
			}
			answered := make(chan int, 1)
			go func() {
				client := &http.Client{Transport: &http.Transport{}, Timeout: 20 * time.Second}
				req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/dnsdb/v2/lookup/rrset/name/x", nil)
				req.Header.Set("X-Api-Key", "k3y")
				resp, err := client.Do(req)
				if err != nil {
					answered <- -1
					return
				}
				resp.Body.Close()
				answered <- resp.StatusCode
			}()
			select {
			case code := <-answered:
				t.Fatalf("the third connection was served (%d) while two were open under a cap of 2", code)
			case <-time.After(tt.waits):
			}
			if tt.closeOne {
				idle[0].Close()
			}
			select {
			case code := <-answered:
				if code != http.StatusOK {
					t.Errorf("keyed request: %d", code)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("the keyed request was not served after an idle connection went")
			}
		})
	}
}

// smallBuffers shrinks the socket send buffer of accepted connections, so
// that an answer cannot hide in the kernel and the write deadline matters.
type smallBuffers struct{ net.Listener }

func (l smallBuffers) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetWriteBuffer(32 << 10)
	}
	return c, err
}

// TestLongAnswer: a large SAF answer (about 11 MB) to a client reading it
// slowly but steadily completes, though it takes several write timeouts;
// a client that stops reading for longer than the write timeout is cut
// off.
func TestLongAnswer(t *testing.T) {
	const writeTimeout = 300 * time.Millisecond
	store := bigStore(t, 10000, 1000)
	s := newServer(t, store, WithTimeouts(Timeouts{Write: writeTimeout}))
	addr := serve(t, s, func(ln net.Listener) net.Listener { return smallBuffers{ln} })
	tests := []struct {
		name     string
		pause    time.Duration // between reads
		stallAt  int           // bytes read before one long stall (0: none)
		complete bool
	}{
		{name: "slow, steady reader", pause: 2 * time.Millisecond, complete: true},
		{name: "reader that stalls", stallAt: 64 << 10, complete: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			_ = c.(*net.TCPConn).SetReadBuffer(32 << 10)
			_, _ = io.WriteString(c, "GET /dnsdb/v2/lookup/rrset/name/%2A.big.example HTTP/1.1\r\nHost: x\r\nX-Api-Key: k3y\r\nConnection: close\r\n\r\n")
			start := time.Now()
			var got strings.Builder
			buf := make([]byte, 8192)
			stalled := false
			_ = c.SetReadDeadline(start.Add(30 * time.Second))
			for {
				n, err := c.Read(buf)
				got.Write(buf[:n])
				if err != nil {
					break
				}
				time.Sleep(tt.pause)
				if tt.stallAt > 0 && !stalled && got.Len() >= tt.stallAt {
					stalled = true
					time.Sleep(3 * writeTimeout)
				}
			}
			took := time.Since(start)
			complete := strings.HasSuffix(got.String(), "{\"cond\":\"succeeded\"}\n\r\n0\r\n\r\n")
			if complete != tt.complete {
				t.Errorf("complete = %v after %d bytes in %v, want %v", complete, got.Len(), took, tt.complete)
			}
			if tt.complete && took < 2*writeTimeout {
				t.Errorf("the answer took %v, under two write timeouts: the test proves nothing", took)
			}
		})
	}
}

// TestServeStops: Serve returns nil when its context ends, and an error
// when its listener fails.
func TestServeStops(t *testing.T) {
	store := dbtest.New(t)
	s := newServer(t, store)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	if code, _, _ := do(t, http.DefaultClient, "http://"+ln.Addr().String()+"/dnsdb/v2/rate_limit", key); code != http.StatusOK {
		t.Fatalf("status %d", code)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve after cancel: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after cancel")
	}
	ln2, _ := net.Listen("tcp", "127.0.0.1:0")
	ln2.Close()
	if err := s.Serve(context.Background(), ln2); err == nil {
		t.Error("Serve on a closed listener returned nil")
	}
}
