package backfill_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cofswitch/cofswitch/config"
	"github.com/cofswitch/cofswitch/switch/backfill"
	"github.com/cofswitch/cofswitch/switch/exchange"
)

// TestSubscriptionBackfillResumes: serve's background backfill of a new
// peer, stopped with the exchange half-way, goes on when the exchange
// starts again, and the peer gets every record once.
func TestSubscriptionBackfillResumes(t *testing.T) {
	if testing.Short() {
		t.Skip("50,000 records at the default rate")
	}
	fast := strings.Replace(before, "streams:", "switch: {publish_timeout: 1s}\nstreams:", 1)
	w := start(t, fast)
	w.publish([]string{"s1"}, 0, 100, 1000) // 500 A records a batch
	w.waitArchived(100)
	auto := strings.Replace(withLate, "policy: a-only}", "policy: a-only, backfill: 1h}", 1)
	auto = strings.Replace(auto, "streams:", "switch: {publish_timeout: 1s}\nstreams:", 1)
	w.reload(auto)
	var st backfill.State
	waitFor(t, func() bool {
		var err error
		st, err = backfill.ReadState(w.ctx, w.js, "late")
		return err == nil && st.Records > 0
	}, "the background backfill's first window")
	w.x.Stop()
	cfg, err := config.Load(w.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	x, err := exchange.Start(ctx, cfg, exchange.Options{Listen: "127.0.0.1:0", DataDir: w.dir, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(x.Stop)
	nc, err := nats.Connect(x.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	w.js, _ = jetstream.New(nc)
	w.ctx = ctx
	stopped, err := backfill.ReadState(ctx, w.js, "late")
	if err != nil || stopped.Open == nil || stopped.Open.By != "serve" || stopped.Records >= 50000 {
		t.Fatalf("after the stop the progress is %+v (%v): want a serve run open, part done", stopped, err)
	}
	waitFor(t, func() bool {
		st, err := backfill.ReadState(ctx, w.js, "late")
		return err == nil && st.Open == nil && st.Records == 50000
	}, "the backfill to finish after the restart")
	names := w.read("late").names()
	for name, n := range names {
		if n != 1 {
			t.Fatalf("%s delivered %d times", name, n)
		}
	}
	if len(names) != 50000 {
		t.Fatalf("late got %d records, want 50000", len(names))
	}
	t.Logf("stopped after %d records, finished after the restart", stopped.Records)
}
