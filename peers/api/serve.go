package api

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"golang.org/x/net/netutil"
)

// Defaults of the query server's connections.
const (
	// DefaultReadHeaderTimeout bounds the wait for a request's headers
	// on a new connection.
	DefaultReadHeaderTimeout = 10 * time.Second
	// DefaultReadTimeout bounds reading a whole request (the queries are
	// GETs: headers only).
	DefaultReadTimeout = 30 * time.Second
	// DefaultWriteTimeout bounds an answer's wait for the client to read:
	// it runs from the last progress, not from the start of the answer
	// (see answerWriter), so a long answer to a client that keeps reading
	// completes, and a client that stops reading is cut off.
	DefaultWriteTimeout = 60 * time.Second
	// DefaultIdleTimeout closes a keep-alive connection this long after
	// its last answer.
	DefaultIdleTimeout = 30 * time.Second
	// DefaultMaxConns caps the connections served at once; more wait in
	// the listen backlog. It is far below the usual file limit, which then
	// stays for the store, NATS and PostgreSQL.
	DefaultMaxConns = 256
	// maxHeaderBytes bounds a request's headers (Go's default is 1 MiB;
	// a query needs a few hundred bytes).
	maxHeaderBytes = 64 << 10
	// shutdownGrace is how long answers under way may finish at shutdown.
	shutdownGrace = 5 * time.Second
	// answerBuffer is how much of an answer is sent at once; each send
	// pushes the write deadline.
	answerBuffer = 32 << 10
)

// Timeouts bound the parts of a connection's life.
type Timeouts struct {
	ReadHeader time.Duration // a request's headers, from accept or the end of the last answer
	Read       time.Duration // a whole request
	Write      time.Duration // an answer without progress (see DefaultWriteTimeout)
	Idle       time.Duration // a keep-alive connection between requests
}

var defaultTimeouts = Timeouts{
	ReadHeader: DefaultReadHeaderTimeout, Read: DefaultReadTimeout,
	Write: DefaultWriteTimeout, Idle: DefaultIdleTimeout,
}

// withDefaults fills t's zero fields from d.
func (t Timeouts) withDefaults(d Timeouts) Timeouts {
	for _, f := range []struct{ dst, dflt *time.Duration }{
		{&t.ReadHeader, &d.ReadHeader}, {&t.Read, &d.Read}, {&t.Write, &d.Write}, {&t.Idle, &d.Idle},
	} {
		if *f.dst == 0 {
			*f.dst = *f.dflt
		}
	}
	return t
}

// HTTPServer returns an http.Server of the handler with the server's
// timeouts. Serve uses it; it is exported for callers that run their own
// listener (the connection cap is Serve's).
func (s *Server) HTTPServer() *http.Server {
	return &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: s.timeouts.ReadHeader,
		ReadTimeout:       s.timeouts.Read,
		WriteTimeout:      s.timeouts.Write,
		IdleTimeout:       s.timeouts.Idle,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
}

// Serve answers on ln, at most MaxConns connections at once, until ctx is
// done; then it lets the answers under way finish (for up to 5 s) and
// returns nil. It also writes the failed-login counts every
// DefaultLoginLogEvery. It returns an error if ln fails.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	if s.maxConns > 0 {
		ln = netutil.LimitListener(ln, s.maxConns)
	}
	hs := s.HTTPServer()
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()
	tick := time.NewTicker(s.guard.logEvery)
	defer tick.Stop()
	defer func() { s.guard.close(s.now()) }()
	for {
		select {
		case <-tick.C:
			s.guard.flush(s.now())
		case err := <-served:
			return fmt.Errorf("api: serve: %w", err)
		case <-ctx.Done():
			sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
			defer cancel()
			if err := hs.Shutdown(sctx); err != nil {
				_ = hs.Close()
			}
			if err := <-served; !errors.Is(err, http.ErrServerClosed) {
				return fmt.Errorf("api: serve: %w", err)
			}
			return nil
		}
	}
}

// answerWriter sends an answer in answerBuffer chunks and, before each,
// pushes the connection's write deadline Timeouts.Write ahead. The
// server's WriteTimeout alone would cut a large answer (10,000 rrsets are
// a few MB) to a slow but steady client; this way the timeout bounds a
// stall, not the whole answer.
type answerWriter struct {
	w       http.ResponseWriter
	rc      *http.ResponseController
	timeout time.Duration
}

func (a *answerWriter) Write(p []byte) (int, error) {
	if a.timeout > 0 {
		// ErrNotSupported (a writer without deadlines) leaves the
		// server's own deadline in place.
		_ = a.rc.SetWriteDeadline(time.Now().Add(a.timeout))
	}
	return a.w.Write(p)
}

// answer returns a buffered writer of w that keeps a long answer alive
// while the client reads it.
func (s *Server) answer(w http.ResponseWriter) *bufio.Writer {
	return bufio.NewWriterSize(&answerWriter{w: w, rc: http.NewResponseController(w), timeout: s.timeouts.Write}, answerBuffer)
}
