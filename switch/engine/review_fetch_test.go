package engine_test

// Review of the pull-request sizing (commits 122c82c and 1ded908): each
// feeder asks for fetchCount(mean) batches with FetchMaxBytes(4 x
// (max_payload + 4 KiB)).

import (
	"bytes"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cofswitch/cofswitch/bus/bustest"
	"github.com/cofswitch/cofswitch/config"
	"github.com/cofswitch/cofswitch/routing"
	"github.com/cofswitch/cofswitch/switch/engine"
	"github.com/cofswitch/cofswitch/switch/exchange"
)

// startNATS starts a plain JetStream server (as an operator's external
// bus, config nats.urls) on addr and store with the given max_payload.
func startNATS(t *testing.T, addr, store string, maxPayload int32) *server.Server {
	t.Helper()
	host, port, _ := net.SplitHostPort(addr)
	var p int
	fmt.Sscan(port, &p)
	s, err := server.NewServer(&server.Options{Host: host, Port: p, JetStream: true, StoreDir: store,
		MaxPayload: maxPayload, NoSigs: true, NoLog: true})
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("server not ready")
	}
	return s
}

// TestReviewFetchMessageAboveByteCap: a batch stored while the bus let
// 5 MiB through (max_payload 8 MiB) is still in the sensor's stream when
// the operator restarts the bus with the default 1 MiB. The first version
// of the request sizing capped a request at 4 x (1 MiB + 4 KiB), below
// that one message: the server ended every pull request at once with
// "409 Message Size Exceeds MaxBytes", which Fetch swallows (no error, no
// message), and the feeder pulled again at once, forever: the sensor's
// input was stuck behind that batch and the feeder spun on pull
// requests. Requests have no byte cap now (see fetchMost); this keeps
// one from coming back with that flaw.
func TestReviewFetchMessageAboveByteCap(t *testing.T) {
	const sensor = "s1"
	cfg, err := config.Parse("t.yaml", []byte(`
sensors: [{id: s1}]
peers: [{id: p, subscriptions: [{sensors: ["*"], policy: pass, tlp: CLEAR}]}]
`))
	if err != nil {
		t.Fatal(err)
	}
	addr := bustest.FreeAddr(t) // the same across restarts: the client finds the server again
	store := t.TempDir()

	// The bus as it was: max_payload 8 MiB, a 5 MiB batch and a small one.
	s := startNATS(t, addr, store, 8<<20)
	nc, err := nats.Connect("nats://" + addr)
	if err != nil {
		t.Fatal(err)
	}
	js, _ := jetstream.New(nc)
	if err := exchange.EnsureStreams(t.Context(), js, cfg); err != nil {
		t.Fatal(err)
	}
	for _, body := range [][]byte{bytes.Repeat([]byte("x"), 5<<20), records("r-", 1, "")} {
		if _, err := js.Publish(t.Context(), routing.InSubject(sensor), body); err != nil {
			t.Fatal(err)
		}
	}
	nc.Close()
	s.Shutdown()
	s.WaitForShutdown()

	// Restarted with the default max_payload.
	s = startNATS(t, addr, store, 1<<20)
	t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	nc, err = nats.Connect("nats://" + addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, _ = jetstream.New(nc)

	// Count the feeder's pull requests.
	var pulls atomic.Int64
	sub, err := nc.Subscribe("$JS.API.CONSUMER.MSG.NEXT."+routing.InStream(sensor)+".fetch", func(*nats.Msg) { pulls.Add(1) })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })

	in := engine.NewInputs(js, engine.InputOptions{Consumer: "fetch", AckWait: 30 * time.Second, MaxAckPending: 256})
	in.Reconcile([]routing.Sensor{{ID: sensor}})
	t.Cleanup(in.Stop)
	start := time.Now()
	select {
	case b := <-in.C():
		t.Logf("got a batch of %d bytes after %v, %d pull requests", len(b.Msg.Data()), time.Since(start), pulls.Load())
		_ = b.Msg.Ack()
		b.Done()
	case <-time.After(3 * time.Second):
		t.Errorf("no batch in 3 s: the sensor's input is stuck behind its 5 MiB batch; the feeder sent %d pull requests meanwhile (%.0f a second)",
			pulls.Load(), float64(pulls.Load())/time.Since(start).Seconds())
	}
}

