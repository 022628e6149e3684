// Package ops serves the operator's HTTP endpoints of a cofswitch process:
// Prometheus metrics from the collectors a process registers, with the Go
// and process collectors. It imports no other cofswitch package; each
// process (the switch, a sink, a database) hands it its own collectors.
package ops

import (
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
	url string
}

// Serve listens on addr and serves /metrics with cs and the Go and
// process collectors, until Close.
func Serve(addr string, log *slog.Logger, cs ...prometheus.Collector) (*Server, error) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if err := registerAll(reg, cs); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("ops: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	s := &Server{
		srv: &http.Server{Handler: mux, ReadHeaderTimeout: readHeaderTimeout, IdleTimeout: time.Minute},
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

// URL is the metrics endpoint's address.
func (s *Server) URL() string { return s.url }

// Close stops serving.
func (s *Server) Close() error { return s.srv.Close() }
