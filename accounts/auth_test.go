package accounts_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"

	"github.com/cofswitch/cofswitch/accounts"
	"github.com/cofswitch/cofswitch/bus"
	"github.com/cofswitch/cofswitch/config"
	"github.com/cofswitch/cofswitch/routing"
	"github.com/cofswitch/cofswitch/secretfile"
	"github.com/cofswitch/cofswitch/switch/exchange"
)

// identity is an nkey user for a test.
type identity struct {
	kp  nkeys.KeyPair
	pub string
}

func newIdentity(t *testing.T) identity {
	t.Helper()
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := kp.PublicKey()
	return identity{kp: kp, pub: pub}
}

// testbed is a server running the generated authorisation, in one of the
// two modes: nkey users in the server's configuration (nkeys), or
// operator mode (jwt), where each organisation issues its identities'
// users with its own signing key.
type testbed struct {
	mode     string
	url      string
	switchNC *nats.Conn
	switchJS jetstream.JetStream
	ids      map[string]identity
	cfg      *config.Config
	jwts     map[string]string // in operator mode: each identity's user JWT
	op       *accounts.Operator
	claims   *accounts.Claims
	orgKeys  map[string]nkeys.KeyPair // in operator mode: each organisation's signing key
}

// inBothModes runs a test of the model on a server in nkey mode, then on
// one in operator mode: whatever an identity may or may not do must not
// depend on how it is admitted.
func inBothModes(t *testing.T, test func(t *testing.T, mode string)) {
	for _, mode := range []string{config.AuthNKeys, config.AuthJWT} {
		t.Run(mode, func(t *testing.T) { test(t, mode) })
	}
}

