package feed_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cofswitch/cofswitch/cof"
	"github.com/cofswitch/cofswitch/peers/feed"
	"github.com/cofswitch/cofswitch/routing"
	"github.com/cofswitch/cofswitch/switch/exchange/exchangetest"
)

// peerFeed starts a server with peer p's stream and consumer, holding n
// batches of per records in encoding enc, as the switch writes them.
func peerFeed(t *testing.T, n, per int, enc cof.Encoding) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc, js := exchangetest.PeerFeed(t)
	for i := range n {
		exchangetest.Store(t, js, exchangetest.Batch(i, per), enc, nil)
	}
	return nc, js
}

func TestBind(t *testing.T) {
	nc, _ := peerFeed(t, 1, 1, cof.S2)
	cons, err := feed.Bind(t.Context(), nc, "p", "", routing.PeerConsumer)
	if err != nil {
		t.Fatal(err)
	}
	if cons.CachedInfo().Stream != routing.PeerStream("p") {
		t.Errorf("bound %s", cons.CachedInfo().Stream)
	}
	for _, tt := range []struct{ name, peer, consumer string }{
		{"a consumer the switch did not provision", "p", "mine"},
		{"another peer's stream", "q", routing.PeerConsumer},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := feed.Bind(t.Context(), nc, tt.peer, "", tt.consumer)
			if !errors.Is(err, feed.ErrBind) || !strings.Contains(err.Error(), routing.PeerStream(tt.peer)) {
				t.Fatalf("err = %v, want ErrBind naming the stream", err)
			}
		})
	}
}

func TestTail(t *testing.T) {
	_, js := peerFeed(t, 3, 4, cof.S2)
	var out bytes.Buffer
	n, err := feed.Tail(t.Context(), js, "p", feed.TailOptions{FromStart: true, Idle: 200 * time.Millisecond}, &out)
	if err != nil || n != 12 {
		t.Fatalf("Tail = %d, %v; want 12 records", n, err)
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != 12 || !strings.Contains(lines[0], `"b0-r0.example"`) || !strings.Contains(lines[11], `"b2-r3.example"`) {
		t.Fatalf("output:\n%s", out.String())
	}
	// The tail acked nothing: the peer's durable consumer still has it all.
	cons, err := js.Consumer(t.Context(), routing.PeerStream("p"), routing.PeerConsumer)
	if err != nil {
		t.Fatal(err)
	}
	if ci, _ := cons.Info(t.Context()); ci.NumPending != 3 {
		t.Errorf("the durable consumer has %d pending, want 3", ci.NumPending)
	}

	out.Reset()
	if n, err := feed.Tail(t.Context(), js, "p", feed.TailOptions{FromStart: true, Limit: 5}, &out); err != nil || n != 5 || strings.Count(out.String(), "\n") != 5 {
		t.Fatalf("with a limit: %d, %v, %q", n, err, out.String())
	}

	// From now on, with nothing new, it stops when idle, and at the end
	// of its context.
	out.Reset()
	if n, err := feed.Tail(t.Context(), js, "p", feed.TailOptions{Idle: 100 * time.Millisecond}, &out); err != nil || n != 0 {
		t.Fatalf("new only: %d, %v", n, err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	if _, err := feed.Tail(ctx, js, "p", feed.TailOptions{}, &out); err != nil {
		t.Fatalf("an ended context is a normal stop: %v", err)
	}

	if _, err := feed.Tail(t.Context(), js, "nobody", feed.TailOptions{}, &out); err == nil || !strings.Contains(err.Error(), "nobody") {
		t.Fatalf("a missing stream: %v", err)
	}
}

// TestTailUndecodable: in both read modes (ordered consumer, direct get),
// a delivery that cannot be decompressed is an ErrUndecodable.
func TestTailUndecodable(t *testing.T) {
	for _, direct := range []bool{false, true} {
		t.Run(fmt.Sprintf("direct=%v", direct), func(t *testing.T) {
			_, js := peerFeed(t, 0, 0, cof.S2)
			m := nats.NewMsg(routing.OutSubject("p"))
			m.Data = []byte("not zstd at all")
			m.Header.Set("Content-Encoding", "zstd")
			if _, err := js.PublishMsg(t.Context(), m); err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			o := feed.TailOptions{Direct: direct, FromStart: true, Idle: time.Second}
			if _, err := feed.Tail(t.Context(), js, "p", o, &out); !errors.Is(err, feed.ErrUndecodable) {
				t.Fatalf("err = %v, want ErrUndecodable", err)
			}
		})
	}
}

// TestReady: ready while connected with the consumer present; not ready,
// naming why, once the consumer is deleted or the connection closed.
func TestReady(t *testing.T) {
	nc, js := peerFeed(t, 1, 1, cof.S2)
	own, err := nats.Connect(nc.ConnectedUrl())
	if err != nil {
		t.Fatal(err)
	}
	defer own.Close()
	cons, err := feed.Bind(t.Context(), own, "p", "", routing.PeerConsumer)
	if err != nil {
		t.Fatal(err)
	}
	if err := feed.Ready(t.Context(), own, cons); err != nil {
		t.Fatalf("Ready = %v with the consumer present", err)
	}
	if err := js.DeleteConsumer(t.Context(), routing.PeerStream("p"), routing.PeerConsumer); err != nil {
		t.Fatal(err)
	}
	err = feed.Ready(t.Context(), own, cons)
	if !errors.Is(err, jetstream.ErrConsumerNotFound) || !strings.Contains(err.Error(), routing.PeerConsumer+" on "+routing.PeerStream("p")) {
		t.Errorf("Ready = %v after the consumer was deleted, want ErrConsumerNotFound naming it", err)
	}
	own.Close()
	if err := feed.Ready(t.Context(), own, cons); err == nil || !strings.Contains(err.Error(), "not connected") {
		t.Errorf("Ready = %v on a closed connection", err)
	}
}
