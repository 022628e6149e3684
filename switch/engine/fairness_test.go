package engine_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/cofswitch/cofswitch/cof"
	"github.com/cofswitch/cofswitch/policy"
	"github.com/cofswitch/cofswitch/routing"
	"github.com/cofswitch/cofswitch/switch/engine"
)

// fairYAML: org-a-s1 floods; peer-b takes only org-b/s1, the victim.
const fairYAML = `
sensors:
  - {id: org-a-s1, organisation: org-a}
  - {id: org-b/s1, organisation: org-b}
peers:
  - {id: peer-a, organisation: org-c, subscriptions: [{sensors: ["org-a-s1"], policy: pass, tlp: CLEAR}]}
  - {id: peer-b, organisation: org-c, subscriptions: [{sensors: ["org-b/s1"], policy: pass, tlp: CLEAR}]}
`

// victimLatency publishes one 100-record batch as the victim and returns
// how long until its output is stored on peer-b.
func victimLatency(tb testing.TB, x *testbed, js func() uint64) time.Duration {
	before := js()
	start := time.Now()
	x.publish("org-b/s1", records("v-", 100, ""), cof.Zstd)
	for js() == before {
		if time.Since(start) > time.Minute {
			tb.Fatal("the victim's batch was not switched in a minute")
		}
		time.Sleep(200 * time.Microsecond)
	}
	return time.Since(start)
}

// storeFlood stores n 5,000-record batches of the flooder before the
// switch runs, so that its backlog is there whole.
func storeFlood(tb testing.TB, x *testbed, n int) {
	body, err := x.codec.Compress(nil, records("f-", 5000, ""), cof.Zstd)
	if err != nil {
		tb.Fatal(err)
	}
	for range n {
		m := nats.NewMsg(routing.InSubject("org-a-s1"))
		m.Data = body
		m.Header.Set("Content-Encoding", "zstd")
		if _, err := x.js.PublishMsgAsync(m); err != nil {
			tb.Fatal(err)
		}
	}
	<-x.js.PublishAsyncComplete()
}

// TestFairness: with a flooder's backlog of 100 large batches waiting, a
// victim's batch is switched after at most a few of them, not after the
// whole backlog: each sensor with work waiting gets its turn.
func TestFairness(t *testing.T) {
	x := newExchange(t, fairYAML)
	storeFlood(t, x, 100)
	x.startSwitch(engine.WithWorkers(2))
	floodLeft := func() uint64 { return x.streamMsgs(routing.InStream("org-a-s1")) }
	waitFor(t, "the flood under way", 10*time.Second, func() bool { return floodLeft() < 100 })
	d := victimLatency(t, x, func() uint64 { return x.streamMsgs(routing.PeerStream("peer-b")) })
	left := floodLeft()
	t.Logf("victim switched in %v with %d of 100 flood batches still waiting", d, left)
	if left < 50 {
		t.Errorf("the victim waited for the flood: only %d of its 100 batches were left", left)
	}
}

// BenchmarkFairness reports a victim's latency (publish to its output
// stored) alone and while another sensor floods with a backlog of large
// batches; the bound is flooded <= 2 x alone.
func BenchmarkFairness(b *testing.B) {
	x := newExchange(b, fairYAML)
	x.startSwitch()
	peerB := func() uint64 { return x.streamMsgs(routing.PeerStream("peer-b")) }
	var alone, flooded []time.Duration
	for range b.N {
		for range 5 {
			alone = append(alone, victimLatency(b, x, peerB))
		}
		ctx, cancel := context.WithCancel(context.Background())
		go func() {
			for ctx.Err() == nil {
				if x.streamMsgs(routing.InStream("org-a-s1")) < 50 {
					storeFlood(b, x, 20)
				}
				time.Sleep(5 * time.Millisecond)
			}
		}()
		time.Sleep(200 * time.Millisecond)
		for range 5 {
			flooded = append(flooded, victimLatency(b, x, peerB))
		}
		cancel()
		waitFor(b, "the flood drained", time.Minute, x.inputDrained)
	}
	slices.Sort(alone)
	slices.Sort(flooded)
	b.ReportMetric(float64(alone[len(alone)/2].Microseconds())/1000, "alone-ms")
	b.ReportMetric(float64(flooded[len(flooded)/2].Microseconds())/1000, "flooded-ms")
	b.ReportMetric(float64(flooded[len(flooded)/2])/float64(alone[len(alone)/2]), "ratio")
}

// TestRateQuota: a sensor over its rate quota is held in its own stream
// (counted as throttled time) while another goes on; a reload that lifts
// the quota releases it at once.
func TestRateQuota(t *testing.T) {
	x := newExchange(t, fairYAML)
	cfg := x.cfg
	// One byte a second: the burst lets one largest message through, then
	// the sensor is held.
	cfg.Sensors[0].Rate = 1
	tab, pols, err := cfg.Compile(policy.DefaultEnv())
	if err != nil {
		t.Fatal(err)
	}
	e := x.startSwitchWith(tab, pols)
	big := records("q-", 5000, "") // about 800 KB uncompressed
	x.publish("org-a-s1", big, cof.Identity)
	x.publish("org-a-s1", big, cof.Identity)
	x.publish("org-b/s1", records("v-", 10, ""), cof.Identity)
	waitFor(t, "the first batch and the other sensor's", 10*time.Second, func() bool {
		return x.streamMsgs(routing.PeerStream("peer-a")) == 1 && x.streamMsgs(routing.PeerStream("peer-b")) == 1
	})
	time.Sleep(300 * time.Millisecond)
	if n := x.streamMsgs(routing.PeerStream("peer-a")); n != 1 {
		t.Fatalf("peer-a holds %d batches: the second passed the quota", n)
	}
	if n := x.streamMsgs(routing.InStream("org-a-s1")); n != 1 {
		t.Fatalf("the throttled sensor's stream holds %d batches, want its second one", n)
	}

	cfg.Sensors[0].Rate = 0
	tab2, pols2, err := cfg.Compile(policy.DefaultEnv())
	if err != nil {
		t.Fatal(err)
	}
	e.SetRegistry(tab2, pols2)
	waitFor(t, "the held batch released by the reload", 10*time.Second, func() bool {
		return x.streamMsgs(routing.PeerStream("peer-a")) == 2
	})
	if d := e.Stats().Throttled["org-a-s1"]; d < 300*time.Millisecond {
		t.Errorf("throttled time %v, want the time the batch was held", d)
	}
}
