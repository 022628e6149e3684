package sink_test

import (
	"bytes"
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"

	"github.com/cofswitch/cofswitch/batchsig"
	"github.com/cofswitch/cofswitch/peers/feed"
	"github.com/cofswitch/cofswitch/peers/sink"
	"github.com/cofswitch/cofswitch/routing"
	"github.com/cofswitch/cofswitch/switch/exchange/exchangetest"
)

// memSink keeps what it is given.
type memSink struct {
	mu      sync.Mutex
	batches []sink.Batch
}

func (m *memSink) Deliver(_ context.Context, b sink.Batch) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.batches = append(m.batches, b)
	return nil
}

func (m *memSink) Close() error { return nil }

func (m *memSink) bodies() []byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	var all []byte
	for _, b := range m.batches {
		all = append(all, b.Body...)
	}
	return all
}

const signedYAML = `
nats: {auth: none}
sensors:
  - {id: s1, organisation: a}
peers:
  - {id: p1, organisation: a, subscriptions: [{sensors: ['*'], policy: pass, tlp: AMBER}]}
`

// TestSinkVerifiesTheExchange runs a whole exchange, which signs its
// outputs, and a sink that verifies them: with the exchange's key it
// delivers the switch's batches and refuses what an attacker who can
// publish on the peer's stream put there; with another key it delivers
// nothing. Refused batches are terminated: the consumer has nothing left
// pending and nothing comes again.
func TestSinkVerifiesTheExchange(t *testing.T) {
	other, _ := nkeys.CreateServer()
	otherPub, _ := other.PublicKey()
	for _, tt := range []struct {
		name          string
		key           func(exchangeKey string) string // "" for no guard
		wantGenuine   bool
		wantForgedOut bool // the attacker's batches delivered
		unsigned, bad uint64
	}{
		{name: "the exchange's key", key: func(k string) string { return k }, wantGenuine: true, unsigned: 1, bad: 1},
		{name: "another key", key: func(string) string { return otherPub }, unsigned: 1, bad: 3},
		{name: "no key: as before", key: func(string) string { return "" }, wantGenuine: true, wantForgedOut: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx, x := exchangetest.Embedded(t, signedYAML)
			js := x.JetStream()
			exchangeKey := x.Engine().SigningKey()
			if exchangeKey == "" {
				t.Fatal("the exchange signs nothing")
			}
			for _, body := range []string{"genuine-1", "genuine-2"} {
				m := nats.NewMsg(routing.InSubject("s1"))
				m.Data = exchangetest.Batch(0, 2)
				m.Data = bytes.ReplaceAll(m.Data, []byte("b0-"), []byte(body+"-"))
				if _, err := js.PublishMsg(ctx, m); err != nil {
					t.Fatal(err)
				}
			}
			stream, err := js.Stream(ctx, routing.PeerStream("p1"))
			if err != nil {
				t.Fatal(err)
			}
			for deadline := time.Now().Add(10 * time.Second); ; {
				info, err := stream.Info(ctx)
				if err == nil && info.State.Msgs == 2 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("the switch delivered %v", info)
				}
				time.Sleep(20 * time.Millisecond)
			}
			// The attacker copies a genuine batch's headers, signature
			// included, onto its own payload, and sends one unsigned.
			genuine, err := stream.GetMsg(ctx, 1)
			if err != nil {
				t.Fatal(err)
			}
			forged := nats.NewMsg(routing.OutSubject("p1"))
			for k, v := range genuine.Header {
				forged.Header[k] = v
			}
			forged.Header.Set(jetstream.MsgIDHeader, "forged")
			forged.Data = exchangetest.Batch(66, 2)
			forged.Header.Del("Content-Encoding")
			unsigned := nats.NewMsg(routing.OutSubject("p1"))
			unsigned.Data = exchangetest.Batch(77, 2)
			for _, m := range []*nats.Msg{forged, unsigned} {
				if _, err := js.PublishMsg(ctx, m); err != nil {
					t.Fatal(err)
				}
			}
			var guard *feed.Guard
			if k := tt.key(exchangeKey); k != "" {
				v, err := batchsig.LoadVerifier(k)
				if err != nil {
					t.Fatal(err)
				}
				guard = feed.NewGuard(v, "sink", slog.New(slog.DiscardHandler))
			}
			cons, err := js.Consumer(ctx, routing.PeerStream("p1"), routing.PeerConsumer)
			if err != nil {
				t.Fatal(err)
			}
			dest := &memSink{}
			r := &sink.Runner{Consumer: cons, Stream: routing.PeerStream("p1"), Sink: dest, Log: slog.New(slog.DiscardHandler), Guard: guard}
			run(t, r, func() bool {
				info, err := cons.Info(ctx)
				return err == nil && info.NumPending == 0 && info.NumAckPending == 0 && info.AckFloor.Stream == 4
			})
			got := dest.bodies()
			if has := bytes.Contains(got, []byte("genuine-1")) && bytes.Contains(got, []byte("genuine-2")); has != tt.wantGenuine {
				t.Errorf("genuine batches delivered: %v, want %v", has, tt.wantGenuine)
			}
			if has := bytes.Contains(got, []byte("b66-")) || bytes.Contains(got, []byte("b77-")); has != tt.wantForgedOut {
				t.Errorf("forged batches delivered: %v, want %v", has, tt.wantForgedOut)
			}
			if u, b := guard.Refused(); u != tt.unsigned || b != tt.bad {
				t.Errorf("refused: %d unsigned, %d bad, want %d and %d", u, b, tt.unsigned, tt.bad)
			}
		})
	}
}
