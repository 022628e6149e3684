package routing

import (
	"fmt"
	"strings"
	"testing"
)

func TestMatch(t *testing.T) {
	tests := []struct {
		pattern, id string
		want        bool
	}{
		{"s1", "s1", true}, {"s1", "s10", false}, {"s*", "s10", true}, {"*", "", true},
		{"*", "anything", true}, {"org-a-*", "org-a-resolver", true}, {"org-a-*", "org-b-x", false},
		{"*-aaaa", "circl-feed-aaaa", true}, {"a*b*c", "axxbyyc", true}, {"a*b*c", "axxbyy", false},
		{"a**", "a", true}, {"*a*a*a*a*b", strings.Repeat("a", 40), false},
	}
	for _, tt := range tests {
		if got := Match(tt.pattern, tt.id); got != tt.want {
			t.Errorf("Match(%q, %q) = %v, want %v", tt.pattern, tt.id, got, tt.want)
		}
	}
}

func demoTable(t *testing.T) *Table {
	t.Helper()
	tab, err := Build(
		[]Sensor{
			{ID: "org-a-s1", Organisation: "org-a", Relays: []string{"org-a-edge-7"}},
			{ID: "org-a-s2", Organisation: "org-a"},
			{ID: "org-b/s1", Organisation: "org-b"},
		},
		[]Peer{{ID: "peer-b", Organisation: "org-b"}, {ID: "peer-c", Organisation: "org-c"}, {ID: "peer-d", Organisation: "org-d"}},
		[]Subscription{
			{Peer: "peer-b", Index: 0, Sensors: []string{"org-a-*"}, Policy: "strict"},
			{Peer: "peer-b", Index: 1, Sensors: []string{"org-a-s1"}, Policy: "loose"},
			{Peer: "peer-c", Index: 0, Sensors: []string{"*"}, Policy: "all"},
			{Peer: "peer-d", Index: 0, Sensors: []string{"org-b/s1", "org-a-s2"}, Policy: "pass"},
		})
	if err != nil {
		t.Fatal(err)
	}
	return tab
}

func routesString(rs []Route) string {
	var parts []string
	for _, r := range rs {
		parts = append(parts, fmt.Sprintf("%s:%s", r.Peer, r.Subscription.Policy))
	}
	return strings.Join(parts, " ")
}

func TestRoutes(t *testing.T) {
	tab := demoTable(t)
	tests := []struct{ sensor, want string }{
		{sensor: "org-a-s1", want: "peer-b:strict peer-c:all"}, // first matching subscription wins
		{sensor: "org-a-s2", want: "peer-b:strict peer-c:all peer-d:pass"},
		{sensor: "org-a-edge-7", want: "peer-b:strict peer-c:all"},
		{sensor: "org-b/s1", want: "peer-c:all peer-d:pass"},
		{sensor: "org-z", want: "peer-c:all"},
	}
	for _, tt := range tests {
		for round := 0; round < 2; round++ { // second time from the cache
			if got := routesString(tab.Routes(tt.sensor)); got != tt.want {
				t.Errorf("Routes(%q) round %d = %q, want %q", tt.sensor, round, got, tt.want)
			}
		}
	}
}

func TestMayPublishAs(t *testing.T) {
	tab := demoTable(t)
	tests := []struct {
		sensor, id string
		want       bool
	}{
		{"org-a-s1", "org-a-s1", true},
		{"org-a-s1", "org-a-edge-7", true},
		{"org-a-s2", "org-a-edge-7", false},
		{"org-a-s2", "org-a-s1", false},
		{"unknown", "org-a-s1", false},
	}
	for _, tt := range tests {
		if got := tab.MayPublishAs(tt.sensor, tt.id); got != tt.want {
			t.Errorf("MayPublishAs(%q, %q) = %v, want %v", tt.sensor, tt.id, got, tt.want)
		}
	}
	if s, ok := tab.Sensor("org-b/s1"); !ok || s.Organisation != "org-b" {
		t.Errorf("Sensor lookup: %+v %v", s, ok)
	}
	if len(tab.Peers()) != 3 {
		t.Errorf("Peers() = %v", tab.Peers())
	}
}

func TestBuildErrors(t *testing.T) {
	peers := []Peer{{ID: "p"}}
	tests := []struct {
		name    string
		sensors []Sensor
		peers   []Peer
		subs    []Subscription
		want    string
	}{
		{name: "duplicate sensor", sensors: []Sensor{{ID: "s"}, {ID: "s"}}, want: `sensor "s" is defined twice`},
		{name: "duplicate peer", peers: []Peer{{ID: "p"}, {ID: "p"}}, want: `peer "p" is defined twice`},
		{name: "peer id unsafe", peers: []Peer{{ID: "p.x"}}, want: "may hold only"},
		{name: "empty sensor id", sensors: []Sensor{{ID: ""}}, want: "sensor id is empty"},
		{name: "unknown peer", peers: peers, subs: []Subscription{{Peer: "q", Sensors: []string{"*"}}}, want: `unknown peer "q"`},
		{name: "no sensors", peers: peers, subs: []Subscription{{Peer: "p"}}, want: "no sensors"},
		{name: "empty pattern", peers: peers, subs: []Subscription{{Peer: "p", Sensors: []string{""}}}, want: "empty sensor pattern"},
		{name: "bad relay", sensors: []Sensor{{ID: "s", Relays: []string{""}}}, want: `sensor "s": relayed sensor id is empty`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Build(tt.sensors, tt.peers, tt.subs)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want %q", err, tt.want)
			}
		})
	}
}

func BenchmarkRoutesCached(b *testing.B) {
	var subs []Subscription
	var peers []Peer
	for i := 0; i < 200; i++ {
		p := fmt.Sprintf("peer-%d", i)
		peers = append(peers, Peer{ID: p})
		subs = append(subs, Subscription{Peer: p, Sensors: []string{fmt.Sprintf("org-%d-*", i%20), "shared"}})
	}
	tab, err := Build(nil, peers, subs)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		_ = tab.Routes("org-7-resolver")
	}
}
