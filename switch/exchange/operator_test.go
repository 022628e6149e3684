package exchange_test

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"

	"github.com/cofswitch/cofswitch/accounts"
	"github.com/cofswitch/cofswitch/routing"
	"github.com/cofswitch/cofswitch/switch/exchange"
)

// operatorBed is an exchange in operator mode whose two organisations
// issue their own users.
type operatorBed struct {
	dir, path  string
	orgA, orgB nkeys.KeyPair
	x          *exchange.Exchange
	op         *accounts.Operator
	issued     []issued
	t          *testing.T
}

func operatorYAML(a, b nkeys.KeyPair, withS1 bool) string {
	ap, _ := a.PublicKey()
	bp, _ := b.PublicKey()
	s1 := ""
	if withS1 {
		s1 = "  - {id: s1, organisation: org-a}\n"
	}
	return fmt.Sprintf(`
nats: {auth: jwt, listen: "127.0.0.1:0"}
sensors:
%s  - {id: s1b, organisation: org-a}
  - {id: s2, organisation: org-b}
peers:
  - {id: pa, organisation: org-a, subscriptions: [{sensors: ["*"], policy: pass, tlp: CLEAR}]}
  - {id: pb, organisation: org-b, subscriptions: [{sensors: ["*"], policy: pass, tlp: CLEAR}]}
organisations:
  org-a: {signing_keys: [%s]}
  org-b: {signing_keys: [%s]}
`, s1, ap, bp)
}

func newOperatorBed(t *testing.T) *operatorBed {
	t.Helper()
	b := &operatorBed{dir: t.TempDir(), t: t}
	b.orgA, _ = nkeys.CreateAccount()
	b.orgB, _ = nkeys.CreateAccount()
	b.path = filepath.Join(t.TempDir(), "cofswitch.yaml")
	b.start(t, operatorYAML(b.orgA, b.orgB, true))
	return b
}

