package engine_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/cofswitch/cofswitch/cof"
	"github.com/cofswitch/cofswitch/policy"
	"github.com/cofswitch/cofswitch/routing"
	"github.com/cofswitch/cofswitch/switch/engine"
)

const thresholdYAML = `
sensors:
  - id: s1
    organisation: org-a
  - id: s2
    organisation: org-a
  - id: s3
    organisation: org-b
  - id: s4
    organisation: org-c
policies:
  k3:
    tlp: AMBER
    threshold:
      min_sensors: 3
      min_organisations: 2
      window: 1h
peers:
  - id: k
    organisation: org-z
    subscriptions:
      - sensors: ["*"]
        policy: k3
  - id: direct
    organisation: org-z
    subscriptions:
      - sensors: ["*"]
        policy: pass
        tlp: CLEAR
`

// key of a delivered record for the exactly-once checks.
func recKey(r cof.Record) string { return r.RRName + " " + r.SensorID }

// TestThresholdReleasesOnKthSensor: an rrset reaches the peer only once
// three sensors of two organisations have seen it; then what the earlier
// ones saw is delivered with it (each sensor's record once, counts as
// sent), and later observations at once. A name one site alone sees
// never leaves; a peer without the threshold gets everything at once.
func TestThresholdReleasesOnKthSensor(t *testing.T) {
	x := newExchange(t, thresholdYAML)
	tab, pols, err := x.cfg.Compile(policy.DefaultEnv())
	if err != nil {
		t.Fatal(err)
	}
	e := x.startSwitchWith(tab, pols)
	lonely := []byte(`{"rrname":"router.family.example","rrtype":"A","rdata":["198.51.100.7"],"time_first":1700000000,"time_last":1700000100}` + "\n")
	step := func(sensor string, n int, wantK int) {
		t.Helper()
		body := records("m-", n, "")
		if sensor == "s1" {
			body = append(body, lonely...)
		}
		x.publish(sensor, body, cof.S2)
		waitFor(t, "input drained", 10*time.Second, x.inputDrained)
		if got := len(x.read(routing.PeerStream("k"), true).records); got != wantK {
			t.Fatalf("after %s: peer k has %d records, want %d", sensor, got, wantK)
		}
	}
	step("s1", 10, 0)
	step("s2", 10, 0)  // 2 sensors, 1 organisation
	step("s3", 5, 15)  // m-0..4 reach 3 sensors, 2 organisations: s1's and s2's released, s3's at once
	step("s1", 10, 20) // s1 again: m-0..4 at once; m-5..9 still seen by 2 sensors
	step("s4", 10, 40) // m-0..4 at once (5), m-5..9: s1's (merged) and s2's released, s4's at once

	d := x.read(routing.PeerStream("k"), true)
	seen := map[string]int64{}
	for _, r := range d.records {
		if r.RRName == "router.family.example" {
			t.Fatalf("the name one organisation saw reached the peer: %+v", r)
		}
		seen[recKey(r)] += r.Count
	}
	for i := range 10 {
		name := fmt.Sprintf("m-%d.example", i)
		// s1 saw each twice: m-0..4 released then at once, m-5..9
		// merged while held.
		want := map[string]int64{"s1": 2 * int64(i+1), "s2": int64(i + 1), "s4": int64(i + 1)}
		if i < 5 {
			want["s3"] = int64(i + 1)
		}
		for s, c := range want {
			if got, ok := seen[name+" "+s]; !ok || got != c {
				t.Errorf("%s from %s: count %d (delivered %v), want %d", name, s, got, ok, c)
			}
		}
	}
	if got := len(x.read(routing.PeerStream("direct"), true).records); got != 47 {
		t.Errorf("direct peer has %d records, want every one at once (45 and s1's lonely name twice)", got)
	}
	for _, m := range d.msgs {
		if m.Headers().Get(engine.HeaderTLP) != "TLP:AMBER" {
			t.Errorf("released batch without its TLP: %v", m.Headers())
		}
	}
	st := e.Stats()
	// Held: s1's 10 and its lonely name, s2's 10, s1's m-5..9 and lonely
	// name again (27). Released: m-0..4 from s1 and s2 (10), m-5..9 from
	// s1 (merged) and s2 (10).
	if st.ThresholdReleased["k"] != 20 || st.ThresholdHeld["k"] != 27 {
		t.Errorf("threshold counters: held %v released %v, want 27 held, 20 released", st.ThresholdHeld, st.ThresholdReleased)
	}
}

