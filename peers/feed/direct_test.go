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
	"github.com/nats-io/nkeys"

	"github.com/cofswitch/cofswitch/accounts"
	"github.com/cofswitch/cofswitch/bus"
	"github.com/cofswitch/cofswitch/cof"
	"github.com/cofswitch/cofswitch/config"
	"github.com/cofswitch/cofswitch/peers/feed"
	"github.com/cofswitch/cofswitch/routing"
	"github.com/cofswitch/cofswitch/switch/exchange"
)

// authExchange is a server running the generated authorisation for peer p
// (and peer q), with the switch's and p's identities.
type authExchange struct {
	url          string
	switchKP, pk nkeys.KeyPair
	switchJS     jetstream.JetStream
}

func newAuthExchange(t *testing.T) *authExchange {
	t.Helper()
	x := &authExchange{}
	x.switchKP, _ = nkeys.CreateUser()
	x.pk, _ = nkeys.CreateUser()
	pPub, _ := x.pk.PublicKey()
	qKP, _ := nkeys.CreateUser()
	qPub, _ := qKP.PublicKey()
	cfg, err := config.Parse("t.yaml", []byte(fmt.Sprintf(`
peers:
  - {id: p, organisation: org-p, nkey: %s, subscriptions: [{sensors: ['*'], policy: pass, tlp: CLEAR}]}
  - {id: q, organisation: org-q, nkey: %s, subscriptions: [{sensors: ['*'], policy: pass, tlp: CLEAR}]}
`, pPub, qPub)))
	if err != nil {
		t.Fatal(err)
	}
	swPub, _ := x.switchKP.PublicKey()
	text, err := accounts.ServerConfig(cfg.Sensors, cfg.Peers, accounts.ServerOptions{SwitchKey: swPub, Version: cfg.Version})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := bus.StartServer(bus.ServerConfig{Listen: "127.0.0.1:0", StoreDir: t.TempDir(), Config: text})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
	x.url = srv.ClientURL()
	x.switchJS, _ = jetstream.New(x.connect(t, x.switchKP))
	if err := exchange.EnsureStreams(t.Context(), x.switchJS, cfg); err != nil {
		t.Fatal(err)
	}
	return x
}

