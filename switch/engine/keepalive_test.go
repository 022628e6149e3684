package engine

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/cofswitch/cofswitch/bus/bustest"
)

// TestInHandKeepsBatchesAlive: on a real server, batches held past their
// consumer's ack wait are not redelivered while the shared keep-alive
// runs; once let go unacked, they are.
func TestInHandKeepsBatchesAlive(t *testing.T) {
	_, _, js := bustest.Server(t)
	ctx := t.Context()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "K", Subjects: []string{"k.>"}}); err != nil {
		t.Fatal(err)
	}
	const ackWait = 600 * time.Millisecond
	cons, err := js.CreateConsumer(ctx, "K", jetstream.ConsumerConfig{Durable: "c", AckPolicy: jetstream.AckExplicitPolicy, AckWait: ackWait})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := js.Publish(ctx, "k.a", []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	batch, err := cons.Fetch(3, jetstream.FetchMaxWait(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	h := newInHand()
	var lets []func()
	for m := range batch.Messages() {
		lets = append(lets, h.hold(m))
	}
	if len(lets) != 3 {
		t.Fatalf("fetched %d batches, want 3", len(lets))
	}
	kctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); h.run(kctx, ackWait/3) }()
	defer func() { stop(); <-done }()

	// What the server hands out again: the batches whose ack wait ran out.
	redelivered := func() int {
		b, err := cons.Fetch(3, jetstream.FetchMaxWait(300*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for m := range b.Messages() {
			n++
			_ = m.Ack()
		}
		return n
	}
	// One let go: the others stay held past three ack waits.
	lets[0]()
	time.Sleep(3 * ackWait)
	if n := redelivered(); n != 1 {
		t.Errorf("after three ack waits with two of three batches held: %d redelivered, want 1 (the one let go)", n)
	}
	lets[1]()
	lets[2]()
	time.Sleep(2 * ackWait)
	if n := redelivered(); n != 2 {
		t.Errorf("after letting the others go: %d redelivered, want 2", n)
	}
}
