package engine_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cofswitch/cofswitch/cof"
	"github.com/cofswitch/cofswitch/policy"
	"github.com/cofswitch/cofswitch/routing"
	"github.com/cofswitch/cofswitch/switch/engine"
)

// peerHeaders is every header a peer may see on its messages.
var peerHeaders = map[string]bool{
	"Nats-Msg-Id": true, engine.HeaderTLP: true, engine.HeaderRecords: true, engine.HeaderEncoding: true,
	engine.HeaderPolicyVersion: true, engine.HeaderTrace: true,
	"Nats-Expected-Stream": true, // the peer's own stream's name, stored by the server
}

// TestPeerHeadersRevealNothing: a peer's message names neither the sensor
// nor the input's sequence nor the configuration's version, and its
// message id is opaque and its own: two peers' copies of one input share
// no header value a peer could join them on.
func TestPeerHeadersRevealNothing(t *testing.T) {
	x := newExchange(t, exchangeYAML)
	e := x.startSwitch()
	for i := range 3 {
		x.publish("org-a-s1", records("h"+strconv.Itoa(i)+"-", 20, ""), cof.S2)
	}
	waitFor(t, "input drained", 10*time.Second, x.inputDrained)
	seen := map[string]string{} // header value -> peer
	for _, peer := range []string{"peer-b", "peer-c"} {
		d := x.read(routing.PeerStream(peer), false)
		if len(d.msgs) != 3 {
			t.Fatalf("%s got %d messages, want 3", peer, len(d.msgs))
		}
		for _, m := range d.msgs {
			for name, vals := range m.Headers() {
				if !peerHeaders[name] {
					t.Errorf("%s sees header %s: %v", peer, name, vals)
				}
				v := vals[0]
				for _, secret := range []string{"org-a-s1", e.PolicyVersion()} {
					if strings.Contains(v, secret) {
						t.Errorf("%s: header %s=%q names %q", peer, name, v, secret)
					}
				}
				if name == "Nats-Msg-Id" || name == engine.HeaderTrace {
					if other, ok := seen[v]; ok {
						t.Errorf("%s and %s share %s %q", other, peer, name, v)
					}
					seen[v] = peer
					if _, err := strconv.Atoi(v); err == nil || strings.Contains(v, ":") {
						t.Errorf("%s: %s %q is not opaque", peer, name, v)
					}
				}
			}
			if v := m.Headers().Get(engine.HeaderPolicyVersion); v != policy.PassName {
				t.Errorf("%s: policy version %q, want its own policy's (pass)", peer, v)
			}
		}
	}
}

const holdYAML = `
sensors:
  - id: s1
    organisation: org-a
  - id: s2
    organisation: org-a
policies:
  quarter:
    tlp: AMBER
    transforms:
      coarsen_time: 3s
peers:
  - id: held
    organisation: org-b
    subscriptions:
      - sensors: ["*"]
        policy: quarter
  - id: direct
    organisation: org-a
    subscriptions:
      - sensors: ["*"]
        policy: pass
        tlp: CLEAR
`

// TestHeldUntilBucketEnds: under coarsen_time with the default release,
// a peer's messages are stored only once the bucket in which the switch
// handled them has ended, and identical rrsets of that bucket arrive
// merged: one record, counts summed (records of two sensors differ in
// sensor_id, so they stay two). Nothing stays held.
func TestHeldUntilBucketEnds(t *testing.T) {
	x := newExchange(t, holdYAML)
	tab, pols, err := x.cfg.Compile(policy.DefaultEnv())
	if err != nil {
		t.Fatal(err)
	}
	x.startSwitchWith(tab, pols, engine.WithReleaseInterval(100*time.Millisecond))
	// Start just after a boundary, so that every batch falls in one bucket.
	for time.Now().Unix()%3 != 0 {
		time.Sleep(20 * time.Millisecond)
	}
	start := time.Now()
	for _, s := range []string{"s1", "s2", "s1"} {
		x.publish(s, records("m-", 10, ""), cof.Zstd)
	}
	waitFor(t, "input drained", 10*time.Second, x.inputDrained)
	end := time.Unix(start.Unix()-start.Unix()%3+3, 0)
	if time.Now().Before(end) && len(x.read(routing.PeerStream("held"), false).msgs) != 0 {
		t.Fatal("held peer got records before its bucket ended")
	}
	if got := len(x.read(routing.PeerStream("direct"), true).records); got != 30 {
		t.Fatalf("direct peer got %d records, want 30 at once", got)
	}
	waitFor(t, "release", 10*time.Second, func() bool { return len(x.read(routing.PeerStream("held"), false).msgs) > 0 })
	d := x.read(routing.PeerStream("held"), true)
	for _, m := range d.msgs {
		meta, _ := m.Metadata()
		if meta.Timestamp.Before(end) {
			t.Errorf("stored at %v, before the bucket's end %v", meta.Timestamp, end)
		}
		if tlp := m.Headers().Get(engine.HeaderTLP); tlp != "TLP:AMBER" {
			t.Errorf("TLP %q", tlp)
		}
	}
	if len(d.records) != 20 {
		t.Fatalf("held peer got %d records, want 20 (10 per sensor, merged)", len(d.records))
	}
	for _, r := range d.records {
		i, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(r.RRName, "m-"), ".example"))
		want := map[string]int64{"s1": int64(2 * (i + 1)), "s2": int64(i + 1)}[r.SensorID]
		if r.Count != want || r.TimeFirst%3 != 0 || r.TimeLast%3 != 0 {
			t.Errorf("merged record %+v: want count %d, times on 3 s boundaries", r, want)
		}
	}
	waitFor(t, "hold stream empty", 5*time.Second, func() bool { return len(x.read(routing.HoldStream, false).msgs) == 0 })
}

// TestReleaseAfterRestartByRivals: what one switch process held is
// released by others after it stopped, and two processes releasing at
// once deliver each merged record once: the round's mark and the pages'
// message ids make the release idempotent.
func TestReleaseAfterRestartByRivals(t *testing.T) {
	x := newExchange(t, holdYAML)
	tab, pols, err := x.cfg.Compile(policy.DefaultEnv())
	if err != nil {
		t.Fatal(err)
	}
	first := x.startSwitchWith(tab, pols, engine.WithReleaseInterval(time.Hour))
	for _, s := range []string{"s1", "s2", "s1", "s2"} {
		x.publish(s, records("r-", 50, ""), cof.S2)
	}
	waitFor(t, "input drained", 10*time.Second, x.inputDrained)
	first.Stop()
	if n := len(x.read(routing.HoldStream, false).msgs); n != 4 {
		t.Fatalf("hold stream has %d messages, want 4", n)
	}
	time.Sleep(3 * time.Second) // every bucket has ended
	for range 3 {
		x.startSwitchWith(tab, pols, engine.WithReleaseInterval(10*time.Millisecond))
	}
	waitFor(t, "hold stream empty", 10*time.Second, func() bool { return len(x.read(routing.HoldStream, false).msgs) == 0 })
	d := x.read(routing.PeerStream("held"), true)
	total := map[string]int64{}
	for _, r := range d.records {
		total[r.SensorID] += r.Count
	}
	// records() gives record i the count i+1: 50 records sum to 1275, and
	// each sensor sent them twice.
	if len(d.records) != 100 || total["s1"] != 2*1275 || total["s2"] != 2*1275 {
		t.Errorf("held peer got %d records with counts %v, want 100 summing to 2550 per sensor", len(d.records), total)
	}
}
