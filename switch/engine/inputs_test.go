package engine_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/cofswitch/cofswitch/cof"
	"github.com/cofswitch/cofswitch/routing"
	"github.com/cofswitch/cofswitch/switch/engine"
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

// TestInputsFetchFollowsBatchSize: a pull request asks for more batches
// when they are small, as many as before when they are large, and never
// brings more than four of the largest, whatever it asked for; a sensor
// under a quota, whose batches wait for it in hand, gets four. What the
// feeder pulled is read from the server (the consumer's ack-pending
// count) while it waits to hand a batch nobody takes.
func TestInputsFetchFollowsBatchSize(t *testing.T) {
	const sensor = "org-a-s1"
	// 10 small batches, then 20 of 900 KB (under the 1 MiB max_payload).
	small, big := 10, 20
	cases := []struct {
		name      string
		publish   func(x *testbed)
		rate      int64 // the sensor's quota, bytes a second (0: none)
		take      int   // batches read before the count is looked at
		want      int   // delivered and not acked after that
		otherwise int   // what a request of fetchAhead, or one without the byte cap, would give
	}{
		{"one record a batch: the second request asks for 64", func(x *testbed) {
			for i := range 200 {
				x.publish(sensor, records("s-"+string(rune('a'+i%26)), 1, ""), cof.Identity)
			}
		}, 0, 5, 4 + 64, 8},
		{"one record a batch under a quota: four a request, as before", func(x *testbed) {
			for i := range 200 {
				x.publish(sensor, records("q-"+string(rune('a'+i%26)), 1, ""), cof.Identity)
			}
		}, 1 << 20, 5, 4 + 4, 4 + 64},
		{"large batches: four a request, as before", func(x *testbed) {
			for range 30 {
				x.publish(sensor, bytes.Repeat([]byte("x"), 100<<10), cof.Identity)
			}
		}, 0, 5, 4 + 4, 0},
		{"small then the largest: the byte cap stops the request at four of them", func(x *testbed) {
			for i := range small {
				x.publish(sensor, records("s-"+string(rune('a'+i)), 1, ""), cof.Identity)
			}
			for range big {
				x.publish(sensor, bytes.Repeat([]byte("y"), 900<<10), cof.Identity)
			}
		}, 0, 5, 4 + (small - 4) + 4, 4 + (small - 4) + big},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			x := newExchange(t, fairYAML)
			tc.publish(x)
			in := engine.NewInputs(x.js, engine.InputOptions{Consumer: "fetch", AckWait: 30 * time.Second, MaxAckPending: 1000})
			in.Reconcile([]routing.Sensor{{ID: sensor, Rate: tc.rate}})
			t.Cleanup(in.Stop)
			var held []engine.Input
			for range tc.take {
				held = append(held, recv(t, in, 10*time.Second))
			}
			got := settledAckPending(t, x, sensor, "fetch")
			if got != tc.want {
				t.Errorf("delivered and not acked after %d batches taken: %d, want %d (without the change: %d)", tc.take, got, tc.want, tc.otherwise)
			}
			for _, b := range held {
				_ = b.Msg.Ack()
				b.Done()
			}
		})
	}
}