// manySensorsYAML registers n sensors s0..s<n-1> and one peer taking all.
func manySensorsYAML(n int) string {
	y := "sensors:\n"
	for i := range n {
		y += fmt.Sprintf("  - {id: s%d}\n", i)
	}
	return y + "peers: [{id: p, subscriptions: [{sensors: [\"*\"], policy: pass, tlp: CLEAR}]}]\n"
}

// TestReviewFetchHeldBatchesOutliveAckWait: the exchange catching up (ten
// sensors with a backlog of one-record batches, two processes sharing the
// durable consumer, as deployed; each process's workers give a sensor a
// turn every ~50 ms). A feeder now holds 64 batches from one request,
// handed one a turn, not kept alive (InProgress starts only in a worker):
// the last wait ~3 s, past the ack wait (2 s here, so that a slow machine
// holding four is still well within it; with 30 s, a turn of
// 0.5 s trips it: a thousand sensors at ~1 ms a batch on 2 cores). The
// server redelivers them to the other process (or the next request) while
// the first still holds them: the same batch is switched twice, and each
// expiry counts as a delivery attempt (NumDelivered), which handle()
// compares with max attempts (5: the last attempt gives a batch up on a
// transient publish failure). With four a request (before), a batch
// waited ~200 ms: none expired.
func TestReviewFetchHeldBatchesOutliveAckWait(t *testing.T) {
	const sensors, backlog, workers = 10, 150, 2
	x := newExchange(t, manySensorsYAML(sensors))
	var ids []routing.Sensor
	for i := range sensors {
		ids = append(ids, routing.Sensor{ID: fmt.Sprintf("s%d", i)})
	}
	for i := range backlog {
		for _, s := range ids {
			m := nats.NewMsg(routing.InSubject(s.ID))
			m.Data = records(fmt.Sprintf("b%d-", i), 1, "")
			if _, err := x.js.PublishMsgAsync(m); err != nil {
				t.Fatal(err)
			}
		}
	}
	<-x.js.PublishAsyncComplete()

	type key struct {
		sensor string
		seq    uint64
	}
	var mu sync.Mutex
	seen := map[key]int{}
	maxDelivered := uint64(0)
	var handled atomic.Int64
	var wg sync.WaitGroup
	for range 2 { // two processes on the shared durable consumer
		nc, err := nats.Connect(x.url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		js, _ := jetstream.New(nc)
		in := engine.NewInputs(js, engine.InputOptions{Consumer: "cofswitch", AckWait: 2 * time.Second, MaxAckPending: engine.DefaultMaxAckPending, MaxInFlight: 1})
		in.Reconcile(ids)
		t.Cleanup(in.Stop)
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for b := range in.C() {
					meta, _ := b.Msg.Metadata()
					mu.Lock()
					seen[key{b.Sensor, meta.Sequence.Stream}]++
					maxDelivered = max(maxDelivered, meta.NumDelivered)
					mu.Unlock()
					time.Sleep(10 * time.Millisecond) // switching it
					_ = b.Msg.DoubleAck(t.Context())
					b.Done()
					handled.Add(1)
				}
			}()
		}
	}
	waitFor(t, "the backlogs drained", 2*time.Minute, x.inputDrained)
	mu.Lock()
	defer mu.Unlock()
	twice := 0
	for _, n := range seen {
		if n > 1 {
			twice++
		}
	}
	t.Logf("%d batches, %d handed over, %d distinct; highest NumDelivered %d", sensors*backlog, handled.Load(), len(seen), maxDelivered)
	if twice > 0 || maxDelivered > 1 {
		t.Errorf("%d batches were handed over more than once (redelivered after their ack wait ran out in a feeder's hand); highest NumDelivered %d (max attempts %d)",
			twice, maxDelivered, engine.DefaultMaxAttempts)
	}
}
