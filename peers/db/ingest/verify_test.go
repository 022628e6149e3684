package ingest_test

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"github.com/cofswitch/cofswitch/batchsig"
	"github.com/cofswitch/cofswitch/cof"
	"github.com/cofswitch/cofswitch/peers/db"
	"github.com/cofswitch/cofswitch/peers/db/dbtest"
	"github.com/cofswitch/cofswitch/peers/db/ingest"
	"github.com/cofswitch/cofswitch/peers/feed"
	"github.com/cofswitch/cofswitch/routing"
	"github.com/cofswitch/cofswitch/switch/exchange/exchangetest"
)

// TestIngesterRefusesUnverified: with a guard, the database applies the
// batches the exchange signed and none of those unsigned, altered after
// signing, or signed by another key; the refused ones are terminated, so
// the consumer ends with nothing pending.
func TestIngesterRefusesUnverified(t *testing.T) {
	_, js := exchangetest.PeerFeed(t)
	codec, err := cof.NewCodec()
	if err != nil {
		t.Fatal(err)
	}
	defer codec.Close()
	exchangeKP, _ := nkeys.CreateServer()
	exchange, _ := batchsig.NewSigner(exchangeKP)
	otherKP, _ := nkeys.CreateServer()
	other, _ := batchsig.NewSigner(otherKP)
	send := func(name string, signer *batchsig.Signer, alter bool) {
		body := fmt.Appendf(nil, `{"rrname":"%s.example","rrtype":"A","rdata":["192.0.2.1"],"time_first":1,"time_last":2}`+"\n", name)
		m := nats.NewMsg(routing.OutSubject(exchangetest.Peer))
		m.Data, _ = codec.Compress(nil, body, cof.S2)
		m.Header.Set("Content-Encoding", "s2")
		m.Header.Set("Cofswitch-Records", "1")
		m.Header.Set("Nats-Msg-Id", name)
		if signer != nil {
			m.Header.Set(batchsig.HeaderExchangeSignature, signer.SignOutput(batchsig.OutputOf(m.Subject, m.Header), m.Data))
		}
		if alter {
			m.Header.Set("Cofswitch-Records", "2")
		}
		if _, err := js.PublishMsg(t.Context(), m); err != nil {
			t.Fatal(err)
		}
	}
	send("good-1", exchange, false)
	send("unsigned", nil, false)
	send("altered", exchange, true)
	send("other-key", other, false)
	send("good-2", exchange, false)
	cons := exchangetest.Consumer(t, js)
	v, _ := batchsig.NewVerifier(exchange.PublicKey())
	guard := feed.NewGuard(v, "db", slog.New(slog.DiscardHandler))
	mem := dbtest.New(t)
	in := &ingest.Ingester{Consumer: cons, Stream: routing.PeerStream(exchangetest.Peer), Store: mem,
		Save: func() error { return nil }, Every: 50 * time.Millisecond, Guard: guard}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- in.Run(ctx) }()
	for deadline := time.Now().Add(10 * time.Second); ; {
		ci, err := cons.Info(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if ci.NumAckPending == 0 && ci.NumPending == 0 && ci.AckFloor.Stream == 5 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not all settled: %+v, stats %+v", ci, in.Stats())
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if st := in.Stats(); st.Batches != 2 || st.Records != 2 {
		t.Errorf("stats %+v, want the 2 good batches applied", st)
	}
	for name, want := range map[string]int{"good-1": 1, "good-2": 1, "unsigned": 0, "altered": 0, "other-key": 0} {
		rs, err := mem.Lookup(t.Context(), db.Query{Name: name + ".example"})
		if err != nil || len(rs) != want {
			t.Errorf("%s: %d rrsets (%v), want %d", name, len(rs), err, want)
		}
	}
	if u, b := guard.Refused(); u != 1 || b != 2 {
		t.Errorf("refused %d unsigned, %d bad; want 1 and 2", u, b)
	}
}
