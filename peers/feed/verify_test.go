package feed_test

import (
	"bytes"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/cofswitch/cofswitch/batchsig"
	"github.com/cofswitch/cofswitch/cof"
	"github.com/cofswitch/cofswitch/peers/feed"
	"github.com/cofswitch/cofswitch/routing"
	"github.com/cofswitch/cofswitch/switch/exchange/exchangetest"
)

// TestTailVerifies: a tail given the exchange's key prints the batches it
// signed and no other, through an ordered consumer and by direct get.
func TestTailVerifies(t *testing.T) {
	_, js := exchangetest.PeerFeed(t)
	kp, _ := nkeys.CreateServer()
	signer, _ := batchsig.NewSigner(kp)
	codec, err := cof.NewCodec()
	if err != nil {
		t.Fatal(err)
	}
	defer codec.Close()
	for i, signed := range []bool{true, false, true} {
		m := nats.NewMsg(routing.OutSubject(exchangetest.Peer))
		m.Data, _ = codec.Compress(nil, exchangetest.Batch(i, 2), cof.Zstd)
		m.Header.Set("Content-Encoding", "zstd")
		if signed {
			m.Header.Set(batchsig.HeaderExchangeSignature, signer.SignOutput(batchsig.OutputOf(m.Subject, m.Header), m.Data))
		}
		if _, err := js.PublishMsg(t.Context(), m); err != nil {
			t.Fatal(err)
		}
	}
	v, _ := batchsig.NewVerifier(signer.PublicKey())
	for _, direct := range []bool{false, true} {
		guard := feed.NewGuard(v, "tail", slog.New(slog.DiscardHandler))
		var out bytes.Buffer
		o := feed.TailOptions{FromStart: true, Idle: 300 * time.Millisecond, Direct: direct, Poll: 10 * time.Millisecond, Guard: guard}
		n, err := feed.Tail(t.Context(), js, exchangetest.Peer, o, &out)
		if err != nil || n != 4 {
			t.Fatalf("direct %v: %d records, %v; want 4", direct, n, err)
		}
		if bytes.Contains(out.Bytes(), []byte("b1-")) || !bytes.Contains(out.Bytes(), []byte("b2-r1")) {
			t.Errorf("direct %v: printed %s", direct, out.Bytes())
		}
		if u, b := guard.Refused(); u != 1 || b != 0 {
			t.Errorf("direct %v: refused %d unsigned, %d bad", direct, u, b)
		}
		if c := testutil.CollectAndCount(guard); c != 2 {
			t.Errorf("the guard's metric has %d series, want 2", c)
		}
	}
}
