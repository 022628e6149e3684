package exchange_test

// Review 20c: an organisation in operator mode against revocation.

import (
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"

	"github.com/cofswitch/cofswitch/accounts"
	"github.com/cofswitch/cofswitch/switch/exchange"
)

// datedUser has org issue a user of account whose JWT claims to be issued
// at at, and returns its JWT and seed.
func (b *operatorBed) datedUser(t *testing.T, org nkeys.KeyPair, account string, at time.Time) (pub, tok, seed string) {
	t.Helper()
	kp, _ := nkeys.CreateUser()
	pub, _ = kp.PublicKey()
	tok, err := accounts.IssueUser(org, b.op.AccountKey(account), pub, "backdoor", nil, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	s, _ := kp.Seed()
	return pub, futureDated(t, tok, org, at), string(s)
}

// TestReview20cFutureDatedUserOutlivesRevocation: whether a revocation
// reaches a user depends on the issued-at time in the user's own JWT,
// which whoever holds the organisation's signing key writes. A user
// dated ahead (an insider's backdoor, a key thief's user, or simply an
// issuing host whose clock runs ahead: the exchange itself tolerates a
// minute) is reached neither by 'revoke --all' (which the README and the
// command's help offer for "a lost signing key": "every user ... issued
// until now") nor by the revocation of its own key, nor by its identity
// leaving the registry and coming back ("the users issued before it left
// stay out"). Each time the exchange answers ok, and 'cofswitch revoke'
// prints that the user's connections are closed, while the user stays
// connected and can connect again.
func TestReview20cFutureDatedUserOutlivesRevocation(t *testing.T) {
	t.Skip("DEFECT: a user JWT dated ahead (iat in the future) survives 'revoke --all', the revocation of its own key and its identity's removal and return, while the exchange answers ok and the CLI says its connections are closed. Fix: do not report a revocation done while a user it names stays admitted: after the push, list the account's connections ($SYS.REQ.ACCOUNT.<acc>.CONNZ with auth) and close and report any whose JWT names the user (or, for *, any) with an iat after the revocation; date a single user's revocation no earlier than the iat of that user's JWTs seen connected; and say in the README and in 'revoke --help' that a lost or abused signing key needs a rollover (removing the key from signing_keys, which cuts every user it signed whatever its date), not --all")
	b := newOperatorBed(t)
	s1acc := accounts.SensorAccount("org-a", "s1")
	pa, _, err := b.user(t, b.orgA, accounts.PeerAccount("org-a", "pa"), accounts.PeerInbox("pa"))
	if err != nil {
		t.Fatal(err)
	}
	ahead := time.Now().Add(10 * 365 * 24 * time.Hour)
	pub, tok, seed := b.datedUser(t, b.orgA, s1acc, ahead)
	live, err := b.connect(tok, seed, accounts.SensorInbox("s1"))
	if err != nil {
		t.Fatalf("the future-dated user is not even admitted: %v", err)
	}
	admitted := func() bool {
		nc, err := b.connect(tok, seed, accounts.SensorInbox("s1"), nats.MaxReconnects(0))
		if err != nil {
			return false
		}
		nc.Close()
		return true
	}

	// The organisation revokes every user of s1 "issued until now".
	if r := b.revoke(t, pa, "peer", "pa", b.orgA, s1acc, jwt.All); !r.OK {
		t.Fatalf("revoke --all: %+v", r)
	}
	time.Sleep(500 * time.Millisecond)
	if live.IsConnected() || admitted() {
		t.Error("after 'revoke --all' (answered ok), a user of s1 stays connected and is admitted again")
	}

	// And the revocation of that very user.
	if r := b.revoke(t, pa, "peer", "pa", b.orgA, s1acc, pub); !r.OK {
		t.Fatalf("revoke --user: %+v", r)
	}
	time.Sleep(500 * time.Millisecond)
	if live.IsConnected() || admitted() {
		t.Error("after the revocation of its own key (answered ok), the user stays connected and is admitted again")
	}

	// No intent needed: an issuing host whose clock runs 30 s ahead (the
	// exchange accepts a revocation dated up to a minute ahead) issues a
	// user, then revokes it from the same host: the revocation is dated
	// back to the exchange's now, before the user's issue, and misses it.
	skew := time.Now().Add(30 * time.Second)
	pub2, tok2, seed2 := b.datedUser(t, b.orgA, s1acc, skew)
	rtok, err := accounts.SignRevocation(b.orgA, b.op.AccountKey(s1acc), pub2)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := pa.Request(accounts.RevokeSubject("peer", "pa"), []byte(futureDated(t, rtok, b.orgA, skew.Add(time.Second))), 10*time.Second)
	if err != nil || !strings.Contains(string(msg.Data), `"ok":true`) {
		t.Fatalf("a revocation from a host 30 s ahead: %v %s", err, msg.Data)
	}
	if nc, err := b.connect(tok2, seed2, accounts.SensorInbox("s1"), nats.MaxReconnects(0)); err == nil {
		nc.Close()
		t.Error("a user revoked from a host whose clock runs 30 s ahead (answered ok) is admitted")
	}

	// s1 leaves the registry and comes back: the users issued before it
	// left should stay out.
	live.Close()
	for _, with := range []bool{false, true} {
		writeConfig(t, b.path, operatorYAML(b.orgA, b.orgB, with))
		if !exchange.NewReloader(b.x, b.path, "").Reload(t.Context(), "test") {
			t.Fatal("reload failed")
		}
	}
	if admitted() {
		t.Error("a user issued before s1 left the registry is admitted once it is back")
	}
}

// TestReview20cRevokedUserSlipsInDuringThePush: a user that connects
// while its revocation is pushed can be admitted under the account's old
// revocations and registered after the server closed the revoked users'
// connections: it stays connected, and publishes to its sensor's input
// (a JetStream ack from COF_IN_s1) seconds after the exchange answered
// the organisation ok. A host with a stolen credential that reconnects
// in a loop wins this race about once in ten revocations (embedded
// server, 12 connecting goroutines); the revocation then holds for the
// next connection only.
func TestReview20cRevokedUserSlipsInDuringThePush(t *testing.T) {
	t.Skip("DEFECT: a connection authenticating while its user's revocation is pushed is registered after the server's sweep of revoked users and stays up, while the exchange answers ok. Fix: after each revocation's push, sweep the account's connections again (the embedded server's Connz with the account and auth details, or $SYS.REQ.ACCOUNT.<acc>.CONNZ) and close those of the revoked user (or of every user issued before the time, for *), once more a moment later; or raise it upstream (nats-server: re-check the revocation when the client registers with the account)")
	b := newOperatorBed(t)
	exchange.SetRevocationPace(b.x.Embedded(), time.Microsecond, 100000) // this test is not about the pace
	s1acc := accounts.SensorAccount("org-a", "s1")
	pa, _, err := b.user(t, b.orgA, accounts.PeerAccount("org-a", "pa"), accounts.PeerInbox("pa"))
	if err != nil {
		t.Fatal(err)
	}
	for round := range 60 {
		kp, _ := nkeys.CreateUser()
		pub, _ := kp.PublicKey()
		tok, err := accounts.IssueUser(b.orgA, b.op.AccountKey(s1acc), pub, "lost host", nil, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		seed, _ := kp.Seed()
		var stop atomic.Bool
		var mu sync.Mutex
		var conns []*nats.Conn
		var wg sync.WaitGroup
		for range 12 {
			wg.Go(func() {
				for !stop.Load() {
					nc, err := nats.Connect(b.x.URL(), nats.UserJWTAndSeed(tok, string(seed)), nats.NoReconnect(),
						nats.CustomInboxPrefix(accounts.SensorInbox("s1")), nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {}))
					if err == nil {
						mu.Lock()
						conns = append(conns, nc)
						mu.Unlock()
					}
				}
			})
		}
		time.Sleep(20 * time.Millisecond)
		if r := b.revoke(t, pa, "peer", "pa", b.orgA, s1acc, pub); !r.OK {
			t.Fatalf("revocation: %+v", r)
		}
		time.Sleep(20 * time.Millisecond)
		stop.Store(true)
		wg.Wait()
		time.Sleep(300 * time.Millisecond)
		var up []*nats.Conn
		for _, nc := range conns {
			if nc.IsConnected() {
				up = append(up, nc)
			} else {
				nc.Close()
			}
		}
		if len(up) == 0 {
			continue
		}
		time.Sleep(2 * time.Second)
		for _, nc := range up {
			js, _ := jetstream.New(nc, jetstream.WithDefaultTimeout(5*time.Second))
			ack, err := js.Publish(t.Context(), "cof.in.s1", []byte(`{"rrname":"after-revocation.example","rrtype":"A","rdata":["192.0.2.1"]}`))
			nc.Close()
			if err == nil {
				t.Fatalf("round %d: 2 s after its revocation was answered ok, a connection of the revoked user is up and stored a batch in %s (seq %d)", round, ack.Stream, ack.Sequence)
			}
		}
	}
	t.Log("no revoked user slipped in within 60 revocations")
}
