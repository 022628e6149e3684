package engine_test

import (
	"testing"
	"time"

	"github.com/cofswitch/cofswitch/cof"
	"github.com/cofswitch/cofswitch/routing"
	"github.com/cofswitch/cofswitch/switch/engine"
)

// recv takes the next Input, or fails after d.
func recv(t *testing.T, in *engine.Inputs, d time.Duration) engine.Input {
	t.Helper()
	select {
	case b, ok := <-in.C():
		if !ok {
			t.Fatal("inputs closed")
		}
		return b
	case <-time.After(d):
		t.Fatal("no input")
	}
	return engine.Input{}
}

// TestReviewInputsLifecycle: a sensor removed by a reload while one of
// its batches is in hand and another waits for MaxInFlight; Done after
// the removal; the sensor added again gets every batch; Stop with a
// feeder blocked handing a batch returns, closes C, and a late Done does
// not block.
func TestReviewInputsLifecycle(t *testing.T) {
	x := newExchange(t, fairYAML)
	in := engine.NewInputs(x.js, engine.InputOptions{Consumer: "rv", AckWait: 30 * time.Second, MaxAckPending: 100, MaxInFlight: 1})
	a := routing.Sensor{ID: "org-a-s1"}
	b := routing.Sensor{ID: "org-b/s1"}
	for i := range 3 {
		x.publish(a.ID, records("a-", i+1, ""), cof.Identity)
	}
	in.Reconcile([]routing.Sensor{a, b})
	first := recv(t, in, 10*time.Second)
	if first.Sensor != a.ID {
		t.Fatalf("first from %s", first.Sensor)
	}
	// MaxInFlight 1: nothing more of a while first is in hand.
	select {
	case got := <-in.C():
		t.Fatalf("a second batch of %s in hand", got.Sensor)
	case <-time.After(300 * time.Millisecond):
	}
	// b is served meanwhile.
	x.publish(b.ID, records("b-", 1, ""), cof.Identity)
	if got := recv(t, in, 10*time.Second); got.Sensor != b.ID {
		t.Fatalf("got %s, want b", got.Sensor)
	} else {
		_ = got.Msg.Ack()
		got.Done()
	}
	// a removed while its batch is in hand.
	in.Reconcile([]routing.Sensor{b})
	doneReturned := make(chan struct{})
	go func() { first.Done(); close(doneReturned) }()
	select {
	case <-doneReturned:
	case <-time.After(2 * time.Second):
		t.Fatal("Done blocked after the sensor was removed")
	}
	_ = first.Msg.Ack()
	// Added again: the two others come, handed back by the halted feeder
	// with a delay past the end of its open pull request (11 s).
	in.Reconcile([]routing.Sensor{a, b})
	seen := map[uint64]int{}
	for i := range 2 {
		var got engine.Input
		select {
		case got = <-in.C():
		case <-time.After(20 * time.Second):
			st, _ := x.js.Stream(t.Context(), routing.InStream(a.ID))
			c, _ := st.Consumer(t.Context(), "rv")
			ci, _ := c.Info(t.Context())
			t.Fatalf("batch %d of a not handed again after the re-add (seen %v): consumer %+v", i+1, seen, ci)
		}
		meta, _ := got.Msg.Metadata()
		seen[meta.Sequence.Stream]++
		_ = got.Msg.Ack()
		got.Done()
	}
	if len(seen) != 2 {
		t.Errorf("batches handed: %v", seen)
	}
	// Stop with a's feeder blocked handing a batch nobody takes.
	x.publish(a.ID, records("a-late-", 1, ""), cof.Identity)
	time.Sleep(300 * time.Millisecond)
	stopped := make(chan struct{})
	go func() { in.Stop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(15 * time.Second):
		t.Fatal("Stop did not return")
	}
	if _, ok := <-in.C(); ok {
		t.Error("C not closed after Stop")
	}
	in.Stop()                         // twice: no panic
	in.Reconcile([]routing.Sensor{a}) // after Stop: nothing
	if n := x.streamMsgs(routing.InStream(a.ID)); n != 1 {
		t.Errorf("a's stream holds %d batches after Stop, want the late one", n)
	}
}

// TestReviewHeldBatchesOutliveAckWait: batches a feeder holds (waiting
// for MaxInFlight here, for the rate quota likewise) get no InProgress;
// once the ack wait passes the server redelivers them, and the same
// batch is handed to the workers twice, each time with a higher
// delivery count (which the engine counts as an attempt).
func TestReviewHeldBatchesOutliveAckWait(t *testing.T) {
	x := newExchange(t, fairYAML)
	in := engine.NewInputs(x.js, engine.InputOptions{Consumer: "rv", AckWait: time.Second, MaxAckPending: 100, MaxInFlight: 1})
	t.Cleanup(in.Stop)
	a := routing.Sensor{ID: "org-a-s1"}
	for i := range 3 {
		x.publish(a.ID, records("a-", i+1, ""), cof.Identity)
	}
	in.Reconcile([]routing.Sensor{a})
	handed := map[uint64]int{}
	maxDelivered := uint64(0)
	deadline := time.Now().Add(8 * time.Second)
	for time.Now().Before(deadline) && x.streamMsgs(routing.InStream(a.ID)) > 0 {
		select {
		case got := <-in.C():
			meta, _ := got.Msg.Metadata()
			handed[meta.Sequence.Stream]++
			maxDelivered = max(maxDelivered, meta.NumDelivered)
			// A worker busy for 1.5 ack waits, keeping its own batch alive.
			for range 3 {
				time.Sleep(500 * time.Millisecond)
				_ = got.Msg.InProgress()
			}
			_ = got.Msg.DoubleAck(t.Context())
			got.Done()
		case <-time.After(500 * time.Millisecond):
		}
	}
	t.Logf("handed %v, highest delivery count %d", handed, maxDelivered)
	for seq, n := range handed {
		if n > 1 {
			t.Errorf("batch %d handed %d times: held past the ack wait without InProgress", seq, n)
		}
	}
}
