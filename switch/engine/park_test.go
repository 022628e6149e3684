package engine_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cofswitch/cofswitch/cof"
	"github.com/cofswitch/cofswitch/config"
	"github.com/cofswitch/cofswitch/policy"
	"github.com/cofswitch/cofswitch/routing"
	"github.com/cofswitch/cofswitch/switch/engine"
	"github.com/cofswitch/cofswitch/switch/exchange"
)

const parkYAML = `
sensors:
  - {id: s1, organisation: org-a}
peers:
  - {id: well, organisation: org-a, subscriptions: [{sensors: [s1]}]}
  - {id: also-well, organisation: org-a, subscriptions: [{sensors: [s1]}]}
  - {id: sick, organisation: org-a, subscriptions: [{sensors: [s1]}]}
`

// TestPeerDownCostsOthersNothing: with one peer's stream gone, every
// input is acked once the healthy peers have it (no retries, no backoff),
// the sick peer's outputs wait in its park, and when its stream is back
// it receives every record once.
func TestPeerDownCostsOthersNothing(t *testing.T) {
	x := newExchange(t, parkYAML)
	if err := x.js.DeleteStream(t.Context(), routing.PeerStream("sick")); err != nil {
		t.Fatal(err)
	}
	tab, err := x.cfg.Table()
	if err != nil {
		t.Fatal(err)
	}
	e := x.startSwitchWith(tab, policy.Builtin(), engine.WithReleaseInterval(50*time.Millisecond))
	const batches, per = 40, 50
	for i := range batches {
		x.publish("s1", records("p"+strconv.Itoa(i)+"-", per, ""), cof.S2)
	}
	waitFor(t, "input drained", 10*time.Second, x.inputDrained)
	for _, peer := range []string{"well", "also-well"} {
		if n := len(x.read(routing.PeerStream(peer), true).records); n != batches*per {
			t.Errorf("%s has %d records, want %d", peer, n, batches*per)
		}
	}
	st := e.Stats()
	if st.Retries != 0 || st.Parked["sick"] != batches*per {
		t.Errorf("retries %d, parked %v: want no retry and every sick record parked", st.Retries, st.Parked)
	}
	// The stream comes back (a reload would do this): the park drains.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := exchange.RepairPeer(ctx, x.js, x.cfg, "sick"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "park drained", 10*time.Second, func() bool { return len(x.read(routing.HoldStream, false).msgs) == 0 })
	got := x.read(routing.PeerStream("sick"), true).records
	names := map[string]bool{}
	for _, r := range got {
		names[r.RRName] = true
	}
	if len(got) != batches*per || len(names) != batches*per {
		t.Errorf("sick got %d records, %d distinct; want %d once each", len(got), len(names), batches*per)
	}
	if st := e.Stats(); st.Unparked["sick"] != batches*per || st.Delivered["sick"] != batches*per {
		t.Errorf("unparked %v, delivered %v", st.Unparked, st.Delivered)
	}
}

// TestMissingPeerStreamRepaired: the switch recreates a peer's stream that
// vanished under it, without a reload, and delivers what it parked.
func TestMissingPeerStreamRepaired(t *testing.T) {
	x := newExchange(t, parkYAML)
	tab, err := x.cfg.Table()
	if err != nil {
		t.Fatal(err)
	}
	repairs := 0
	x.startSwitchWith(tab, policy.Builtin(), engine.WithReleaseInterval(50*time.Millisecond),
		engine.WithRepair(func(ctx context.Context, peer string) error {
			repairs++
			return exchange.RepairPeer(ctx, x.js, x.cfg, peer)
		}))
	x.publish("s1", records("before-", 10, ""), cof.S2)
	waitFor(t, "first delivery", 10*time.Second, func() bool { return len(x.read(routing.PeerStream("sick"), false).msgs) == 1 })
	if err := x.js.DeleteStream(t.Context(), routing.PeerStream("sick")); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		x.publish("s1", records("after"+strconv.Itoa(i)+"-", 10, ""), cof.S2)
	}
	waitFor(t, "stream repaired and park drained", 15*time.Second, func() bool {
		s, err := x.js.Stream(t.Context(), routing.PeerStream("sick"))
		if err != nil {
			return false
		}
		info, err := s.Info(t.Context())
		return err == nil && info.State.Msgs == 5 && x.inputDrained()
	})
	if _, err := x.js.Consumer(t.Context(), routing.PeerStream("sick"), routing.PeerConsumer); err != nil {
		t.Errorf("the repaired stream lacks its consumer: %v", err)
	}
	if repairs == 0 {
		t.Error("no repair was made")
	}
}

// TestParkedOutputsOfARemovedPeerAreCounted: a peer removed by a reload
// while its outputs wait in the park: they are dropped, counted as
// peer_removed with their records, and the park is emptied.
func TestParkedOutputsOfARemovedPeerAreCounted(t *testing.T) {
	x := newExchange(t, parkYAML)
	if err := x.js.DeleteStream(t.Context(), routing.PeerStream("sick")); err != nil {
		t.Fatal(err)
	}
	tab, err := x.cfg.Table()
	if err != nil {
		t.Fatal(err)
	}
	e := x.startSwitchWith(tab, policy.Builtin(), engine.WithReleaseInterval(50*time.Millisecond))
	for i := range 4 {
		x.publish("s1", records("r"+strconv.Itoa(i)+"-", 25, ""), cof.S2)
	}
	waitFor(t, "input drained", 10*time.Second, x.inputDrained)
	without, err := config.Parse("c.yaml", []byte(strings.Replace(parkYAML, "  - {id: sick, organisation: org-a, subscriptions: [{sensors: [s1]}]}\n", "", 1)))
	if err != nil {
		t.Fatal(err)
	}
	tab2, err := without.Table()
	if err != nil {
		t.Fatal(err)
	}
	e.SetRegistry(tab2, policy.Builtin())
	// The releaser purges, then counts: wait for both.
	waitFor(t, "park emptied and counted", 10*time.Second, func() bool {
		return len(x.read(routing.HoldStream, false).msgs) == 0 && e.Stats().Dropped["sick"]["peer_removed"] != 0
	})
	if got := e.Stats().Dropped["sick"]["peer_removed"]; got != 100 {
		t.Errorf("dropped %v, want 100 records as peer_removed", e.Stats().Dropped)
	}
}
