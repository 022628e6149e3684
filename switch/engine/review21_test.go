package engine_test

// An attacker's review of the engine's signing in groups (review 21):
// every path to a peer's stream signs last, a parked copy drained later
// verifies as the peer holds it, and two peers never share a signature.

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cofswitch/cofswitch/batchsig"
	"github.com/cofswitch/cofswitch/cof"
	"github.com/cofswitch/cofswitch/routing"
)

// review21Check verifies every message of a peer's stream as the peer
// receives it, and that each header a peer relies on is covered: set
// after the signature, it would have broken verification already; changed
// now, it must.
func review21Check(t *testing.T, v *batchsig.Verifier, peer string, msgs []jetstream.Msg) map[string]bool {
	t.Helper()
	sigs := map[string]bool{}
	for i, m := range msgs {
		h := m.Headers()
		if err := v.VerifyMsg(m.Subject(), h, m.Data()); err != nil {
			t.Errorf("%s message %d: %v (headers %v)", peer, i, err, h)
			continue
		}
		if h.Get(batchsig.HeaderExchangeProof) == "" {
			t.Errorf("%s message %d: signed on its own, not in a group", peer, i)
		}
		if id := h.Get(jetstream.MsgIDHeader); strings.HasPrefix(id, "park:") || h.Get("Cofswitch-Peer-Msg-Id") != "" {
			t.Errorf("%s message %d: the park's ids reached the peer: %v", peer, i, h)
		}
		for _, k := range []string{"Content-Encoding", "Cofswitch-Records", "Cofswitch-TLP", "Cofswitch-Policy-Version", jetstream.MsgIDHeader} {
			c := nats.Header{}
			for kk, vv := range h {
				c[kk] = vv
			}
			c.Set(k, h.Get(k)+"x")
			if err := v.VerifyMsg(m.Subject(), c, m.Data()); err == nil {
				t.Errorf("%s message %d: %s changed, still verifies", peer, i, k)
			}
		}
		sigs[h.Get(batchsig.HeaderExchangeSignature)] = true
	}
	return sigs
}

// TestReview21ParkedDrainVerifies: a peer's stream gone, its outputs are
// parked two ways (the first publish fails and is parked after; the next
// ones go to the park at once, signed before), then drained when the
// stream is back: each verifies under its peer message id, and the peer
// whose stream stayed up never shares a signature with it.
func TestReview21ParkedDrainVerifies(t *testing.T) {
	x := newSignedBed(t)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := x.js.DeleteStream(ctx, routing.PeerStream("p1")); err != nil {
		t.Fatal(err)
	}
	const batches, per = 6, 5
	x.publish("s3", records("park0-", per, ""), cof.S2)
	waitFor(t, "first parked", 10*time.Second, func() bool { return x.streamMsgs(routing.HoldStream) > 0 })
	for i := 1; i < batches; i++ {
		x.publish("s3", records(fmt.Sprintf("park%d-", i), per, ""), cof.Identity)
	}
	waitFor(t, "input drained", 10*time.Second, x.inputDrained)
	if _, err := x.js.CreateStream(ctx, jetstream.StreamConfig{Name: routing.PeerStream("p1"), Subjects: []string{routing.OutSubject("p1")}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "park drained", 20*time.Second, func() bool { return x.streamMsgs(routing.HoldStream) == 0 })
	v, _ := batchsig.NewVerifier(x.exchangeKey.PublicKey())
	p1 := x.read(routing.PeerStream("p1"), true)
	if len(p1.records) != batches*per {
		t.Errorf("p1 got %d records, want %d", len(p1.records), batches*per)
	}
	p2 := x.read(routing.PeerStream("p2"), true)
	if len(p2.records) != batches*per {
		t.Errorf("p2 got %d records, want %d", len(p2.records), batches*per)
	}
	s1, s2 := review21Check(t, v, "p1", p1.msgs), review21Check(t, v, "p2", p2.msgs)
	for s := range s1 {
		if s2[s] {
			t.Errorf("p1 and p2 share the signature %s", s)
		}
	}
}

// TestReview21ConcurrentPeersNeverJoin: many batches, each to two peers,
// handled by concurrent workers whose outputs are signed together: every
// output verifies, and no signature or proof is held by both peers.
func TestReview21ConcurrentPeersNeverJoin(t *testing.T) {
	x := newSignedBed(t)
	const batches = 60
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	futs := make([]jetstream.PubAckFuture, 0, batches)
	for i := range batches {
		m := nats.NewMsg(routing.InSubject("s3"))
		m.Data = records(fmt.Sprintf("c%d-", i), 2, "")
		f, err := x.js.PublishMsgAsync(m)
		if err != nil {
			t.Fatal(err)
		}
		futs = append(futs, f)
	}
	for _, f := range futs {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			t.Fatal(err)
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		}
	}
	waitFor(t, "input drained", 20*time.Second, x.inputDrained)
	v, _ := batchsig.NewVerifier(x.exchangeKey.PublicKey())
	p1, p2 := x.read(routing.PeerStream("p1"), false).msgs, x.read(routing.PeerStream("p2"), false).msgs
	if len(p1) != batches || len(p2) != batches {
		t.Fatalf("p1 %d, p2 %d messages, want %d each", len(p1), len(p2), batches)
	}
	s1, s2 := review21Check(t, v, "p1", p1), review21Check(t, v, "p2", p2)
	for s := range s1 {
		if s2[s] {
			t.Errorf("p1 and p2 share the signature %s", s)
		}
	}
	proofs := map[string]bool{}
	for _, m := range append(p1, p2...) {
		p := m.Headers().Get(batchsig.HeaderExchangeProof)
		if proofs[p] {
			t.Errorf("a proof twice: %s", p)
		}
		proofs[p] = true
	}
	t.Logf("%d outputs to each peer: %d and %d signatures", batches, len(s1), len(s2))
}
