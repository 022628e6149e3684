package policy

import (
	"fmt"
	"time"

	"github.com/cofswitch/cofswitch/cof"
	"github.com/cofswitch/cofswitch/routing"
)

// DryRun answers "what would this peer receive of this record, and why",
// through the routing table and the policies as the switch applies them,
// without a bus. It is what 'cofswitch policy test' runs.
type DryRun struct {
	Table *routing.Table
	Set   *Set
	Peer  string
	// Sensor is the sensor_id routed for records without one.
	Sensor string

	seen       sightings // for thresholds: who saw which rrset so far
	thresholds int       // 0: not looked yet; 1: some policy has one; -1: none
}

// Verdict is a DryRun's answer for one record.
type Verdict struct {
	// Routed is false when no subscription of the peer matches the
	// record's sensor_id (Sensor says which was routed).
	Routed bool
	Sensor string
	// Subscription is the index of the peer's deciding subscription, TLP
	// its label ("" for none).
	Subscription int
	TLP          string
	// Release is how long a kept record is held before delivery (0: at
	// once): its policy's coarsen_time with release bucket_end.
	Release time.Duration
	// Threshold is the policy's k-sensor threshold, and ThresholdHeld
	// why a kept record is held by it ("seen by 1 of 3 sensors"; "" when
	// the records checked so far reach it). Released counts the records
	// held before that this one releases with it.
	Threshold     Threshold
	ThresholdHeld string
	Released      int
	Explanation
}

// Check routes r to the peer and applies the deciding subscription's
// policy. r may be changed (its sensor_id filled in); the output is
// Verdict.Out.
func (d *DryRun) Check(r *cof.Record) Verdict {
	if r.SensorID == "" {
		r.SensorID = d.Sensor
	}
	v := Verdict{Sensor: r.SensorID}
	// Every record's sighting counts, as the switch counts them: whatever
	// the routes and the filters.
	var seen *seenBy
	if d.counts() {
		seen = d.see(r)
	}
	var route *routing.Route
	for _, rt := range d.Table.Routes(r.SensorID) {
		if rt.Peer == d.Peer {
			route = &rt
			break
		}
	}
	if route == nil {
		return v
	}
	p, ok := d.Set.Lookup(route.Subscription.Policy)
	if !ok {
		// A compiled configuration names no unknown policy; say so rather
		// than pretend the record passed.
		v.Routed, v.Explanation = true, Explanation{Policy: route.Subscription.Policy, Rule: "unknown policy"}
		return v
	}
	v.Routed, v.Subscription, v.TLP, v.Release = true, route.Subscription.Index, route.Subscription.TLP, p.Release()
	v.Explanation = p.Explain(r)
	if v.Threshold = p.Threshold(); v.Threshold.Enabled() && v.Kept {
		threshold(seen, &v)
	}
	return v
}

// counts says whether some policy of the set has a threshold, so that
// sightings are worth keeping.
func (d *DryRun) counts() bool {
	if d.thresholds == 0 {
		d.thresholds = -1
		for _, name := range d.Set.Names() {
			if p, ok := d.Set.Lookup(name); ok && p.Threshold().Enabled() {
				d.thresholds = 1
			}
		}
	}
	return d.thresholds > 0
}

// see notes r's sighting as the switch would if the records checked so
// far were all it had seen: the sensor is the record's sensor_id, the
// organisation that of the sensor publishing it.
func (d *DryRun) see(r *cof.Record) *seenBy {
	if d.seen == nil {
		d.seen = sightings{}
	}
	// The organisation is the publishing sensor's (--sensor), as the
	// switch counts it; records with their own sensor_id and no --sensor
	// are taken as published by that sensor.
	publisher := d.Sensor
	if publisher == "" {
		publisher = r.SensorID
	}
	org := ""
	if s, ok := d.Table.Sensor(publisher); ok {
		org = s.Organisation
	}
	return d.seen.see(r, r.SensorID, org)
}

// threshold applies v's threshold to a kept record whose rrset b says who
// saw.
func threshold(b *seenBy, v *Verdict) {
	switch {
	case !v.Threshold.Reached(len(b.sensors), len(b.orgs)):
		v.ThresholdHeld = v.Threshold.Held(len(b.sensors), len(b.orgs))
		b.held++
	case b.held > 0:
		v.Released, b.held = b.held, 0
	}
}

// Label names the outcome, for a tally: "not subscribed", "withheld by P:
// RULE" or "kept by P".
func (v Verdict) Label() string {
	switch {
	case !v.Routed:
		return "not subscribed"
	case !v.Kept:
		return fmt.Sprintf("withheld by %s: %s", v.Policy, v.Rule)
	case v.ThresholdHeld != "":
		return "held by " + v.Policy + ": threshold"
	}
	return "kept by " + v.Policy
}

// Tally counts outcomes by label, in the order first seen.
type Tally struct {
	order []string
	n     map[string]int
}

// Add counts one outcome.
func (t *Tally) Add(label string) {
	if t.n == nil {
		t.n = map[string]int{}
	}
	if _, ok := t.n[label]; !ok {
		t.order = append(t.order, label)
	}
	t.n[label]++
}

// Each calls fn for every label with its count, in the order first seen.
func (t *Tally) Each(fn func(label string, n int)) {
	for _, l := range t.order {
		fn(l, t.n[l])
	}
}
