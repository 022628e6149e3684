package exchange_test

import (
	"fmt"
	"github.com/cofswitch/cofswitch/switch/exchange/exchangetest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/cofswitch/cofswitch/routing"
	"github.com/cofswitch/cofswitch/switch/exchange"
)

// TestHealth: the health watch reports each sensor's input stream against
// its limits, and the exchange's readiness as 1 or 0.
func TestHealth(t *testing.T) {
	// A quota of 1 byte/s: the first batch passes on the burst (about
	// 1 MiB), the next ones wait in the sensor's input stream.
	ctx, x := exchangetest.Embedded(t, `
nats: {auth: none}
sensors:
  - {id: s1, organisation: org-a, rate: 1, stream: {max_bytes: 8MiB, max_msgs: 100}}
peers:
  - {id: p, organisation: org-a, subscriptions: [{sensors: [s1]}]}
`)
	h := exchange.NewHealth(x)
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(h)
	if n, err := testutil.GatherAndCount(reg); err != nil || n != 0 {
		t.Errorf("before the first check: %d series, %v; want none", n, err)
	}
	var batch strings.Builder
	for i := 0; batch.Len() < 600<<10; i++ {
		fmt.Fprintf(&batch, `{"rrname":"h%d.example","rrtype":"A","rdata":["192.0.2.1"],"time_first":1,"time_last":2}`+"\n", i)
	}
	for range 3 {
		if _, err := x.JetStream().Publish(ctx, routing.InSubject("s1"), []byte(batch.String())); err != nil {
			t.Fatal(err)
		}
	}
	if err := h.Check(ctx); err != nil {
		t.Fatal(err)
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP cofswitch_input_stream_max_bytes The input stream's max_bytes (absent when unlimited): past it the sensor's publishes are refused (discard new) or its oldest batches lost (discard old).
# TYPE cofswitch_input_stream_max_bytes gauge
cofswitch_input_stream_max_bytes{sensor="s1"} 8.388608e+06
# HELP cofswitch_input_stream_max_messages The input stream's max_msgs (absent when unlimited).
# TYPE cofswitch_input_stream_max_messages gauge
cofswitch_input_stream_max_messages{sensor="s1"} 100
# HELP cofswitch_switch_ready 1 when the exchange was ready at the last check (every 30 s: connected, JetStream answering, every stream present; /readyz says why not), 0 otherwise.
# TYPE cofswitch_switch_ready gauge
cofswitch_switch_ready 1
`), "cofswitch_input_stream_max_bytes", "cofswitch_input_stream_max_messages", "cofswitch_switch_ready"); err != nil {
		t.Error(err)
	}
	msgs := gauge(t, reg, "cofswitch_input_stream_messages")
	bytes := gauge(t, reg, "cofswitch_input_stream_bytes")
	if msgs < 2 || bytes < 2*600<<10 {
		t.Errorf("input of s1: %v batches, %v bytes; want at least the 2 throttled ones of 600 KiB", msgs, bytes)
	}

	if err := x.JetStream().DeleteStream(ctx, routing.PeerStream("p")); err != nil {
		t.Fatal(err)
	}
	if err := h.Check(ctx); err != nil {
		t.Fatal(err)
	}
	if got := gauge(t, reg, "cofswitch_switch_ready"); got != 0 {
		t.Errorf("ready %v with PEER_p deleted, want 0", got)
	}
}

// TestEvictedCounterStartsAtZero: every consumer checked has an evicted
// counter, at 0 until its stream evicts, so that an alert's increase()
// sees the first eviction.
func TestEvictedCounterStartsAtZero(t *testing.T) {
	ctx, x := exchangetest.Embedded(t, `
nats: {auth: none}
sensors:
  - {id: s1, organisation: org-a}
peers:
  - {id: p, organisation: org-a, subscriptions: [{sensors: [s1]}]}
`)
	ev := exchange.NewEvictions(x)
	if err := ev.Check(ctx); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(ev)
	if err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP cofswitch_peer_evicted_unread_messages_total Messages a peer's stream evicted (limits, age) before the consumer acked them: lost to that peer.
# TYPE cofswitch_peer_evicted_unread_messages_total counter
cofswitch_peer_evicted_unread_messages_total{consumer="sink",peer="p"} 0
`), "cofswitch_peer_evicted_unread_messages_total"); err != nil {
		t.Error(err)
	}
}

// gauge is the value of the one series of the gauge name in reg.
func gauge(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("no single series of %s", name)
	return 0
}
