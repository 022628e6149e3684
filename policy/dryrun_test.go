package policy

import (
	"testing"

	"github.com/cofswitch/cofswitch/routing"
)

func TestDryRun(t *testing.T) {
	set, err := CompileSet("v1", map[string]*Spec{
		"a-only": {Include: &FilterSpec{RRTypes: []string{"A"}}, TLP: "amber"},
	}, testEnv())
	if err != nil {
		t.Fatal(err)
	}
	table, err := routing.Build(
		[]routing.Sensor{{ID: "org-a-s1"}, {ID: "org-b-s1"}},
		[]routing.Peer{{ID: "p"}, {ID: "q"}},
		[]routing.Subscription{
			{Peer: "p", Index: 0, Sensors: []string{"org-a-*"}, Policy: "a-only", TLP: "TLP:AMBER"},
			{Peer: "p", Index: 1, Sensors: []string{"*"}, Policy: PassName},
			{Peer: "q", Index: 0, Sensors: []string{"org-b-*"}, Policy: PassName},
		})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, peer, sensor, line string
		routed, kept             bool
		sub                      int
		label                    string
	}{
		{name: "kept by the first matching subscription", peer: "p", line: record("www.example.com", "A", "192.0.2.1"),
			routed: true, kept: true, sub: 0, label: "kept by a-only"},
		{name: "withheld by its rule, not passed by a later subscription", peer: "p", line: record("www.example.com", "MX", "10 mx.example.com"),
			routed: true, kept: false, sub: 0, label: "withheld by a-only: include.rrtypes"},
		{name: "not subscribed", peer: "q", line: record("www.example.com", "A", "192.0.2.1"), label: "not subscribed"},
		{name: "a record without sensor_id takes Sensor", peer: "q", sensor: "org-b-s1",
			line:   `{"rrname":"x.example","rrtype":"A","rdata":"192.0.2.9","time_first":1,"time_last":2}`,
			routed: true, kept: true, label: "kept by pass"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d := &DryRun{Table: table, Set: set, Peer: tt.peer, Sensor: tt.sensor}
			v := d.Check(rec(t, tt.line))
			if v.Routed != tt.routed || v.Kept != tt.kept || v.Subscription != tt.sub || v.Label() != tt.label {
				t.Fatalf("verdict %+v (label %q), want routed %v kept %v subscription %d label %q",
					v, v.Label(), tt.routed, tt.kept, tt.sub, tt.label)
			}
			if tt.kept && (v.Out == nil || v.Out.RRName == "") {
				t.Errorf("kept without an output record")
			}
			if v.Routed && tt.sub == 0 && tt.peer == "p" && v.TLP != "TLP:AMBER" {
				t.Errorf("TLP %q, want TLP:AMBER", v.TLP)
			}
		})
	}
}

func TestTally(t *testing.T) {
	var tl Tally
	for _, l := range []string{"b", "a", "b", "c", "b"} {
		tl.Add(l)
	}
	var got []string
	var counts []int
	tl.Each(func(l string, n int) { got = append(got, l); counts = append(counts, n) })
	if len(got) != 3 || got[0] != "b" || got[1] != "a" || got[2] != "c" || counts[0] != 3 || counts[1] != 1 || counts[2] != 1 {
		t.Fatalf("tally %v %v, want [b a c] [3 1 1]", got, counts)
	}
}

// TestDryRunCountsEverySighting: as the switch, policy test counts the
// sighting of a record routed to no one, and of a record the peer's
// policy withheld, towards the threshold.
func TestDryRunCountsEverySighting(t *testing.T) {
	set, err := CompileSet("v1", map[string]*Spec{
		"k2": {Threshold: &ThresholdSpec{MinSensors: 2}, TLP: "amber"},
	}, testEnv())
	if err != nil {
		t.Fatal(err)
	}
	table, err := routing.Build(
		[]routing.Sensor{{ID: "s1"}, {ID: "s2"}},
		[]routing.Peer{{ID: "p"}},
		[]routing.Subscription{{Peer: "p", Index: 0, Sensors: []string{"s1"}, Policy: "k2", TLP: "TLP:AMBER"}})
	if err != nil {
		t.Fatal(err)
	}
	d := &DryRun{Table: table, Set: set, Peer: "p"}
	line := func(sensor string) string {
		return `{"rrname":"x.example","rrtype":"A","rdata":"192.0.2.9","time_first":1,"time_last":2,"sensor_id":"` + sensor + `"}`
	}
	if v := d.Check(rec(t, line("s2"))); v.Routed {
		t.Fatalf("s2 routed to p: %+v", v)
	}
	if v := d.Check(rec(t, line("s1"))); !v.Kept || v.ThresholdHeld != "" {
		t.Fatalf("s1's record after s2's held (%q), want released: s2's sighting counts though routed to no one", v.ThresholdHeld)
	}
	other := `{"rrname":"y.example","rrtype":"A","rdata":"192.0.2.9","time_first":1,"time_last":2,"sensor_id":"s1"}`
	if v := d.Check(rec(t, other)); v.ThresholdHeld == "" {
		t.Fatalf("an rrset one sensor saw was not held: %+v", v)
	}
}
