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
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {
		if ready != nil {
			ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
			defer cancel()
			if err := ready(ctx); err != nil {
				http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
				return
			}
		}
		fmt.Fprintln(w, "ready")
	})
	s := &Server{
		srv: &http.Server{Handler: mux, ReadHeaderTimeout: readHeaderTimeout, IdleTimeout: time.Minute},
		mux: mux,
		url: "http://" + ln.Addr().String() + "/metrics",
	}
	go func() { _ = s.srv.Serve(ln) }()
	if log != nil {
		log.Info("metrics served", "url", s.url)
	}
	return s, nil
}

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
