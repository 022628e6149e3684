package accounts_test

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cofswitch/cofswitch/accounts"
	"github.com/cofswitch/cofswitch/bus"
	"github.com/cofswitch/cofswitch/config"
	"github.com/cofswitch/cofswitch/routing"
	"github.com/cofswitch/cofswitch/switch/exchange"
)

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// TestPartnerLeafNode: a partner runs its own NATS server, joined to the
// exchange as a leaf node with its peer's seed (as in
// deploy/accounts/example-partner-leafnode.conf). Its local clients read
// the peer's feed through it, and nothing more.
func TestPartnerLeafNode(t *testing.T) {
	ids := map[string]identity{"switch": newIdentity(t), "pa": newIdentity(t), "pa2": newIdentity(t)}
	registry := func(withPA bool) *config.Config {
		pa := ""
		if withPA {
			pa = fmt.Sprintf(", nkey: %s", ids["pa"].pub)
		}
		cfg, err := config.Parse("t.yaml", []byte(fmt.Sprintf(`
peers:
  - {id: pa, organisation: org-a%s, subscriptions: [{sensors: ["*"], policy: pass, tlp: CLEAR}]}
  - {id: pa2, organisation: org-a, nkey: %s, subscriptions: [{sensors: ["*"], policy: pass, tlp: CLEAR}]}
  - {id: pb, organisation: org-b, subscriptions: [{sensors: ["*"], policy: pass, tlp: CLEAR}]}
`, pa, ids["pa2"].pub)))
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	cfg := registry(true)
	leafPort := freePort(t)
	hubStore := t.TempDir()
	hubConfig := func(c *config.Config) bus.ServerConfig {
		text, err := accounts.ServerConfig(c.Sensors, c.Peers, accounts.ServerOptions{SwitchKey: ids["switch"].pub, Version: c.Version})
		if err != nil {
			t.Fatal(err)
		}
		text += fmt.Sprintf("leafnodes { listen: \"127.0.0.1:%d\" }\n", leafPort)
		return bus.ServerConfig{Listen: "127.0.0.1:0", StoreDir: hubStore, Config: text}
	}
	hub, err := bus.StartServer(hubConfig(cfg))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hub.Shutdown(); hub.WaitForShutdown() })
	x := &testbed{url: hub.ClientURL(), ids: ids}
	sw := x.connect(t, "switch", "", nil)
	js, _ := jetstream.New(sw)
	if err := exchange.EnsureStreams(t.Context(), js, cfg); err != nil {
		t.Fatal(err)
	}
	for _, subj := range []string{"cof.out.pa", "cof.out.pa", "cof.out.pb", "cof.out.pa2"} {
		if _, err := js.Publish(t.Context(), subj, []byte(`{"to":"`+subj+`"}`)); err != nil {
			t.Fatal(err)
		}
	}

	// The partner's server: its own account, a leaf remote with pa's seed.
	dir := t.TempDir()
	seed, _ := ids["pa"].kp.Seed() // a remote takes the seed itself: the file is secret
	partner := startPartner(t, dir, fmt.Sprintf("url: \"nats://127.0.0.1:%d\", nkey: %q", leafPort, seed))
	deadline := time.Now().Add(10 * time.Second)
	for partner.NumLeafNodes() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the leaf node did not connect to the exchange")
		}
		time.Sleep(50 * time.Millisecond)
	}

	// A client of the partner, on its own server, reads pa's feed.
	local, ljs := readFeedThroughLeaf(t, partner, deadline, true)
	// And nothing of pb's or of pa2's (same organisation): their consumers
	// are not exported to this identity's account.
	if _, err := ljs.Consumer(t.Context(), routing.PeerStream("pb"), routing.PeerConsumer); err == nil {
		t.Error("pb's consumer is reachable through pa's leaf node")
	}
	if _, err := ljs.Consumer(t.Context(), routing.PeerStream("pa2"), routing.PeerConsumer); err == nil {
		t.Error("pa2's consumer is reachable through pa's leaf node")
	}
	checkLeafStreamReads(t, local, ljs)
	// The ack-subject trick: "+NXT" to a sibling's ack subject, with our
	// inbox as the reply, must bring nothing.
	steal, _ := local.SubscribeSync(accounts.PeerInbox("pa") + ".steal")
	_ = local.PublishRequest("$JS.ACK.PEER_pa2.sink.1.1.1.0.0", accounts.PeerInbox("pa")+".steal", []byte(`+NXT {"batch":1}`))
	if m, err := steal.NextMsg(time.Second); err == nil {
		t.Errorf("pa's leaf obtained %q from pa2's consumer", m.Data)
	}

	// Revocation: pa's key leaves the registry; its leaf is cut and
	// cannot come back.
	if err := bus.Reconfigure(hub, hubConfig(registry(false))); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond)
	if n := hub.NumLeafNodes(); n != 0 {
		t.Errorf("%d leaf nodes still connected after pa's key was removed", n)
	}
}

