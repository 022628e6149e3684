package ingest_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/cofswitch/cofswitch/peers/db/dbtest"
	"github.com/cofswitch/cofswitch/peers/db/ingest"
	"github.com/cofswitch/cofswitch/routing"
)

// sampleCount reads a histogram's number of observations from c.
func sampleCount(t *testing.T, c prometheus.Collector, name string) uint64 {
	t.Helper()
	return uint64(gather(t, c, name, true))
}

// counter reads a counter's value from c.
func counter(t *testing.T, c prometheus.Collector, name string) float64 {
	t.Helper()
	return gather(t, c, name, false)
}

// gather reads the one metric named name from c through a pedantic
// registry: a counter's value, or a histogram's sample count.
func gather(t *testing.T, c prometheus.Collector, name string, histogram bool) float64 {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		if histogram {
			return float64(mf.GetMetric()[0].GetHistogram().GetSampleCount())
		}
		return mf.GetMetric()[0].GetCounter().GetValue()
	}
	t.Fatalf("no %s", name)
	return 0
}

// durable makes another durable consumer of the peer's stream.
func durable(t *testing.T, js jetstream.JetStream, name string) jetstream.Consumer {
	t.Helper()
	cons, err := js.CreateOrUpdateConsumer(t.Context(), routing.PeerStream("p"), jetstream.ConsumerConfig{Durable: name, AckPolicy: jetstream.AckExplicitPolicy})
	if err != nil {
		t.Fatal(err)
	}
	return cons
}

// TestIngesterMetrics: the applied batches and records are counted once
// (a redelivery adds nothing), and the durable step is timed: each
// snapshot of the embedded store, or each batch of a store without one.
func TestIngesterMetrics(t *testing.T) {
	tests := []struct {
		name     string
		snapshot bool
	}{
		{name: "snapshots", snapshot: true},
		{name: "a commit per batch", snapshot: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			js, cons := feedOf(t, 6, 10)
			mem := dbtest.New(t)
			m := ingest.NewMetrics()
			var saves atomic.Int64
			in := &ingest.Ingester{Consumer: cons, Stream: routing.PeerStream("p"), Store: mem, Every: 20 * time.Millisecond, Metrics: m}
			if tt.snapshot {
				in.Save = func() error { saves.Add(1); return nil }
			}
			runFor(t, in, func() bool { return in.Stats().Batches == 6 && in.Stats().Checkpoints > 0 })
			// Another consumer delivers the same batches again: all skipped.
			cons2 := durable(t, js, "again")
			runFor(t, &ingest.Ingester{Consumer: cons2, Stream: routing.PeerStream("p"), Store: mem, Every: 20 * time.Millisecond, Metrics: m},
				func() bool {
					ci, _ := cons2.Info(t.Context())
					return ci != nil && ci.NumPending == 0 && ci.NumAckPending == 0
				})
			records, batches := counter(t, m, "cofswitch_db_records_applied_total"), counter(t, m, "cofswitch_db_batches_applied_total")
			if records != 60 || batches != 6 {
				t.Errorf("records_applied_total %v, batches_applied_total %v; want 60 and 6", records, batches)
			}
			want := uint64(6)
			if tt.snapshot {
				want = uint64(saves.Load())
			}
			if got := sampleCount(t, m, "cofswitch_db_checkpoint_duration_seconds"); got != want || got == 0 {
				t.Errorf("checkpoint_duration_seconds counted %d durable steps, want %d", got, want)
			}
		})
	}
}

// runFor runs in until done, then stops it.
func runFor(t *testing.T, in *ingest.Ingester, done func() bool) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	finished := make(chan error, 1)
	go func() { finished <- in.Run(ctx) }()
	deadline := time.Now().Add(10 * time.Second)
	for !done() {
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("timed out; stats %+v", in.Stats())
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if err := <-finished; err != nil {
		t.Fatal(err)
	}
}