func newExchange(t *testing.T, mode string) *testbed {
	t.Helper()
	ids := map[string]identity{}
	for _, n := range []string{"switch", "s1", "s1b", "s2", "pa", "pa2", "pb"} {
		ids[n] = newIdentity(t)
	}
	x := &testbed{mode: mode, ids: ids, jwts: map[string]string{}, orgKeys: map[string]nkeys.KeyPair{}}
	orgs := ""
	if mode == config.AuthJWT {
		orgs = "organisations:\n"
		for _, org := range []string{"org-a", "org-b"} {
			kp, err := nkeys.CreateAccount()
			if err != nil {
				t.Fatal(err)
			}
			x.orgKeys[org] = kp
			pub, _ := kp.PublicKey()
			orgs += fmt.Sprintf("  %s: {signing_keys: [%s]}\n", org, pub)
		}
	}
	yaml := fmt.Sprintf(`
nats: {auth: %s}
sensors:
  - {id: s1, organisation: org-a, nkey: %s}
  - {id: s1b, organisation: org-a, nkey: %s}
  - {id: s2, organisation: org-b, nkey: %s}
peers:
  - {id: pa, organisation: org-a, nkey: %s, subscriptions: [{sensors: ["*"], policy: pass, tlp: CLEAR}]}
  - {id: pa2, organisation: org-a, nkey: %s, subscriptions: [{sensors: ["*"], policy: pass, tlp: CLEAR}]}
  - {id: pb, organisation: org-b, nkey: %s, subscriptions: [{sensors: ["*"], policy: pass, tlp: CLEAR}]}
%s`, mode, ids["s1"].pub, ids["s1b"].pub, ids["s2"].pub, ids["pa"].pub, ids["pa2"].pub, ids["pb"].pub, orgs)
	cfg, err := config.Parse("t.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	x.cfg = cfg
	store := t.TempDir()
	var text string
	if mode == config.AuthJWT {
		text = x.operatorMode(t, store)
	} else {
		text, err = accounts.ServerConfig(cfg.Sensors, cfg.Peers, accounts.ServerOptions{SwitchKey: ids["switch"].pub, Version: cfg.Version})
		if err != nil {
			t.Fatal(err)
		}
	}
	srv, err := bus.StartServer(bus.ServerConfig{Listen: "127.0.0.1:0", StoreDir: store, Config: text})
	if err != nil {
		t.Fatalf("%v\n%s", err, text)
	}
	t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
	x.url = srv.ClientURL()
	nc := x.connect(t, "switch", "", nil)
	x.switchNC = nc
	x.switchJS, _ = jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := exchange.EnsureStreams(ctx, x.switchJS, cfg); err != nil {
		t.Fatal(err)
	}
	// Something in every stream, so that a leak would show.
	for _, subj := range []string{"cof.out.pa", "cof.out.pa2", "cof.out.pb", "cof.dlq.s1", "cof.in.s1"} {
		if _, err := x.switchJS.Publish(ctx, subj, []byte(`{"from":"`+subj+`"}`)); err != nil {
			t.Fatal(err)
		}
	}
	return x
}

// operatorMode renders the registry's accounts, has each organisation
// issue its identities' users with its signing key, and returns the
// server's configuration.
func (x *testbed) operatorMode(t *testing.T, store string) string {
	t.Helper()
	op, err := accounts.NewOperator()
	if err != nil {
		t.Fatal(err)
	}
	x.op = op
	x.claims, err = op.Claims(accounts.Plan(x.cfg.Sensors, x.cfg.Peers, true), accounts.ClaimsOptions{SigningKeys: x.cfg.SigningKeysOf})
	if err != nil {
		t.Fatal(err)
	}
	if x.jwts["switch"], err = op.ExchangeUser(x.ids["switch"].pub, "switch"); err != nil {
		t.Fatal(err)
	}
	for _, id := range x.claims.Identities {
		jwt, err := accounts.IssueUser(x.orgKeys[id.Organisation], x.claims.Names[id.Account], x.ids[id.ID].pub, id.ID, nil, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		x.jwts[id.ID] = jwt
	}
	return accounts.OperatorServerConfig(x.claims, accounts.ServerOptions{StoreDir: store}, filepath.Join(store, accounts.ResolverDir))
}

// auth is how who proves its identity in the testbed's mode.
func (x *testbed) auth(who string) nats.Option {
	id := x.ids[who]
	if x.mode == config.AuthJWT {
		seed, _ := id.kp.Seed()
		return nats.UserJWTAndSeed(x.jwts[who], string(seed))
	}
	return nats.Nkey(id.pub, id.kp.Sign)
}

// errs collects a connection's asynchronous errors (permission violations).
type errs struct {
	mu   sync.Mutex
	list []error
}

func (e *errs) add(err error) {
	e.mu.Lock()
	e.list = append(e.list, err)
	e.mu.Unlock()
}

// waitViolation waits for a permissions violation naming subject.
func (e *errs) waitViolation(t *testing.T, subject string) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		e.mu.Lock()
		for _, err := range e.list {
			if errors.Is(err, nats.ErrPermissionViolation) && strings.Contains(err.Error(), subject) {
				e.mu.Unlock()
				return
			}
		}
		e.mu.Unlock()
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no permissions violation for %q; errors seen: %v", subject, e.list)
}

func (x *testbed) connect(t *testing.T, who, inbox string, e *errs) *nats.Conn {
	t.Helper()
	opts := []nats.Option{x.auth(who)}
	if inbox != "" {
		opts = append(opts, nats.CustomInboxPrefix(inbox))
	}
	if e != nil {
		opts = append(opts, nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { e.add(err) }))
	}
	nc, err := nats.Connect(x.url, opts...)
	if err != nil {
		t.Fatalf("%s cannot connect: %v", who, err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// TestEntitledUse: what each identity is meant to do works.
func TestEntitledUse(t *testing.T) { inBothModes(t, testEntitledUse) }

func testEntitledUse(t *testing.T, mode string) {
	x := newExchange(t, mode)
	ctx := t.Context()

	// A sensor publishes to its own subject and gets the JetStream ack.
	s1 := x.connect(t, "s1", accounts.SensorInbox("s1"), nil)
	js1, _ := jetstream.New(s1)
	ack, err := js1.Publish(ctx, "cof.in.s1", []byte(`{"x":1}`))
	if err != nil || ack.Stream != routing.InStream("s1") {
		t.Fatalf("sensor publish: %v %+v", err, ack)
	}

	// A peer binds its consumer, fetches its own feed (several messages
	// in one fetch: the export must allow a stream of responses) and acks.
	for i := range 3 {
		if _, err := x.switchJS.Publish(ctx, "cof.out.pa", []byte(fmt.Sprintf(`{"more":%d}`, i))); err != nil {
			t.Fatal(err)
		}
	}
	pa := x.connect(t, "pa", accounts.PeerInbox("pa"), nil)
	jsa, _ := jetstream.NewWithAPIPrefix(pa, accounts.APIPrefix)
	cons, err := jsa.Consumer(ctx, routing.PeerStream("pa"), routing.PeerConsumer)
	if err != nil {
		t.Fatalf("peer binds its consumer: %v", err)
	}
	batch, err := cons.Fetch(10, jetstream.FetchMaxWait(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for m := range batch.Messages() {
		n++
		if n == 1 && string(m.Data()) != `{"from":"cof.out.pa"}` {
			t.Errorf("pa received %s", m.Data())
		}
		if err := m.DoubleAck(ctx); err != nil {
			t.Errorf("peer ack: %v", err)
		}
	}
	if n != 4 {
		t.Errorf("pa fetched %d messages in one fetch, want 4", n)
	}
	info, err := x.switchJS.Consumer(ctx, routing.PeerStream("pa"), routing.PeerConsumer)
	if err != nil {
		t.Fatal(err)
	}
	if ci, _ := info.Info(ctx); ci.AckFloor.Stream != 4 {
		t.Errorf("the peer's ack did not reach the server: ack floor %d", ci.AckFloor.Stream)
	}
}

// TestPeerReadsItsOwnStream: a peer reads its stream's info and its
// messages by direct get (cofswitch tail with the peer's seed), through the
// API prefix, without a consumer.
func TestPeerReadsItsOwnStream(t *testing.T) { inBothModes(t, testPeerReadsItsOwnStream) }

func testPeerReadsItsOwnStream(t *testing.T, mode string) {
	x := newExchange(t, mode)
	ctx := t.Context()
	if _, err := x.switchJS.Publish(ctx, "cof.out.pa", []byte(`{"second":true}`)); err != nil {
		t.Fatal(err)
	}
	pa := x.connect(t, "pa", accounts.PeerInbox("pa"), nil)
	jsa, _ := jetstream.NewWithAPIPrefix(pa, accounts.APIPrefix)
	stream, err := jsa.Stream(ctx, routing.PeerStream("pa"))
	if err != nil {
		t.Fatalf("the peer reads its stream's info: %v", err)
	}
	info := stream.CachedInfo()
	if info.State.FirstSeq != 1 || info.State.LastSeq != 2 || !info.Config.AllowDirect {
		t.Fatalf("stream info: first %d last %d direct %v", info.State.FirstSeq, info.State.LastSeq, info.Config.AllowDirect)
	}
	var got []string
	for seq := info.State.FirstSeq; ; {
		m, err := stream.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(routing.OutSubject("pa")))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			break
		}
		if err != nil {
			t.Fatalf("direct get from %d: %v", seq, err)
		}
		got = append(got, string(m.Data))
		seq = m.Sequence + 1
	}
	if strings.Join(got, " ") != `{"from":"cof.out.pa"} {"second":true}` {
		t.Errorf("the peer read %q", got)
	}
}

// TestAdversarial: each attempt to step outside one's grant is denied by
// the server, with a permissions violation.
func TestAdversarial(t *testing.T) { inBothModes(t, testAdversarial) }

func testAdversarial(t *testing.T, mode string) {
	x := newExchange(t, mode)
	type attempt struct {
		name string
		do   func(t *testing.T, nc *nats.Conn) (subject string)
	}
	sub := func(subject string) func(*testing.T, *nats.Conn) string {
		return func(t *testing.T, nc *nats.Conn) string {
			if _, err := nc.SubscribeSync(subject); err != nil {
				t.Fatal(err)
			}
			return subject
		}
	}
	pub := func(subject string) func(*testing.T, *nats.Conn) string {
		return func(t *testing.T, nc *nats.Conn) string {
			_ = nc.Publish(subject, []byte(`{}`))
			return subject
		}
	}
	req := func(subject string) func(*testing.T, *nats.Conn) string {
		return func(t *testing.T, nc *nats.Conn) string {
			_, _ = nc.Request(subject, []byte(`{"batch":1}`), 300*time.Millisecond)
			return subject
		}
	}
	peerAttempts := []attempt{
		{"subscribe to B's subject", sub("cof.out.pb")},
		{"subscribe to its own subject (deliveries come through the consumer only)", sub("cof.out.pa")},
		{"subscribe to every cof subject", sub("cof.>")},
		{"read another identity's inbox", sub("_INBOX.s.s1.>")},
		{"read every inbox", sub("_INBOX.>")},
		{"read the system account", sub("$SYS.>")},
		{"read a sensor input through the API", req("$JS.API.STREAM.INFO.COF_IN_s1")},
		{"fetch from the switch's consumer on a sensor input", req("$JS.API.CONSUMER.MSG.NEXT.COF_IN_s1.cofswitch")},
		{"read the DLQ", req("$JS.API.STREAM.MSG.GET.COF_DLQ")},
		{"create a consumer on the DLQ", req("$JS.API.CONSUMER.CREATE.COF_DLQ")},
		{"create a consumer on B's stream", req("$JS.API.CONSUMER.CREATE.PEER_pb")},
		{"create a named consumer on B's stream", req("$JS.API.CONSUMER.CREATE.PEER_pb.mine.cof.out.pb")},
		{"bind B's consumer", req("$JS.API.CONSUMER.MSG.NEXT.PEER_pb.sink")},
		{"fetch a sibling peer's feed (same organisation)", req(accounts.APIPrefix + ".CONSUMER.MSG.NEXT.PEER_pa2.sink")},
		{"ack-subject fetch on a sibling's consumer", pub("$JS.ACK.PEER_pa2.sink.1.1.1.0.0")},
		{"bind B's consumer through the exchange prefix", req(accounts.APIPrefix + ".CONSUMER.MSG.NEXT.PEER_pb.sink")},
		{"create a consumer through the exchange prefix", req(accounts.APIPrefix + ".CONSUMER.CREATE.PEER_pa.mine.cof.out.pa")},
		{"ack B's messages", pub("$JS.ACK.PEER_pb.sink.1.1.1.1.1.0")},
		{"create a consumer on its own stream", req("$JS.API.CONSUMER.CREATE.PEER_pa.mine.cof.out.pa")},
		{"list streams", req("$JS.API.STREAM.NAMES")},
		{"read B's stream info through the exchange prefix", req(accounts.APIPrefix + ".STREAM.INFO.PEER_pb")},
		{"direct-get B's stream through the exchange prefix", req(accounts.APIPrefix + ".DIRECT.GET.PEER_pb")},
		{"direct-get a sibling peer's stream", req(accounts.APIPrefix + ".DIRECT.GET.PEER_pa2")},
		{"read a sibling peer's stream info", req(accounts.APIPrefix + ".STREAM.INFO.PEER_pa2")},
		{"direct-get COF_IN through the exchange prefix", req(accounts.APIPrefix + ".DIRECT.GET.COF_IN")},
		{"read COF_IN's info through the exchange prefix", req(accounts.APIPrefix + ".STREAM.INFO.COF_IN")},
		{"direct-get COF_DLQ through the exchange prefix", req(accounts.APIPrefix + ".DIRECT.GET.COF_DLQ")},
		{"read COF_DLQ's info through the exchange prefix", req(accounts.APIPrefix + ".STREAM.INFO.COF_DLQ")},
		{"direct-get B's stream", req("$JS.API.DIRECT.GET.PEER_pb")},
		{"last-by-subject direct get on B's stream", req(accounts.APIPrefix + ".DIRECT.GET.PEER_pb.cof.out.pb")},
		{"last-by-subject direct get (not exported, even its own)", req(accounts.APIPrefix + ".DIRECT.GET.PEER_pa.cof.out.pa")},
		{"message get on its own stream (not exported)", req(accounts.APIPrefix + ".STREAM.MSG.GET.PEER_pa")},
		{"list streams through the exchange prefix", req(accounts.APIPrefix + ".STREAM.NAMES")},
		{"update its own stream", req(accounts.APIPrefix + ".STREAM.UPDATE.PEER_pa")},
		{"purge its own stream", req(accounts.APIPrefix + ".STREAM.PURGE.PEER_pa")},
		{"delete its stream", req("$JS.API.STREAM.DELETE.PEER_pa")},
		{"publish into its own output", pub("cof.out.pa")},
		{"publish into the input", pub("cof.in.s1")},
		{"publish into the DLQ", pub("cof.dlq.s1")},
		{"request on B's control subject", req(routing.ControlSubject("pb"))},
		{"request on a sibling peer's control subject", req(routing.ControlSubject("pa2"))},
		{"request on every control subject", req(routing.ControlPrefix + "*")},
		{"answer its own control subject (intercept)", sub(routing.ControlSubject("pa"))},
		{"listen to every control subject", sub(routing.ControlPrefix + ">")},
	}
	for _, a := range peerAttempts {
		t.Run("peer A: "+a.name, func(t *testing.T) {
			e := &errs{}
			nc := x.connect(t, "pa", accounts.PeerInbox("pa"), e)
			e.waitViolation(t, a.do(t, nc))
		})
	}
	sensorAttempts := []attempt{
		{"publish as another sensor", pub("cof.in.s2")},
		{"publish to every input", pub("cof.in.>")},
		{"publish into a peer's output", pub("cof.out.pa")},
		{"read its peers' feed", sub("cof.out.pa")},
		{"read another identity's inbox", sub("_INBOX.p.pa.>")},
		{"fetch a peer's consumer", req("$JS.API.CONSUMER.MSG.NEXT.PEER_pa.sink")},
		{"request on a peer's control subject", req(routing.ControlSubject("pa"))},
	}
	for _, a := range sensorAttempts {
		t.Run("sensor S1: "+a.name, func(t *testing.T) {
			e := &errs{}
			nc := x.connect(t, "s1", accounts.SensorInbox("s1"), e)
			e.waitViolation(t, a.do(t, nc))
		})
	}
	t.Run("a client without credentials", func(t *testing.T) {
		_, err := nats.Connect(x.url)
		if err == nil || !strings.Contains(strings.ToLower(err.Error()), "authorization violation") {
			t.Fatalf("connected, or wrong error: %v", err)
		}
	})
	t.Run("an unknown nkey", func(t *testing.T) {
		stranger := newIdentity(t)
		_, err := nats.Connect(x.url, nats.Nkey(stranger.pub, stranger.kp.Sign))
		if err == nil || !strings.Contains(strings.ToLower(err.Error()), "authorization violation") {
			t.Fatalf("connected, or wrong error: %v", err)
		}
	})
	t.Run("a known nkey with a forged signature", func(t *testing.T) {
		forger := newIdentity(t)
		_, err := nats.Connect(x.url, nats.Nkey(x.ids["pb"].pub, forger.kp.Sign))
		if err == nil {
			t.Fatal("connected as pb without pb's seed")
		}
	})
}

// TestSiblingSensorPlanting: a sensor's publish whose reply subject is a
// sibling sensor's input (same organisation) must not store the ack there.
func TestSiblingSensorPlanting(t *testing.T) { inBothModes(t, testSiblingSensorPlanting) }

func testSiblingSensorPlanting(t *testing.T, mode string) {
	x := newExchange(t, mode)
	s1 := x.connect(t, "s1", accounts.SensorInbox("s1"), nil)
	before := streamSubjectMsgs(t, x.switchJS, "cof.in.s1b")
	if err := s1.PublishRequest("cof.in.s1", "cof.in.s1b", []byte(`{"x":1}`)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	if after := streamSubjectMsgs(t, x.switchJS, "cof.in.s1b"); after != before {
		t.Errorf("cof.in.s1b went from %d to %d messages: s1 planted its ack on a sibling's input", before, after)
	}
}

func streamSubjectMsgs(t *testing.T, js jetstream.JetStream, subject string) uint64 {
	t.Helper()
	sensor, err := routing.SensorOf(subject)
	if err != nil {
		t.Fatal(err)
	}
	s, err := js.Stream(t.Context(), routing.InStream(sensor))
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(t.Context(), jetstream.WithSubjectFilter(subject))
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Subjects[subject]
}

// TestReplyRedirection: a pull request or a direct get whose reply subject names a sensor
// input cannot make the server deliver a peer's feed there, neither another
// organisation's sensor nor its own (service responses go back to the
// requester's account, which for a peer imports no input).
func TestReplyRedirection(t *testing.T) { inBothModes(t, testReplyRedirection) }

func testReplyRedirection(t *testing.T, mode string) {
	x := newExchange(t, mode)
	for _, tc := range []struct{ peer, target string }{
		{"pb", "cof.in.s1"}, // org-b's peer into org-a's sensor
		{"pa", "cof.in.s1"}, // org-a's peer into org-a's own sensor
	} {
		nc := x.connect(t, tc.peer, accounts.PeerInbox(tc.peer), nil)
		before := streamMsgs(t, x.switchJS, routing.InStream("s1"))
		next := accounts.APIPrefix + ".CONSUMER.MSG.NEXT." + routing.PeerStream(tc.peer) + ".sink"
		if err := nc.PublishRequest(next, tc.target, []byte(`{"batch":1,"expires":200000000}`)); err != nil {
			t.Fatal(err)
		}
		get := accounts.APIPrefix + ".DIRECT.GET." + routing.PeerStream(tc.peer)
		if err := nc.PublishRequest(get, tc.target, []byte(`{"seq":1}`)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(500 * time.Millisecond)
		if after := streamMsgs(t, x.switchJS, routing.InStream("s1")); after != before {
			t.Errorf("COF_IN_s1 grew from %d to %d: %s redirected its feed into %s", before, after, tc.peer, tc.target)
		}
	}
}

func streamMsgs(t *testing.T, js jetstream.JetStream, name string) uint64 {
	t.Helper()
	s, err := js.Stream(t.Context(), name)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}

func TestSeedFiles(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s1.nk")
	pub, err := accounts.NewUserSeed(path, false)
	if err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("seed file %v, %v: want mode 0600", st, err)
	}
	if got, err := accounts.PublicKeyOfSeedFile(path); err != nil || got != pub {
		t.Fatalf("public key %q, %v; want %q", got, err, pub)
	}
	if _, err := accounts.NewUserSeed(path, false); !errors.Is(err, accounts.ErrSeedExists) {
		t.Fatalf("overwrite without replace: %v", err)
	}
	// Replacing goes through a new file: a lax mode does not carry over.
	os.Chmod(path, 0o644)
	pub2, err := accounts.NewUserSeed(path, true)
	if err != nil || pub2 == pub {
		t.Fatalf("replace: %q, %v", pub2, err)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Fatalf("replaced seed has mode %v", st.Mode().Perm())
	}
	os.Chmod(path, 0o644)
	if _, err := accounts.PublicKeyOfSeedFile(path); !errors.Is(err, secretfile.ErrLaxMode) {
		t.Fatalf("a seed others may read: %v, want ErrLaxMode", err)
	}
	os.Chmod(path, 0o600)
	os.WriteFile(path, []byte("SUNOTASEEDATALL"), 0o600)
	if _, err := accounts.PublicKeyOfSeedFile(path); err == nil || strings.Contains(err.Error(), "SUNOTA") {
		t.Fatalf("a corrupt seed: %v", err)
	}
}

// TestPeerControlSubject: a peer's request on its own control subject
// reaches the switch (in EXCHANGE, on that subject alone, whichever way
// the peer spells it) and the reply comes back to the peer's own inbox;
// another peer's request reaches the switch on its own subject only.
func TestPeerControlSubject(t *testing.T) { inBothModes(t, testPeerControlSubject) }

func testPeerControlSubject(t *testing.T, mode string) {
	x := newExchange(t, mode)
	got := make(chan string, 4)
	sub, err := x.switchNC.QueueSubscribe(routing.ControlPrefix+"*", "switch", func(m *nats.Msg) {
		got <- m.Subject
		_ = m.Respond([]byte(`{"ok":true,"for":"` + m.Subject + `"}`))
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	_ = x.switchNC.Flush()
	for _, peer := range []string{"pa", "pb"} {
		nc := x.connect(t, peer, accounts.PeerInbox(peer), nil)
		reply, err := nc.Request(routing.ControlSubject(peer), []byte(`{"op":"get"}`), 3*time.Second)
		if err != nil {
			t.Fatalf("%s: request: %v", peer, err)
		}
		want := routing.ControlSubject(peer)
		if !strings.Contains(string(reply.Data), want) {
			t.Errorf("%s: reply %s", peer, reply.Data)
		}
		if s := <-got; s != want {
			t.Errorf("%s: the switch saw %q, want %q", peer, s, want)
		}
	}
}
