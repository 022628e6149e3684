package integration

import (
	"regexp"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/cofswitch/cofswitch/batchsig"
	"github.com/cofswitch/cofswitch/routing"
)

// exchangeKeyRE finds the public key serve logs at start.
var exchangeKeyRE = regexp.MustCompile(`exchange_key=([A-Z0-9]+)`)

// exchangeKey waits for serve's log of its signing key and returns it.
func exchangeKey(t *testing.T, sw *proc) string {
	t.Helper()
	var key string
	waitFor(t, "serve's exchange_key", 20*time.Second, func() bool {
		m := exchangeKeyRE.FindStringSubmatch(sw.output())
		if m != nil {
			key = m[1]
		}
		return m != nil
	})
	return key
}

// verifyPeer checks that every batch on a peer's stream verifies under
// the exchange's key, and returns how many it checked.
func verifyPeer(t *testing.T, js jetstream.JetStream, peer, key string) int {
	t.Helper()
	v, err := batchsig.NewVerifier(key)
	if err != nil {
		t.Fatal(err)
	}
	cons, err := js.OrderedConsumer(t.Context(), routing.PeerStream(peer), jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for {
		m, err := cons.Next(jetstream.FetchMaxWait(time.Second))
		if err != nil {
			return n
		}
		if err := v.VerifyMsg(m.Subject(), m.Headers(), m.Data()); err != nil {
			meta, _ := m.Metadata()
			t.Errorf("%s: batch %v: %v", peer, meta.Sequence.Stream, err)
		}
		n++
	}
}
