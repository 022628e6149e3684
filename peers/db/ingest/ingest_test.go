package ingest_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cofswitch/cofswitch/cof"
	"github.com/cofswitch/cofswitch/peers/db"
	"github.com/cofswitch/cofswitch/peers/db/dbtest"
	"github.com/cofswitch/cofswitch/peers/db/ingest"
	"github.com/cofswitch/cofswitch/routing"
	"github.com/cofswitch/cofswitch/switch/exchange/exchangetest"
)

// feedOf starts a server with peer p's stream holding n batches of per
// records, each rrset seen twice (in batch i and i+1 when i is even), and
// one undecodable batch.
func feedOf(t *testing.T, n, per int) (jetstream.JetStream, jetstream.Consumer) {
	t.Helper()
	_, js := exchangetest.PeerFeed(t)
	for i := range n {
		var body []byte
		for j := range per {
			body = fmt.Appendf(body, `{"rrname":"r%d.example","rrtype":"A","rdata":["192.0.2.1"],"time_first":%d,"time_last":%d,"count":1}`+"\n",
				(i/2)*per+j, 100+i, 200+i)
		}
		exchangetest.Store(t, js, body, cof.S2, nil)
	}
	m := nats.NewMsg(routing.OutSubject("p"))
	m.Data = []byte("garbage")
	m.Header.Set("Content-Encoding", "zstd")
	if _, err := js.PublishMsg(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	return js, exchangetest.Consumer(t, js)
}

func TestIngester(t *testing.T) {
	js, cons := feedOf(t, 6, 10)
	mem := dbtest.New(t)
	saves := 0
	in := &ingest.Ingester{Consumer: cons, Stream: routing.PeerStream("p"), Store: mem,
		Save: func() error { saves++; return nil }, Every: 50 * time.Millisecond}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- in.Run(ctx) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ci, err := cons.Info(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if ci.NumAckPending == 0 && ci.NumPending == 0 && in.Stats().Checkpoints > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not all acked: %+v, stats %+v", ci, in.Stats())
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	st := in.Stats()
	// 6 batches applied; the undecodable one is logged and acked (it can
	// never be read), not applied.
	if st.Batches != 6 || st.Records != 60 || st.Skipped != 0 || saves == 0 {
		t.Fatalf("stats %+v, saves %d", st, saves)
	}
	// Len is the store's HyperLogLog estimate: two of 30 rrsets in one
	// of its 16,384 registers (2.6% of runs) read 29.
	if n := mem.Len(); n < 29 || n > 30 {
		t.Fatalf("store holds %d rrsets, want 30 (each seen twice)", mem.Len())
	}
	rs, err := mem.Lookup(t.Context(), db.Query{Name: "r0.example"})
	if err != nil || len(rs) != 1 || rs[0].Count != 2 || rs[0].TimeFirst != 100 || rs[0].TimeLast != 201 {
		t.Fatalf("r0.example = %+v, %v; want count 2, 100..201", rs, err)
	}
	if applied, _ := mem.Applied(t.Context(), routing.PeerStream("p")); applied < 6 {
		t.Errorf("applied through %d, want at least 6", applied)
	}

	// Delivered again (a crash before the acks), the same batches are
	// skipped: each is applied once.
	cons2, err := js.CreateOrUpdateConsumer(t.Context(), routing.PeerStream("p"), jetstream.ConsumerConfig{Durable: "again", AckPolicy: jetstream.AckExplicitPolicy})
	if err != nil {
		t.Fatal(err)
	}
	in2 := &ingest.Ingester{Consumer: cons2, Stream: routing.PeerStream("p"), Store: mem, Every: 20 * time.Millisecond}
	ctx2, cancel2 := context.WithTimeout(t.Context(), 1500*time.Millisecond)
	defer cancel2()
	if err := in2.Run(ctx2); err != nil {
		t.Fatal(err)
	}
	if st := in2.Stats(); st.Batches != 0 || st.Skipped != 6 {
		t.Fatalf("redelivered: %+v, want 6 skipped and none applied", st)
	}
	if rs, _ := mem.Lookup(t.Context(), db.Query{Name: "r0.example"}); rs[0].Count != 2 {
		t.Fatalf("count %d after redelivery, want 2", rs[0].Count)
	}
}

// A save that fails stops the ingester before anything is acked, so the
// server redelivers.
func TestIngesterSaveFails(t *testing.T) {
	_, cons := feedOf(t, 2, 5)
	mem := dbtest.New(t)
	in := &ingest.Ingester{Consumer: cons, Stream: routing.PeerStream("p"), Store: mem,
		Save: func() error { return fmt.Errorf("disk full") }, Every: 20 * time.Millisecond}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := in.Run(ctx); err == nil || err.Error() != "disk full" {
		t.Fatalf("Run = %v, want the save's error", err)
	}
	ci, err := cons.Info(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if ci.AckFloor.Stream != 0 {
		t.Fatalf("acked through %d although nothing was saved", ci.AckFloor.Stream)
	}
}
