package engine_test

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cofswitch/cofswitch/bus/bustest"
	"github.com/cofswitch/cofswitch/cof"
	"github.com/cofswitch/cofswitch/config"
	"github.com/cofswitch/cofswitch/routing"
	"github.com/cofswitch/cofswitch/switch/engine"
	"github.com/cofswitch/cofswitch/switch/exchange"
)

// ackPending is how many batches the consumer has delivered and not seen
// acked: what the feeder pulled.
func ackPending(t *testing.T, x *testbed, sensor, consumer string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := x.js.Consumer(ctx, routing.InStream(sensor), consumer)
	if err != nil {
		t.Fatal(err)
	}
	info, err := c.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return info.NumAckPending
}

// settledAckPending waits until the consumer's delivered count stops
// moving (the feeder's request in flight is answered) and returns it.
func settledAckPending(t *testing.T, x *testbed, sensor, consumer string) int {
	t.Helper()
	last, same := -1, 0
	for range 100 {
		n := ackPending(t, x, sensor, consumer)
		if n == last {
			if same++; same == 5 {
				return n
			}
		} else {
			last, same = n, 0
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("the consumer's pending count did not settle (last %d)", last)
	return 0
}

// TestInputsFetchFollowsBatchSize: pull requests ask for more batches
// when they are small and handed over quickly (4, 8, 16, 32, then 64),
// and for four when they are large (the largest of the last request
// counts, not the mean), handed over slowly or held to a quota. What the
// feeder pulled is read from the server (the consumer's
// ack-pending count) while it waits to hand a batch nobody takes.
func TestInputsFetchFollowsBatchSize(t *testing.T) {
	const sensor = "org-a-s1"
	smallBatches := func(n int) func(x *testbed) {
		return func(x *testbed) {
			for i := range n {
				x.publish(sensor, records(fmt.Sprintf("s%d-", i), 1, ""), cof.Identity)
			}
		}
	}
	const grown = 4 + 8 + 16 + 32 // taken by the first four requests
	cases := []struct {
		name      string
		publish   func(x *testbed)
		rate      int64         // the sensor's quota, bytes a second (0: none)
		ackWait   time.Duration // 0: 30 s
		take      int           // batches read before the count is looked at
		pause     time.Duration // between two reads
		want      int           // delivered and not acked after that
		otherwise int           // what requests of four, or of 64 at once, or without the byte cap would give
	}{
		{"one record a batch, handed over quickly: the fifth request asks for 64",
			smallBatches(300), 0, 0, grown + 1, 0, grown + 64, grown + 4},
		{"one record a batch, handed over slowly: four a request",
			smallBatches(100), 0, time.Second, 9, 100 * time.Millisecond, 4 + 4 + 4, 4 + 64},
		{"one record a batch under a quota: four a request",
			smallBatches(100), 1 << 20, 0, 9, 0, 4 + 4 + 4, grown},
		{"large batches: four a request", func(x *testbed) {
			for range 30 {
				x.publish(sensor, bytes.Repeat([]byte("x"), 100<<10), cof.Identity)
			}
		}, 0, 0, 9, 0, 4 + 4 + 4, 4 + 8},
		{"a large batch among small ones: four the next request", func(x *testbed) {
			smallBatches(grown)(x)
			x.publish(sensor, bytes.Repeat([]byte("y"), 100<<10), cof.Identity)
			smallBatches(100)(x)
		}, 0, 0, grown + 64 + 1, 0, grown + 64 + 4, grown + 64 + 36},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			x := newExchange(t, fairYAML)
			tc.publish(x)
			wait := cmp.Or(tc.ackWait, 30*time.Second)
			in := engine.NewInputs(x.js, engine.InputOptions{Consumer: "fetch", AckWait: wait, MaxAckPending: 1000})
			in.Reconcile([]routing.Sensor{{ID: sensor, Rate: tc.rate}})
			t.Cleanup(in.Stop)
			var held []engine.Input
			for range tc.take {
				held = append(held, recv(t, in, 10*time.Second))
				time.Sleep(tc.pause)
			}
			got := settledAckPending(t, x, sensor, "fetch")
			if got != tc.want {
				t.Errorf("delivered and not acked after %d batches taken: %d, want %d (otherwise: %d)", tc.take, got, tc.want, tc.otherwise)
			}
			for _, b := range held {
				_ = b.Msg.Ack()
				b.Done()
			}
		})
	}
}

// TestInputsOnACluster: the feeders pull every batch of an R3 stream on
// a 3-node cluster. The first version of the request sizing capped
// requests in bytes, and nats-server answers such a request on an R3
// consumer with "409 Batch Completed" and none of its messages: nothing
// was switched.
func TestInputsOnACluster(t *testing.T) {
	_, urls := bustest.Cluster(t, 3)
	cfg, err := config.Parse("t.yaml", []byte(`
sensors: [{id: s1}]
peers: [{id: p, subscriptions: [{sensors: ["*"], policy: pass, tlp: CLEAR}]}]
streams: {replicas: 3}
`))
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(urls)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := exchange.EnsureStreams(ctx, js, cfg); err != nil {
		t.Fatal(err)
	}
	const n = 300
	for i := range n {
		m := nats.NewMsg(routing.InSubject("s1"))
		m.Data = records(fmt.Sprintf("c%d-", i), 1, "")
		if _, err := js.PublishMsg(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	in := engine.NewInputs(js, engine.InputOptions{Consumer: "c", AckWait: 30 * time.Second, MaxAckPending: 256, MaxInFlight: 4, Log: testLogger(t)})
	in.Reconcile([]routing.Sensor{{ID: "s1"}})
	t.Cleanup(in.Stop)
	for got := range n {
		select {
		case b := <-in.C():
			if err := b.Msg.DoubleAck(ctx); err != nil {
				t.Fatal(err)
			}
			b.Done()
		case <-time.After(20 * time.Second):
			t.Fatalf("%d of %d batches pulled, then none for 20 s", got, n)
		}
	}
}