// checkLeafStreamReads: through pa's leaf node, pa's own stream's info and
// messages by direct get, and not those of pb, pa2 or the exchange's own
// streams: the account imports none.
func checkLeafStreamReads(t *testing.T, local *nats.Conn, ljs jetstream.JetStream) {
	t.Helper()
	if _, err := ljs.Stream(t.Context(), routing.PeerStream("pa")); err != nil {
		t.Fatalf("pa's stream info through the leaf node: %v", err)
	}
	// A direct get as the jetstream client sends it, but with max_bytes
	// set: without it nats-server v2.15.2 reads its options unlocked
	// (stream.go, getDirectRequest: s.opts.MaxPending), which the race
	// detector reports against the reload TestPartnerLeafNode makes next.
	req := fmt.Sprintf(`{"seq":1,"next_by_subj":%q,"max_bytes":65536}`, routing.OutSubject("pa"))
	if m, err := local.Request(accounts.APIPrefix+".DIRECT.GET."+routing.PeerStream("pa"), []byte(req), 2*time.Second); err != nil || string(m.Data) != `{"to":"cof.out.pa"}` {
		t.Errorf("direct get of pa's first message through the leaf node: %v", err)
	}
	for _, name := range []string{routing.PeerStream("pb"), routing.PeerStream("pa2"), routing.InStream("s1"), routing.DLQStream} {
		if _, err := ljs.Stream(t.Context(), name); err == nil {
			t.Errorf("%s's info is reachable through pa's leaf node", name)
		}
		if m, err := local.Request(accounts.APIPrefix+".DIRECT.GET."+name, []byte(`{"seq":1}`), 300*time.Millisecond); err == nil {
			t.Errorf("direct get on %s through pa's leaf node answered %q %v", name, m.Data, m.Header)
		}
	}
}

// startPartner runs a partner's NATS server, with its own account CIRCL
// (user local, password pw) and one leaf remote to the exchange (remote:
// the remote's settings but its account), from a configuration file in
// dir (the remote's settings may hold a seed: the file is the partner's
// secret).
func startPartner(t *testing.T, dir, remote string) *server.Server {
	t.Helper()
	conf := filepath.Join(dir, "partner.conf")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf(`
listen: "127.0.0.1:-1"
accounts { CIRCL { users: [ { user: local, password: "pw" } ] } }
leafnodes { remotes = [ { %s, account: "CIRCL" } ] }
`, remote)), 0o600); err != nil {
		t.Fatal(err)
	}
	opts, err := server.ProcessConfigFile(conf)
	if err != nil {
		t.Fatal(err)
	}
	opts.NoSigs, opts.NoLog = true, true
	partner, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	go partner.Start()
	t.Cleanup(func() { partner.Shutdown(); partner.WaitForShutdown() })
	if !partner.ReadyForConnections(10 * time.Second) {
		t.Fatal("partner server not ready")
	}
	return partner
}

// readFeedThroughLeaf connects the partner's local client (with pa's inbox
// prefix), binds pa's consumer through the leaf node once the interest has
// crossed it (by deadline), and checks that it fetches pa's two messages,
// acking them when ack is set.
func readFeedThroughLeaf(t *testing.T, partner *server.Server, deadline time.Time, ack bool) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	local, err := nats.Connect(partner.ClientURL(), nats.UserInfo("local", "pw"), nats.CustomInboxPrefix(accounts.PeerInbox("pa")))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(local.Close)
	ljs, _ := jetstream.NewWithAPIPrefix(local, accounts.APIPrefix)
	var cons jetstream.Consumer
	for time.Now().Before(deadline) { // interest takes a moment to cross the leaf
		if cons, err = ljs.Consumer(t.Context(), routing.PeerStream("pa"), routing.PeerConsumer); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("binding pa's consumer through the leaf node: %v", err)
	}
	batch, err := cons.Fetch(10, jetstream.FetchMaxWait(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for m := range batch.Messages() {
		n++
		if string(m.Data()) != `{"to":"cof.out.pa"}` {
			t.Errorf("received %s", m.Data())
		}
		if !ack {
			continue
		}
		if err := m.DoubleAck(t.Context()); err != nil {
			t.Errorf("ack through the leaf node: %v", err)
		}
	}
	if n != 2 {
		t.Errorf("fetched %d messages through the leaf node, want 2", n)
	}
	return local, ljs
}
