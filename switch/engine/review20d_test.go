package engine_test

// Review 20d: the sightings written off the batches' path.

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/cofswitch/cofswitch/cof"
	"github.com/cofswitch/cofswitch/policy"
	"github.com/cofswitch/cofswitch/routing"
)

// TestReview20dSightingExpiresHeldUncounted: an entry whose sightings all
// left the window loses what it held at its next write ("what it held
// expires with them"), and what is never released is counted in
// cofswitch_switch_threshold_lost_records_total{reason="expired"}. When
// that next write is a sighting alone (a sensor no peer receives under
// the policy, the usual case for a long-tail rrset), the sightings'
// writer applies it and drops its result: the held record is gone and
// counted nowhere.
func TestReview20dSightingExpiresHeldUncounted(t *testing.T) {
	// Fixed: writeSightingRound counts what its writes expired or overflowed.
	x := newExchange(t, sightingsYAML)
	tab, pols, err := x.cfg.Compile(policy.DefaultEnv())
	if err != nil {
		t.Fatal(err)
	}
	e := x.startSwitchWith(tab, pols)
	rec := []byte(`{"rrname":"long-tail.example","rrtype":"A","rdata":["192.0.2.9"],"time_first":1700000000,"time_last":1700000100}` + "\n")
	x.publish("s1", rec, cof.Identity) // k2: one sensor, held
	waitFor(t, "input drained", 10*time.Second, x.inputDrained)

	// The entry as it stands two hours later (window 1 h): every
	// sighting out of the window.
	kv, err := x.js.KeyValue(t.Context(), routing.SeenBucket)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := kv.ListKeys(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var key string
	for k := range keys.Keys() {
		key = k
	}
	ent, err := kv.Get(t.Context(), key)
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]json.RawMessage
	if err := json.Unmarshal(ent.Value(), &v); err != nil {
		t.Fatal(err)
	}
	if _, ok := v["h"]; !ok {
		t.Fatalf("nothing held: %s", ent.Value())
	}
	for _, f := range []string{"s", "o"} {
		var m map[string]int64
		if err := json.Unmarshal(v[f], &m); err != nil {
			t.Fatal(err)
		}
		for k := range m {
			m[k] -= 2 * 3600
		}
		v[f], _ = json.Marshal(m)
	}
	b, _ := json.Marshal(v)
	if _, err := kv.Put(t.Context(), key, b); err != nil {
		t.Fatal(err)
	}
	before := e.Stats().ThresholdExpired

	x.publish("s2", rec, cof.Identity) // routed to no one: a sighting alone
	waitFor(t, "input drained", 10*time.Second, x.inputDrained)
	waitFor(t, "sightings written", 10*time.Second, func() bool { return e.Stats().SightingsPending == 0 })
	waitFor(t, "the entry written again", 10*time.Second, func() bool {
		got, err := kv.Get(t.Context(), key)
		return err == nil && got.Revision() > ent.Revision()+1
	})
	got, _ := kv.Get(t.Context(), key)
	var after struct {
		Out map[string]struct {
			Lines []string `json:"l"`
		} `json:"h"`
	}
	if err := json.Unmarshal(got.Value(), &after); err != nil {
		t.Fatal(err)
	}
	for _, h := range after.Out {
		if len(h.Lines) > 0 {
			t.Fatalf("the held record did not expire: %s", got.Value())
		}
	}
	if n := e.Stats().ThresholdExpired - before; n != 1 {
		t.Errorf("the held record expired at a sighting's write and was lost; %d counted expired, want 1", n)
	}
}
