// Package ops serves the operator's HTTP endpoints of a cofswitch process:
// Prometheus metrics from the collectors a process registers, with the Go,
// process and build-info collectors, /healthz (the process answers) and
// /readyz (the process's own readiness check). It imports no other
// cofswitch package; each process (the switch, a sink, a database) hands it
// its own collectors and check.
package ops

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// readHeaderTimeout bounds a client that opens a connection and sends
// nothing.
const readHeaderTimeout = 5 * time.Second

// Server is a running metrics endpoint.
type Server struct {
	srv *http.Server
	mux *http.ServeMux
	url string
	// warnings, when set, are listed by /readyz below its verdict.
	warnings atomic.Pointer[func() []string]
}

// ReadyFunc says whether a process can do its work; the error says why
// not. It is given a few seconds.
type ReadyFunc func(ctx context.Context) error

// readyTimeout bounds one readiness check.
const readyTimeout = 3 * time.Second

// Serve listens on addr and serves, until Close: /metrics with cs and the
// Go, process and build-info collectors; /healthz, 200 while the process
// answers; /readyz, 200 when ready (nil: always) and 503 with the reason
// otherwise.
func Serve(addr string, log *slog.Logger, ready ReadyFunc, cs ...prometheus.Collector) (*Server, error) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		collectors.NewBuildInfoCollector())
	if err := registerAll(reg, cs); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("ops: %w", err)
	}
	s := &Server{url: "http://" + ln.Addr().String() + "/metrics"}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) { s.readyz(w, r, ready) })
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: readHeaderTimeout, IdleTimeout: time.Minute}
	s.mux = mux
	go func() { _ = s.srv.Serve(ln) }()
	if log != nil {
		log.Info("metrics served", "url", s.url)
	}
	return s, nil
}

// readyz answers 200 "ready" or 503 "not ready: why", then one
// "warning: ..." line per warning: what an operator should look at that
// does not stop the process from working (a silent sensor, a peer falling
// behind), so a load balancer keeps it while a human reading it is told.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request, ready ReadyFunc) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	verdict, code := "ready", http.StatusOK
	if ready != nil {
		ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
		defer cancel()
		if err := ready(ctx); err != nil {
			verdict, code = "not ready: "+err.Error(), http.StatusServiceUnavailable
		}
	}
	w.WriteHeader(code)
	fmt.Fprintln(w, verdict)
	if f := s.warnings.Load(); f != nil {
		for _, line := range (*f)() {
			fmt.Fprintln(w, "warning:", line)
		}
	}
}

// SetWarnings has /readyz list what f returns below its verdict, without
// changing its status code.
func (s *Server) SetWarnings(f func() []string) { s.warnings.Store(&f) }

func registerAll(reg *prometheus.Registry, cs []prometheus.Collector) error {
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("ops: registering a collector: %w", err)
		}
	}
	return nil
}

// Handle adds a page of the process's own (a status page, say) beside
// /metrics, on the same loopback-by-default listener. It may be called
// while serving.
func (s *Server) Handle(pattern string, h http.Handler) { s.mux.Handle(pattern, h) }

// URL is the metrics endpoint's address.
func (s *Server) URL() string { return s.url }

// Close stops serving.
func (s *Server) Close() error { return s.srv.Close() }
