package exchange_test

import (
	"github.com/cofswitch/cofswitch/switch/exchange/exchangetest"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/cofswitch/cofswitch/routing"
	"github.com/cofswitch/cofswitch/switch/exchange"
)

// TestEvictionsCounted: messages a peer stream evicts before the peer's
// consumer acked them are counted per peer and consumer, once each.
func TestEvictionsCounted(t *testing.T) {
	ctx, x := exchangetest.Embedded(t, `
nats: {auth: none}
streams:
  peers: {max_msgs: 10, discard: old}
sensors:
  - {id: s1, organisation: org-a}
peers:
  - {id: p, organisation: org-a, subscriptions: [{sensors: [s1]}]}
`)
	js := x.JetStream()
	ev := exchange.NewEvictions(x)
	publish := func(n int) {
		for range n {
			if _, err := js.Publish(ctx, routing.OutSubject("p"), []byte("{}\n")); err != nil {
				t.Fatal(err)
			}
		}
	}
	publish(25)
	if err := ev.Check(ctx); err != nil {
		t.Fatal(err)
	}
	if got := ev.Snapshot()[[2]string{"p", "sink"}]; got != 15 {
		t.Errorf("after 25 messages in a stream of 10, none read: %d evicted unread, want 15", got)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(ev)
	if n, err := testutil.GatherAndCount(reg, "cofswitch_peer_consumer_pending_messages"); err != nil || n != 1 {
		t.Errorf("consumer pending gauge: %d series, %v", n, err)
	}
	// The consumer reads and acks what is left; later evictions of read
	// messages are no loss.
	c, err := js.Consumer(ctx, routing.PeerStream("p"), "sink")
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.Fetch(10, jetstream.FetchMaxWait(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	for m := range b.Messages() {
		_ = m.DoubleAck(ctx)
	}
	publish(10)
	if err := ev.Check(ctx); err != nil {
		t.Fatal(err)
	}
	publish(5)
	if err := ev.Check(ctx); err != nil {
		t.Fatal(err)
	}
	if got := ev.Snapshot()[[2]string{"p", "sink"}]; got != 20 {
		t.Errorf("%d evicted unread, want 15 + 5 (the 10 read ones are no loss)", got)
	}
}

// TestReady: /readyz of serve says ready while every stream of the
// configuration is there, and names one that is missing.
func TestReady(t *testing.T) {
	ctx, x := exchangetest.Embedded(t, `
nats: {auth: none}
sensors:
  - {id: s1, organisation: org-a}
peers:
  - {id: p, organisation: org-a, subscriptions: [{sensors: [s1]}]}
`)
	if err := x.Ready(ctx); err != nil {
		t.Fatalf("not ready: %v", err)
	}
	if err := x.JetStream().DeleteStream(ctx, routing.PeerStream("p")); err != nil {
		t.Fatal(err)
	}
	if err := x.Ready(ctx); err == nil || !strings.Contains(err.Error(), "PEER_p") {
		t.Errorf("ready with PEER_p deleted: %v", err)
	}
}
