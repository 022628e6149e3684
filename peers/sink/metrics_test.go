package sink_test

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cofswitch/cofswitch/peers/sink"
)

// attempts reads retries_total and the number of timed attempts by
// outcome from m.
func attempts(t *testing.T, m *sink.Metrics) (retries float64, timed map[string]uint64) {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(m)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	timed = map[string]uint64{}
	for _, mf := range mfs {
		for _, mt := range mf.GetMetric() {
			switch mf.GetName() {
			case "cofswitch_sink_retries_total":
				retries = mt.GetCounter().GetValue()
			case "cofswitch_sink_destination_duration_seconds":
				timed[mt.GetLabel()[0].GetValue()] = mt.GetHistogram().GetSampleCount()
			}
		}
	}
	return retries, timed
}

// TestHTTPSinkMetricsRefusedThenAccepted: a receiver answers 503 three
// times, then accepts. Each request is timed by outcome; each failed one
// is retried (two within the sink's deliveries, one by the Runner).
func TestHTTPSinkMetricsRefusedThenAccepted(t *testing.T) {
	cons := peerStream(t, 1, 3)
	var requests atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if requests.Add(1) <= 3 {
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	m := sink.NewMetrics()
	s, err := sink.Open(srv.URL, sink.Options{HTTP: sink.HTTPOptions{Attempts: 2, Backoff: time.Millisecond}, Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	r := &sink.Runner{Consumer: cons, Stream: "PEER_p", Sink: s, Log: slog.New(slog.DiscardHandler), Backoff: time.Millisecond, Metrics: m}
	run(t, r, func() bool { return r.Stats().Batches == 1 })
	retries, timed := attempts(t, m)
	if retries != 3 || timed["refused"] != 3 || timed["ok"] != 1 || timed["error"] != 0 {
		t.Errorf("retries %v, attempts by outcome %v; want 3 retries, 3 refused, 1 ok", retries, timed)
	}
	if err := sink.Ready(t.Context(), s); err != nil {
		t.Errorf("Ready = %v: the destination answers", err)
	}
}

// TestHTTPSinkUnreachableThenListening: nothing listens at first, so the
// sink is not ready (by a probe, then by its failed attempts, timed as
// errors); once a server listens there the batch is delivered and the
// sink is ready again.
func TestHTTPSinkUnreachableThenListening(t *testing.T) {
	cons := peerStream(t, 1, 3)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	m := sink.NewMetrics()
	s, err := sink.Open("http://"+addr+"/ingest", sink.Options{HTTP: sink.HTTPOptions{Attempts: 2, Backoff: time.Millisecond}, Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	if err := sink.Ready(t.Context(), s); err == nil || !strings.Contains(err.Error(), "unreachable") {
		t.Fatalf("Ready = %v before any attempt, nothing listening", err)
	}
	r := &sink.Runner{Consumer: cons, Stream: "PEER_p", Sink: s, Log: slog.New(slog.DiscardHandler), Backoff: 50 * time.Millisecond, Metrics: m}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan struct{})
	go func() { _ = r.Run(ctx); close(done) }()
	waitFor(t, "failed attempts", func() bool { _, timed := attempts(t, m); return timed["error"] >= 2 })
	if err := sink.Ready(t.Context(), s); err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("Ready = %v after failed attempts, want the connection error", err)
	}
	ln, err = net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("the port was taken meanwhile: %v", err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	waitFor(t, "the delivery", func() bool { return r.Stats().Batches == 1 })
	cancel()
	<-done
	retries, timed := attempts(t, m)
	if timed["ok"] != 1 || timed["refused"] != 0 || retries != float64(timed["error"]) {
		t.Errorf("retries %v, attempts by outcome %v; want 1 ok and a retry per error", retries, timed)
	}
	if err := sink.Ready(t.Context(), s); err != nil {
		t.Errorf("Ready = %v after a delivery", err)
	}
}

// TestFileSinkReadyAndTimed: a file sink is ready while its directory
// takes a write, and not once the directory is gone; each delivery is
// timed.
func TestFileSinkReadyAndTimed(t *testing.T) {
	dir := t.TempDir() + "/feed"
	m := sink.NewMetrics()
	s, err := sink.Open("file:"+dir, sink.Options{Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := sink.Ready(t.Context(), s); err != nil {
		t.Fatalf("Ready = %v", err)
	}
	for range 2 {
		if err := s.Deliver(t.Context(), sink.Batch{Key: "k", Body: []byte("{}\n"), Records: 1}); err != nil {
			t.Fatal(err)
		}
	}
	if _, timed := attempts(t, m); timed["ok"] != 2 {
		t.Errorf("attempts by outcome %v, want 2 ok", timed)
	}
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := sink.Ready(t.Context(), s); err == nil || !strings.Contains(err.Error(), "not writable") {
		t.Errorf("Ready = %v with the directory gone", err)
	}
	if err := sink.Ready(t.Context(), sink.NewWriter(os.Stdout)); err != nil {
		t.Errorf("stdout: Ready = %v", err)
	}
}

func waitFor(t *testing.T, what string, done func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !done() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
