// Package exchangetest gives the tests of what a peer runs (a sink, a
// database, a tail) a peer's feed as the switch leaves it: a real embedded
// server with the peer's stream and durable consumer provisioned by
// switch/exchange, and batches stored on it; and the tests of what reads a
// running exchange (its status, its page) a whole exchange (Embedded).
package exchangetest

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cofswitch/cofswitch/bus/bustest"
	"github.com/cofswitch/cofswitch/cof"
	"github.com/cofswitch/cofswitch/config"
	"github.com/cofswitch/cofswitch/routing"
	"github.com/cofswitch/cofswitch/switch/exchange"
)

// Peer is the peer whose feed PeerFeed makes.
const Peer = "p"

// PeerFeed starts a server with the stream and consumer of peer Peer and
// returns a client of it.
func PeerFeed(t testing.TB) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	_, nc, js := bustest.Server(t)
	cfg, err := config.Parse("t.yaml", []byte("peers:\n  - {id: "+Peer+", subscriptions: [{sensors: ['*'], policy: pass, tlp: CLEAR}]}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if err := exchange.EnsureStreams(t.Context(), js, cfg); err != nil {
		t.Fatal(err)
	}
	return nc, js
}

// Store stores one batch of lines on the feed, compressed with enc, with
// the headers the switch sets (as given in hdr, which may be nil).
func Store(t testing.TB, js jetstream.JetStream, lines []byte, enc cof.Encoding, hdr map[string]string) {
	t.Helper()
	codec, err := cof.NewCodec()
	if err != nil {
		t.Fatal(err)
	}
	defer codec.Close()
	m := nats.NewMsg(routing.OutSubject(Peer))
	if m.Data, err = codec.Compress(nil, lines, enc); err != nil {
		t.Fatal(err)
	}
	if enc != cof.Identity {
		m.Header.Set("Content-Encoding", string(enc))
	}
	for k, v := range hdr {
		m.Header.Set(k, v)
	}
	if _, err := js.PublishMsg(t.Context(), m); err != nil {
		t.Fatal(err)
	}
}

// Batch is batch i of per records, named b<i>-r<j>.example.
func Batch(i, per int) []byte {
	var body []byte
	for j := range per {
		body = fmt.Appendf(body, `{"rrname":"b%d-r%d.example","rrtype":"A","rdata":["192.0.2.1"],"time_first":1,"time_last":2}`+"\n", i, j)
	}
	return body
}

// Consumer binds the peer's durable consumer.
func Consumer(t testing.TB, js jetstream.JetStream) jetstream.Consumer {
	t.Helper()
	cons, err := js.Consumer(t.Context(), routing.PeerStream(Peer), routing.PeerConsumer)
	if err != nil {
		t.Fatal(err)
	}
	return cons
}

// Embedded runs the exchange of the configuration yaml on its own
// embedded server (a random loopback port, a temp dir) until the test
// ends, and returns it with a context bounded to a minute.
func Embedded(t testing.TB, yaml string) (context.Context, *exchange.Exchange) {
	t.Helper()
	cfg, err := config.Parse("c.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	x, err := exchange.Start(ctx, cfg, exchange.Options{Listen: "127.0.0.1:0", DataDir: t.TempDir(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(x.Stop)
	return ctx, x
}
