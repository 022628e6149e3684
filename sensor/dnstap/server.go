package dnstap

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sync"
	"syscall"
	"time"
)

// Server accepts Frame Streams connections from resolvers (Unbound, Knot
// Resolver, BIND, PowerDNS Recursor) on a unix socket or a TCP address,
// does the bidirectional handshake with each, and hands every message to
// its Handler. A connection that sends garbage, or a frame that is no
// dnstap message, is closed and counted; the others go on.
type Server struct {
	ln   net.Listener
	path string // the unix socket file, "" for TCP
	o    options
	h    Handler
	log  *rateLog

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	done   chan struct{}

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool // no connection is taken any more
}

// ListenUnix listens on a unix socket at path, created with SocketMode
// (0660 by default) and removed by Close. A socket file left by a process
// that died is replaced; one on which a process listens is not
// (ErrSocketInUse), nor is a file that is no socket (ErrNotSocket). The
// server runs until ctx is done or Close is called. Options:
// SocketMode, MaxFrameBytes, HandshakeTimeout, MaxConnections, WithStats,
// WithLogger.
func ListenUnix(ctx context.Context, path string, h Handler, opts ...Option) (*Server, error) {
	o, err := buildOptions(opts)
	if err != nil {
		return nil, err
	}
	if err := clearStaleSocket(path); err != nil {
		return nil, err
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("dnstap: listen on %s: %w", path, err)
	}
	if err := os.Chmod(path, o.socketMode); err != nil {
		ln.Close()
		return nil, fmt.Errorf("dnstap: socket mode: %w", err)
	}
	return serve(ctx, ln, path, h, o), nil
}

// clearStaleSocket removes a socket file at path that nothing listens on.
func clearStaleSocket(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("dnstap: %w", err)
	}
	if fi.Mode().Type() != fs.ModeSocket {
		return fmt.Errorf("%w: %s", ErrNotSocket, path)
	}
	c, err := net.DialTimeout("unix", path, time.Second)
	if err == nil {
		c.Close()
		return fmt.Errorf("%w: %s", ErrSocketInUse, path)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		return fmt.Errorf("dnstap: probe %s: %w", path, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("dnstap: remove stale socket: %w", err)
	}
	return nil
}

// ListenTCP listens on a TCP address, a loopback address unless
// AllowNonLoopback is given: dnstap has no authentication. Use port 0 for
// any free port and Addr to learn it. Options: AllowNonLoopback,
// MaxFrameBytes, HandshakeTimeout, MaxConnections, WithStats, WithLogger.
func ListenTCP(ctx context.Context, addr string, h Handler, opts ...Option) (*Server, error) {
	o, err := buildOptions(opts)
	if err != nil {
		return nil, err
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("dnstap: %w", err)
	}
	if !o.allowNonLoopback && !isLoopback(host) {
		return nil, fmt.Errorf("%w: %q (see AllowNonLoopback)", ErrNotLoopback, addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("dnstap: listen on %s: %w", addr, err)
	}
	return serve(ctx, ln, "", h, o), nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}

func serve(ctx context.Context, ln net.Listener, path string, h Handler, o options) *Server {
	s := &Server{
		ln: ln, path: path, o: o, h: h,
		log:   newRateLog(&o, "dnstap: malformed input on connections"),
		done:  make(chan struct{}),
		conns: map[net.Conn]struct{}{},
	}
	s.ctx, s.cancel = context.WithCancel(ctx)
	s.wg.Add(1)
	go s.accept()
	go func() {
		<-s.ctx.Done()
		ln.Close() // a unix listener removes its socket file
		s.closeConns()
		s.wg.Wait()
		s.log.flush()
		close(s.done)
	}()
	o.log.Info("dnstap: listening", "addr", ln.Addr().String())
	return s
}

// Addr returns the address the server listens on.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Done is closed when the server has stopped: every connection closed,
// every Handler call returned and the socket file removed.
func (s *Server) Done() <-chan struct{} { return s.done }

// Close stops the server and waits until it has stopped.
func (s *Server) Close() error {
	s.cancel()
	<-s.done
	return nil
}

func (s *Server) accept() {
	defer s.wg.Done()
	delay := 5 * time.Millisecond
	for {
		c, err := s.ln.Accept()
		if err != nil {
			if s.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			s.o.log.Warn("dnstap: accept", "err", err)
			select { // out of file descriptors and the like: back off
			case <-time.After(delay):
			case <-s.ctx.Done():
				return
			}
			delay = min(2*delay, time.Second)
			continue
		}
		delay = 5 * time.Millisecond
		if !s.track(c) {
			c.Close()
			continue
		}
		s.wg.Add(1)
		go s.serveConn(c)
	}
}

// track registers c, unless the server is full or closing.
func (s *Server) track(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	if len(s.conns) >= s.o.maxConnections {
		s.o.stats.refused.Add(1)
		return false
	}
	s.conns[c] = struct{}{}
	s.o.stats.connections.Add(1)
	s.o.stats.active.Add(1)
	return true
}

func (s *Server) closeConns() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	for c := range s.conns {
		c.Close()
	}
}

func (s *Server) serveConn(c net.Conn) {
	defer s.wg.Done()
	defer func() {
		c.Close()
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		s.o.stats.active.Add(-1)
	}()
	fr := &frameReader{o: &s.o, log: s.log, h: s.h, dropOnBad: true}
	r, err := fr.open(c, true)
	if err != nil {
		s.o.log.Debug("dnstap: handshake failed", "err", err)
		return
	}
	s.o.log.Debug("dnstap: connection open", "local", c.LocalAddr().String())
	err = fr.run(s.ctx, r)
	s.o.log.Debug("dnstap: connection closed", "local", c.LocalAddr().String(), slog.Any("err", err))
}