func (x *authExchange) connect(t *testing.T, kp nkeys.KeyPair) *nats.Conn {
	t.Helper()
	pub, _ := kp.PublicKey()
	nc, err := nats.Connect(x.url, nats.Nkey(pub, kp.Sign), feed.InboxPrefix("p"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// publish stores batch i of per records on peer's stream, S2-compressed.
func publishBatch(t *testing.T, js jetstream.JetStream, peer string, i, per int) {
	t.Helper()
	codec, _ := cof.NewCodec()
	defer codec.Close()
	var body []byte
	for j := range per {
		body = fmt.Appendf(body, `{"rrname":"b%d-r%d.example","rrtype":"A","rdata":["192.0.2.1"],"time_first":1,"time_last":2}`+"\n", i, j)
	}
	m := nats.NewMsg(routing.OutSubject(peer))
	m.Data, _ = codec.Compress(nil, body, cof.S2)
	m.Header.Set("Content-Encoding", string(cof.S2))
	if _, err := js.PublishMsg(t.Context(), m); err != nil {
		t.Fatal(err)
	}
}

// A peer tails its own stream with its own identity, through the API
// prefix, by direct get: the records come in order, and its durable
// consumer is untouched.
func TestTailDirectAsThePeer(t *testing.T) {
	x := newAuthExchange(t)
	for i := range 3 {
		publishBatch(t, x.switchJS, "p", i, 4)
	}
	publishBatch(t, x.switchJS, "q", 9, 1) // another peer's: never shown
	nc := x.connect(t, x.pk)
	js, err := feed.Locate(t.Context(), nc, "p", accounts.APIPrefix, true)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	n, err := feed.Tail(t.Context(), js, "p", feed.TailOptions{Direct: true, FromStart: true, Idle: 300 * time.Millisecond, Poll: 20 * time.Millisecond}, &out)
	if err != nil || n != 12 {
		t.Fatalf("Tail = %d, %v; want 12 records", n, err)
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	for i, l := range lines {
		if want := fmt.Sprintf(`"b%d-r%d.example"`, i/4, i%4); !strings.Contains(l, want) {
			t.Fatalf("line %d is %s, want %s", i, l, want)
		}
	}
	cons, err := x.switchJS.Consumer(t.Context(), routing.PeerStream("p"), routing.PeerConsumer)
	if err != nil {
		t.Fatal(err)
	}
	ci, _ := cons.Info(t.Context())
	if ci.NumPending != 3 || ci.NumAckPending != 0 || ci.Delivered.Stream != 0 || ci.AckFloor.Stream != 0 {
		t.Errorf("the durable consumer moved: pending %d, ack pending %d, delivered %d, ack floor %d",
			ci.NumPending, ci.NumAckPending, ci.Delivered.Stream, ci.AckFloor.Stream)
	}
	if si, _ := x.switchJS.Stream(t.Context(), routing.PeerStream("p")); si.CachedInfo().State.Consumers != 1 {
		t.Errorf("the tail left %d consumers on the stream, want the durable one", si.CachedInfo().State.Consumers)
	}

	// Following: what arrives after the start, and only that.
	done := make(chan error, 1)
	out.Reset()
	go func() {
		_, err := feed.Tail(t.Context(), js, "p", feed.TailOptions{Direct: true, Limit: 2, Poll: 20 * time.Millisecond}, &out)
		done <- err
	}()
	time.Sleep(200 * time.Millisecond)
	publishBatch(t, x.switchJS, "p", 7, 2)
	select {
	case err := <-done:
		if err != nil || !strings.Contains(out.String(), "b7-r0") || strings.Count(out.String(), "\n") != 2 {
			t.Fatalf("following: %v, %q", err, out.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the new batch was not tailed")
	}

	// Another peer's stream is not the peer's to read (its permissions
	// deny the request: it goes unanswered).
	ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
	defer cancel()
	if _, err := feed.Locate(ctx, nc, "q", accounts.APIPrefix, true); err == nil {
		t.Error("p located q's stream")
	}
}

// The operator's identity (the switch's seed) has the API without a
// prefix: Locate falls back to it when asked to.
func TestLocateFallsBackForTheOperator(t *testing.T) {
	x := newAuthExchange(t)
	publishBatch(t, x.switchJS, "p", 0, 2)
	nc := x.connect(t, x.switchKP)
	if _, err := feed.Locate(t.Context(), nc, "p", accounts.APIPrefix, false); !errors.Is(err, nats.ErrNoResponders) {
		t.Fatalf("without fallback: %v, want no responders", err)
	}
	js, err := feed.Locate(t.Context(), nc, "p", accounts.APIPrefix, true)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if n, err := feed.Tail(t.Context(), js, "p", feed.TailOptions{Direct: true, FromStart: true, Idle: 100 * time.Millisecond}, &out); err != nil || n != 2 {
		t.Fatalf("operator's direct tail: %d, %v", n, err)
	}
}

func TestTailDirect(t *testing.T) {
	nc, js := peerFeed(t, 3, 4, cof.Zstd)
	direct := func(o feed.TailOptions) feed.TailOptions {
		o.Direct, o.Poll = true, 10*time.Millisecond
		return o
	}
	var out bytes.Buffer
	if n, err := feed.Tail(t.Context(), js, "p", direct(feed.TailOptions{FromStart: true, Limit: 5}), &out); err != nil || n != 5 || strings.Count(out.String(), "\n") != 5 {
		t.Fatalf("with a limit: %d, %v, %q", n, err, out.String())
	}
	out.Reset()
	if n, err := feed.Tail(t.Context(), js, "p", direct(feed.TailOptions{Idle: 100 * time.Millisecond}), &out); err != nil || n != 0 {
		t.Fatalf("new only: %d, %v", n, err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	if _, err := feed.Tail(ctx, js, "p", direct(feed.TailOptions{}), &out); err != nil {
		t.Fatalf("an ended context is a normal stop: %v", err)
	}
	if _, err := feed.Tail(t.Context(), js, "nobody", direct(feed.TailOptions{}), &out); err == nil || !strings.Contains(err.Error(), "nobody") {
		t.Fatalf("a missing stream: %v", err)
	}
	// Without a prefix nothing is located elsewhere.
	if got, err := feed.Locate(t.Context(), nc, "p", "", true); err != nil || got == nil {
		t.Fatalf("Locate without a prefix: %v", err)
	}

	// A stream made before direct get was allowed is named, not waited on.
	s, _ := js.Stream(t.Context(), routing.PeerStream("p"))
	sc := s.CachedInfo().Config
	sc.AllowDirect = false
	if _, err := js.UpdateStream(t.Context(), sc); err != nil {
		t.Fatal(err)
	}
	if _, err := feed.Tail(t.Context(), js, "p", direct(feed.TailOptions{}), &out); !errors.Is(err, feed.ErrNoDirect) || !strings.Contains(err.Error(), "PEER_p") {
		t.Fatalf("a stream without direct get: %v", err)
	}
}