func (b *operatorBed) start(t *testing.T, yaml string) {
	t.Helper()
	cfg := writeConfig(t, b.path, yaml)
	x, err := exchange.Start(t.Context(), cfg, exchange.Options{NATS: cfg.NATS, DataDir: b.dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(x.Stop)
	b.x = x
	if b.op, err = accounts.LoadOperator(filepath.Join(b.dir, exchange.OperatorSeedFile)); err != nil {
		t.Fatal(err)
	}
}

// user has org issue a user of the identity's account, and connects it.
func (b *operatorBed) user(t *testing.T, org nkeys.KeyPair, account, inbox string, opts ...nats.Option) (*nats.Conn, string, error) {
	t.Helper()
	kp, _ := nkeys.CreateUser()
	pub, _ := kp.PublicKey()
	tok, err := accounts.IssueUser(org, b.op.AccountKey(account), pub, "test", nil, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	seed, _ := kp.Seed()
	b.issued = append(b.issued, issued{pub: pub, jwt: tok, seed: string(seed)})
	nc, err := b.connect(tok, string(seed), inbox, opts...)
	return nc, pub, err
}

// issued is a user an organisation issued, kept to present it again.
type issued struct{ pub, jwt, seed string }

func (b *operatorBed) connect(tok, seed, inbox string, opts ...nats.Option) (*nats.Conn, error) {
	opts = append([]nats.Option{nats.UserJWTAndSeed(tok, seed), nats.CustomInboxPrefix(inbox), nats.MaxReconnects(-1),
		nats.ReconnectWait(50 * time.Millisecond), nats.Timeout(5 * time.Second)}, opts...)
	nc, err := nats.Connect(b.x.URL(), opts...)
	if err == nil {
		b.t.Cleanup(nc.Close)
	}
	return nc, err
}

func (b *operatorBed) revoke(t *testing.T, via *nats.Conn, kind, id string, org nkeys.KeyPair, account, user string) exchange.RevokeReply {
	t.Helper()
	tok, err := accounts.SignRevocation(org, b.op.AccountKey(account), user)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := via.Request(accounts.RevokeSubject(kind, id), []byte(tok), 10*time.Second)
	if err != nil {
		t.Fatalf("revocation request: %v", err)
	}
	var r exchange.RevokeReply
	if err := json.Unmarshal(msg.Data, &r); err != nil {
		t.Fatalf("%v: %s", err, msg.Data)
	}
	return r
}

// TestOperatorModeExchange: in operator mode an organisation's own users
// publish and read as the registry says; an organisation revokes one of
// its users and its live connection is cut; another organisation cannot
// revoke it; the revocation outlives a restart; an identity removed from
// the registry is cut off.
func TestOperatorModeExchange(t *testing.T) {
	b := newOperatorBed(t)
	s1acc := accounts.SensorAccount("org-a", "s1")

	var closed atomic.Bool
	s1, s1user, err := b.user(t, b.orgA, s1acc, accounts.SensorInbox("s1"),
		nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {}),
		nats.DisconnectErrHandler(func(*nats.Conn, error) { closed.Store(true) }))
	if err != nil {
		t.Fatalf("org-a's user of s1: %v", err)
	}
	pa, _, err := b.user(t, b.orgA, accounts.PeerAccount("org-a", "pa"), accounts.PeerInbox("pa"))
	if err != nil {
		t.Fatalf("org-a's user of pa: %v", err)
	}
	pb, _, err := b.user(t, b.orgB, accounts.PeerAccount("org-b", "pb"), accounts.PeerInbox("pb"))
	if err != nil {
		t.Fatalf("org-b's user of pb: %v", err)
	}

	// The sensor publishes; the switch delivers to the peer's stream.
	js1, _ := jetstream.New(s1)
	if _, err := js1.Publish(t.Context(), routing.InSubject("s1"), []byte(`{"rrname":"a.example","rrtype":"A","rdata":["192.0.2.1"],"time_first":1,"time_last":2}`)); err != nil {
		t.Fatalf("s1 publish: %v", err)
	}
	waitMsgs(t, b.x.JetStream(), routing.PeerStream("pa"), 1)

	// Another organisation's key, or another organisation's identity,
	// cannot revoke org-a's user.
	if r := b.revoke(t, pb, "peer", "pb", b.orgB, s1acc, s1user); r.OK {
		t.Fatal("org-b revoked org-a's user")
	}
	if r := b.revoke(t, pb, "peer", "pb", b.orgA, s1acc, s1user); r.OK {
		t.Fatal("org-a's revocation was accepted through org-b's peer")
	}
	if r := b.revoke(t, pa, "peer", "pa", b.orgB, s1acc, s1user); r.OK {
		t.Fatal("a revocation signed by org-b was accepted for org-a's account")
	}
	// Malformed requests are refused with a reason, and cut off nobody.
	userJWT, _ := accounts.IssueUser(b.orgA, b.op.AccountKey(s1acc), s1user, "s1", nil, time.Time{})
	for name, payload := range map[string][]byte{
		"garbage":                    []byte("not a jwt"),
		"a user JWT, not revocation": []byte(userJWT),
		"oversized":                  make([]byte, 5000),
	} {
		msg, err := pa.Request(accounts.RevokeSubject("peer", "pa"), payload, 10*time.Second)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var r exchange.RevokeReply
		if json.Unmarshal(msg.Data, &r) != nil || r.OK || r.Error == "" {
			t.Errorf("%s: %s", name, msg.Data)
		}
	}
	if closed.Load() {
		t.Fatal("s1 was cut off by a refused revocation")
	}

	// Org-a revokes its user through its peer: the live connection is cut
	// and the user cannot come back.
	if r := b.revoke(t, pa, "peer", "pa", b.orgA, s1acc, s1user); !r.OK || r.Account != s1acc {
		t.Fatalf("org-a's revocation: %+v", r)
	}
	waitFor(t, "the revoked user's connection is closed", func() bool { return closed.Load() })
	waitFor(t, "the revoked user stays out", func() bool { return !s1.IsConnected() })
	time.Sleep(300 * time.Millisecond)
	if s1.IsConnected() {
		t.Fatal("the revoked user reconnected")
	}
	// A fresh user of the same account is admitted.
	if _, _, err := b.user(t, b.orgA, s1acc, accounts.SensorInbox("s1")); err != nil {
		t.Fatalf("a new user of s1 after the revocation: %v", err)
	}

	// After a restart, the revocation holds.
	s1.Close()
	b.x.Stop()
	// Claims are dated to the second, and a resolver keeps the newer of
	// two: let the restart's claims be strictly newer than the revocation.
	time.Sleep(1100 * time.Millisecond)
	b.start(t, operatorYAML(b.orgA, b.orgB, true))
	if _, _, err := b.user(t, b.orgA, s1acc, accounts.SensorInbox("s1")); err != nil {
		t.Fatalf("a new user after the restart: %v", err)
	}
	for _, u := range b.issued {
		if u.pub != s1user {
			continue
		}
		if nc, err := b.connect(u.jwt, u.seed, accounts.SensorInbox("s1"), nats.MaxReconnects(0)); err == nil {
			nc.Close()
			t.Fatal("the revoked user was admitted after a restart")
		}
	}

	// s1 leaves the registry: its users are cut off at the reload.
	var gone atomic.Bool
	if _, _, err := b.user(t, b.orgA, s1acc, accounts.SensorInbox("s1"),
		nats.DisconnectErrHandler(func(*nats.Conn, error) { gone.Store(true) })); err != nil {
		t.Fatal(err)
	}
	writeConfig(t, b.path, operatorYAML(b.orgA, b.orgB, false))
	if !exchange.NewReloader(b.x, b.path, "").Reload(t.Context(), "test") {
		t.Fatal("reload failed")
	}
	waitFor(t, "the removed sensor's user is cut off", func() bool { return gone.Load() })
	if _, _, err := b.user(t, b.orgA, s1acc, accounts.SensorInbox("s1"), nats.MaxReconnects(0)); err == nil {
		t.Fatal("a user of a removed sensor was admitted")
	}
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting: %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