// TestThresholdBucketHoldsNoNames: the bucket's keys and values name no
// rrset nor sensor in clear; only the held lines, as the peer's policy
// made them.
func TestThresholdBucketHoldsNoNames(t *testing.T) {
	x := newExchange(t, thresholdYAML)
	tab, pols, err := x.cfg.Compile(policy.DefaultEnv())
	if err != nil {
		t.Fatal(err)
	}
	x.startSwitchWith(tab, pols)
	x.publish("s1", records("secret-", 3, ""), cof.Identity)
	waitFor(t, "input drained", 10*time.Second, x.inputDrained)
	kv, err := x.js.KeyValue(context.Background(), routing.SeenBucket)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := kv.ListKeys(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for k := range keys.Keys() {
		n++
		v, err := kv.Get(context.Background(), k)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(k, "secret") || strings.Contains(k, "s1") {
			t.Errorf("key %q names the rrset or sensor", k)
		}
		without := strings.ReplaceAll(string(v.Value()), `\"sensor_id\":\"s1\"`, "")
		for _, clear := range []string{`"s1"`, "org-a"} {
			if strings.Contains(without, clear) {
				t.Errorf("value of %s names %s outside the held lines: %s", k, clear, v.Value())
			}
		}
	}
	if n != 3 {
		t.Errorf("bucket holds %d rrsets, want 3", n)
	}
}

// TestThresholdExactlyOnceUnderRivalsAndCrashes: three switch processes
// share the input of four sensors whose batches overlap, while one
// process after another loses its connection mid-stream (its batches in
// hand are redelivered to the others after the ack wait). Every
// (rrset, sensor) reaches the peer once, with its whole count, the
// moment its rrset crosses the threshold or after.
func TestThresholdExactlyOnceUnderRivalsAndCrashes(t *testing.T) {
	x := newExchange(t, thresholdYAML)
	tab, pols, err := x.cfg.Compile(policy.DefaultEnv())
	if err != nil {
		t.Fatal(err)
	}
	var conns []*nats.Conn
	var mu sync.Mutex
	start := func() {
		nc, err := nats.Connect(x.url)
		if err != nil {
			t.Fatal(err)
		}
		e, err := engine.New(nc, tab, pols, engine.WithLogger(testLogger(t)), engine.WithAckWait(2*time.Second),
			engine.WithSecret(testSecret), engine.WithWorkers(4))
		if err != nil {
			t.Fatal(err)
		}
		if err := e.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		conns = append(conns, nc)
		mu.Unlock()
		t.Cleanup(func() { e.Stop(); nc.Close() })
	}
	for range 3 {
		start()
	}
	const batches, names = 12, 40
	want := map[string]int64{} // rrset+sensor -> count sent
	sensors := []string{"s1", "s2", "s3", "s4"}
	for b := range batches {
		for si, s := range sensors {
			// Sensor si sees names [si*5, si*5+names): neighbours overlap.
			var body []byte
			for i := si * 5; i < si*5+names; i++ {
				body = fmt.Appendf(body, `{"rrname":"n-%d.example","rrtype":"A","rdata":["192.0.2.%d"],"time_first":%d,"time_last":%d,"count":%d}`+"\n",
					i, i%250+1, 1700000000+b, 1700000100+b, b+1)
				want[fmt.Sprintf("n-%d.example %s", i, s)] += int64(b + 1)
			}
			x.publish(s, body, cof.S2)
		}
		if b == 4 || b == 8 {
			mu.Lock()
			victim := conns[0]
			conns = conns[1:]
			mu.Unlock()
			victim.Close() // its batches in hand are never acked
			start()
		}
	}
	waitFor(t, "input drained", 60*time.Second, x.inputDrained)
	// Which (rrset, sensor) pairs must have arrived: rrsets that three
	// sensors of two organisations saw.
	seenBy := map[string]map[string]bool{}
	for k := range want {
		name, s, _ := strings.Cut(k, " ")
		if seenBy[name] == nil {
			seenBy[name] = map[string]bool{}
		}
		seenBy[name][s] = true
	}
	org := map[string]string{"s1": "a", "s2": "a", "s3": "b", "s4": "c"}
	released := func(name string) bool {
		orgs := map[string]bool{}
		for s := range seenBy[name] {
			orgs[org[s]] = true
		}
		return len(seenBy[name]) >= 3 && len(orgs) >= 2
	}
	var got map[string]int64
	waitFor(t, "every released record", 30*time.Second, func() bool {
		got = map[string]int64{}
		for _, r := range x.read(routing.PeerStream("k"), true).records {
			got[recKey(r)] += r.Count
		}
		n := 0
		for k := range want {
			if name, _, _ := strings.Cut(k, " "); released(name) {
				n++
			}
		}
		return len(got) >= n
	})
	for k, c := range want {
		name, _, _ := strings.Cut(k, " ")
		switch {
		case !released(name) && got[k] != 0:
			t.Errorf("%s reached the peer, seen by %d sensors", k, len(seenBy[name]))
		case released(name) && got[k] != c:
			t.Errorf("%s: count %d at the peer, want %d (each observation once)", k, got[k], c)
			for _, r := range x.read(routing.PeerStream("k"), true).records {
				if recKey(r) == k {
					t.Logf("  %d..%d count %d", r.TimeFirst, r.TimeLast, r.Count)
				}
			}
		}
	}
	d := x.read(routing.PeerStream("k"), true)
	lines := map[string]int{}
	for _, r := range d.records {
		lines[recKey(r)+" "+strconv.FormatInt(r.TimeFirst, 10)]++
	}
	for l, n := range lines {
		if n > 1 {
			t.Errorf("%s delivered %d times", l, n)
		}
	}
}

// sightingsYAML: k receives s1 under k2 and s3 under k2-aaaa, which
// withholds A records; s2 is routed to no one.
const sightingsYAML = `
sensors:
  - {id: s1, organisation: org-a}
  - {id: s2, organisation: org-b}
  - {id: s3, organisation: org-c}
policies:
  k2: {tlp: AMBER, threshold: {min_sensors: 2, window: 1h}}
  k2-aaaa: {tlp: AMBER, include: {rrtypes: [AAAA]}, threshold: {min_sensors: 2, window: 1h}}
peers:
  - id: k
    organisation: org-z
    subscriptions:
      - {sensors: [s1], policy: k2}
      - {sensors: [s3], policy: k2-aaaa}
`

// TestThresholdCountsEverySensorsSighting: what sensors saw decides a
// release, whatever the routes: a sensor routed to no one, and a record a
// policy's filters withheld, count as sightings (else a peer's choice of
// subscriptions, or another peer's, would change what it is released).
// Held observations leave with the peer's next observation of the rrset.
func TestThresholdCountsEverySensorsSighting(t *testing.T) {
	x := newExchange(t, sightingsYAML)
	tab, pols, err := x.cfg.Compile(policy.DefaultEnv())
	if err != nil {
		t.Fatal(err)
	}
	e := x.startSwitchWith(tab, pols)
	written := func() {
		t.Helper()
		waitFor(t, "input drained", 10*time.Second, x.inputDrained)
		waitFor(t, "sightings written", 10*time.Second, func() bool { return e.Stats().SightingsPending == 0 })
	}
	rec := func(name string) []byte {
		return []byte(`{"rrname":"` + name + `","rrtype":"A","rdata":["192.0.2.7"],"time_first":1700000000,"time_last":1700000100}` + "\n")
	}
	step := func(sensor, name string, want int) {
		t.Helper()
		x.publish(sensor, rec(name), cof.Identity)
		written()
		if got := len(x.read(routing.PeerStream("k"), true).records); got != want {
			t.Fatalf("after %s sent %s: peer k has %d records in all, want %d", sensor, name, got, want)
		}
	}
	step("s2", "unrouted.example", 0) // routed to no one: counted, delivered nowhere
	step("s1", "unrouted.example", 1) // the second sensor: at once
	step("s3", "filtered.example", 1) // withheld by k2-aaaa: counted
	step("s1", "filtered.example", 2)
	step("s1", "later.example", 2) // held: one sensor
	step("s2", "later.example", 2) // the second sensor, routed to no one: k has nothing new yet
	step("s1", "later.example", 4) // k's next observation: at once, with the one held
	step("s1", "alone.example", 4)
	step("s1", "alone.example", 4) // one sensor, however often
	// Sightings alone of an rrset this process knows released, and of
	// one it knows held, mixed in batches with observations.
	x.publish("s2", append(rec("later.example"), rec("alone.example")...), cof.Identity)
	x.publish("s2", append(rec("unrouted.example"), rec("later.example")...), cof.Identity)
	written()
	step("s1", "later.example", 5)
	step("s1", "alone.example", 7) // s2 saw it: at once, with the two held
	if st := e.Stats(); st.SightingsWritten == 0 || st.SightingsDropped != 0 {
		t.Errorf("sightings written %d, dropped %d", st.SightingsWritten, st.SightingsDropped)
	}
}
