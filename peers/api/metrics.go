package api

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// The APIs a request is counted under (label api): a fixed set, taken
// from the path's first segment, never from the query.
const (
	apiDNSDB = "dnsdb"
	apiCIRCL = "circl"
	apiOther = "other" // any path outside both APIs
)

// The outcomes a request is counted under (label outcome).
const (
	outcomeOK           = "ok"
	outcomeNotFound     = "not_found"
	outcomeBadRequest   = "bad_request"
	outcomeUnauthorized = "unauthorized"
	outcomeRateLimited  = "rate_limited"
	outcomeError        = "error"
	outcomeTimeout      = "timeout"
)

var (
	apiLabels     = []string{apiDNSDB, apiCIRCL, apiOther}
	outcomeLabels = []string{outcomeOK, outcomeNotFound, outcomeBadRequest, outcomeUnauthorized,
		outcomeRateLimited, outcomeError, outcomeTimeout}
)

// queryBuckets span a lookup in memory (a millisecond) to a large answer
// to a slow reader.
var queryBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}

// Metrics counts the requests a Server answers (namespace cofswitch,
// subsystem db): queries_total by api and outcome, and
// query_duration_seconds by api. Its labels take a fixed set of values;
// no name, key or user is ever a label. It is a prometheus.Collector.
type Metrics struct {
	queries  *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

// NewMetrics returns Metrics with every api and outcome at zero, so that
// rates and alerts see the series before the first request.
func NewMetrics() *Metrics {
	m := &Metrics{
		queries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "cofswitch", Subsystem: "db", Name: "queries_total",
			Help: "Requests to the query APIs, by api (dnsdb, circl, other) and outcome (ok, not_found, bad_request, unauthorized, rate_limited, error, timeout).",
		}, []string{"api", "outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "cofswitch", Subsystem: "db", Name: "query_duration_seconds",
			Help:    "Time from a request's headers to the end of its answer, by api.",
			Buckets: queryBuckets,
		}, []string{"api"}),
	}
	for _, a := range apiLabels {
		m.duration.WithLabelValues(a)
		for _, o := range outcomeLabels {
			m.queries.WithLabelValues(a, o)
		}
	}
	return m
}

// Describe sends the descriptors.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	m.queries.Describe(ch)
	m.duration.Describe(ch)
}

// Collect sends the current values.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	m.queries.Collect(ch)
	m.duration.Collect(ch)
}

// WithMetrics counts the server's requests in m (default: Metrics of the
// server's own, which nothing exports).
func WithMetrics(m *Metrics) Option {
	return func(o *options) error {
		if m == nil {
			return fmt.Errorf("%w: nil metrics", ErrInvalidOption)
		}
		o.metrics = m
		return nil
	}
}

// instrument counts and times every request next answers.
func (m *Metrics) instrument(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &recorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		api := apiOf(r.URL.Path)
		m.queries.WithLabelValues(api, rec.outcome(r.Context())).Inc()
		m.duration.WithLabelValues(api).Observe(time.Since(start).Seconds())
	})
}

func apiOf(path string) string {
	switch {
	case strings.HasPrefix(path, "/dnsdb/"):
		return apiDNSDB
	case strings.HasPrefix(path, "/pdns/"):
		return apiCIRCL
	}
	return apiOther
}

// recorder remembers what a handler answered: the status, whether the
// answer was empty (a lookup that matched nothing), and a failed write.
type recorder struct {
	http.ResponseWriter
	status   int
	empty    bool
	writeErr error
}

func (rec *recorder) WriteHeader(code int) {
	if rec.status == 0 {
		rec.status = code
	}
	rec.ResponseWriter.WriteHeader(code)
}

func (rec *recorder) Write(p []byte) (int, error) {
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	n, err := rec.ResponseWriter.Write(p)
	if err != nil && rec.writeErr == nil {
		rec.writeErr = err
	}
	return n, err
}

// Unwrap lets http.ResponseController reach the connection (the answer's
// write deadlines).
func (rec *recorder) Unwrap() http.ResponseWriter { return rec.ResponseWriter }

// notFound marks an answer that holds no match: counted as not_found,
// though it is a 200 (DNSDB's SAF and CIRCL answer an empty result so).
func notFound(w http.ResponseWriter) {
	if rec, ok := w.(*recorder); ok {
		rec.empty = true
	}
}

// outcome maps what was answered to an outcome label. An answer cut off
// because the client stopped reading (a write deadline) or gave up (its
// request's context ended) is a timeout, whatever its status.
func (rec *recorder) outcome(ctx context.Context) string {
	var ne net.Error
	switch {
	case errors.Is(rec.writeErr, os.ErrDeadlineExceeded), errors.As(rec.writeErr, &ne) && ne.Timeout(), ctx.Err() != nil:
		return outcomeTimeout
	case rec.status == 0:
		return outcomeOf(http.StatusOK, rec.empty) // nothing written: net/http sends 200
	}
	return outcomeOf(rec.status, rec.empty)
}

// outcomeOf maps an HTTP status to an outcome label.
func outcomeOf(status int, empty bool) string {
	switch {
	case status < 400 && empty:
		return outcomeNotFound
	case status < 400:
		return outcomeOK
	case status == http.StatusUnauthorized, status == http.StatusForbidden:
		return outcomeUnauthorized
	case status == http.StatusNotFound:
		return outcomeNotFound
	case status == http.StatusTooManyRequests:
		return outcomeRateLimited
	case status == http.StatusRequestTimeout, status == http.StatusGatewayTimeout:
		return outcomeTimeout
	case status < 500:
		return outcomeBadRequest
	}
	return outcomeError
}
