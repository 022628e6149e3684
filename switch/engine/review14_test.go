package engine_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/cofswitch/cofswitch/cof"
	"github.com/cofswitch/cofswitch/policy"
	"github.com/cofswitch/cofswitch/routing"
	"github.com/cofswitch/cofswitch/switch/engine"
	"github.com/cofswitch/cofswitch/switch/exchange"
)

// TestStallOutlivesDuplicateWindow: a batch whose dead letters cannot be
// stored is stalled (handed back every WithStallRetry) for as long as the
// DLQ is down, and each retry publishes the healthy peers' outputs again.
// The configuration's check (duplicate_window >= ack_wait + max_attempts x
// (publish_timeout + 30 s)) bounds the attempts, not the stall: once the
// outage lasts longer than the peer stream's duplicate window (5 min by
// default), every further retry stores the healthy peer's records again.
// Here the peer's window is shortened to 1 s so that the test is quick; in
// production the same happened after 5 minutes of a DLQ (or COF_HOLD, the
// park) that cannot store. Fixed: the engine remembers which outputs an
// attempt stored (Engine.stored) and does not send them again.
func TestStallOutlivesDuplicateWindow(t *testing.T) {
	x := newExchange(t, exchangeYAML)
	ctx := t.Context()
	s, err := x.js.Stream(ctx, routing.PeerStream("peer-c"))
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cfg := info.Config
	cfg.Duplicates = time.Second
	if _, err := x.js.UpdateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	if err := x.js.DeleteStream(ctx, routing.DLQStream); err != nil {
		t.Fatal(err)
	}
	e := x.startSwitch(engine.WithMaxAttempts(2), engine.WithPublishTimeout(time.Second), engine.WithStallRetry(700*time.Millisecond))
	x.publish("org-a-s1", append(records("v-", 2, ""), "garbage\n"...), cof.Identity)
	waitFor(t, "stalled several times", 30*time.Second, func() bool { return e.Stats().Stalled >= 4 })
	if err := exchange.EnsureStreams(ctx, x.js, x.cfg); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "input drained once the DLQ is back", 20*time.Second, x.inputDrained)
	got := x.read(routing.PeerStream("peer-c"), true).records
	if len(got) != 2 {
		t.Errorf("peer-c holds %d records, want the batch's 2 once (stats: %s)", len(got), e.Stats())
	}
}

const tinyPeerYAML = `
sensors:
  - {id: s1, organisation: org-a}
peers:
  - {id: well, organisation: org-a, subscriptions: [{sensors: [s1]}]}
  - id: tiny
    organisation: org-a
    stream: {max_msgs: 3, discard: new}
    subscriptions: [{sensors: [s1]}]
`

// TestParkOfAFullPeerIsNotHeldForever: a peer whose stream is limited
// with discard new is, by the configuration, a peer whose excess is
// dropped and counted, never held. But once its outputs were parked (its
// stream was gone for a moment) and the stream comes back with less room
// than the park holds, the park never drains: each sweep fails on the full
// stream, the peer stays marked down, and every later output of that peer
// goes to COF_HOLD, which grows without bound (streams.hold has no limit
// by default) until the disk fills and the whole exchange stalls.
//
// Fixed: a delivery from the park that the peer's own limit refuses for
// good is dropped and counted, as a direct one would be.
func TestParkOfAFullPeerIsNotHeldForever(t *testing.T) {
	x := newExchange(t, tinyPeerYAML)
	ctx := t.Context()
	if err := x.js.DeleteStream(ctx, routing.PeerStream("tiny")); err != nil {
		t.Fatal(err)
	}
	tab, err := x.cfg.Table()
	if err != nil {
		t.Fatal(err)
	}
	e := x.startSwitchWith(tab, policy.Builtin(), engine.WithReleaseInterval(50*time.Millisecond))
	for i := range 10 {
		x.publish("s1", records("p"+strconv.Itoa(i)+"-", 5, ""), cof.S2)
	}
	waitFor(t, "input drained", 10*time.Second, x.inputDrained)
	if err := exchange.RepairPeer(ctx, x.js, x.cfg, "tiny"); err != nil {
		t.Fatal(err)
	}
	// Later outputs, with the stream back (and full after 3).
	for i := range 5 {
		x.publish("s1", records("q"+strconv.Itoa(i)+"-", 5, ""), cof.S2)
	}
	waitFor(t, "input drained", 10*time.Second, x.inputDrained)
	time.Sleep(3 * time.Second)
	if n := x.streamMsgs(routing.HoldStream); n != 0 {
		t.Errorf("COF_HOLD still holds %d parked outputs of a peer whose stream is full with discard new (stats: %s, dropped %v)", n, e.Stats(), e.Stats().Dropped)
	}
}
