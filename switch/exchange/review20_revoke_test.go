package exchange_test

// The attacker's review of operator mode: what an organisation can do
// with revocations.

import (
	"encoding/json"
	"log/slog"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"github.com/cofswitch/cofswitch/accounts"
	"github.com/cofswitch/cofswitch/switch/exchange"
)

// TestReviewRevocationReplayIsNotPushedAgain: an organisation that sends
// the same revocation again (or one no newer than what the account already
// holds) changes nothing, so the switch must not re-sign and push the
// account each time: otherwise one organisation replaying one token in a
// loop keeps the resolver writing its directory and the server
// re-evaluating connections, and holds the lock that every other
// organisation's revocation and every reload wait for.
func TestReviewRevocationReplayIsNotPushedAgain(t *testing.T) {
	b := newOperatorBed(t)
	s1acc := accounts.SensorAccount("org-a", "s1")
	pa, _, err := b.user(t, b.orgA, accounts.PeerAccount("org-a", "pa"), accounts.PeerInbox("pa"))
	if err != nil {
		t.Fatal(err)
	}
	_, s1user, err := b.user(t, b.orgA, s1acc, accounts.SensorInbox("s1"))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := accounts.SignRevocation(b.orgA, b.op.AccountKey(s1acc), s1user)
	if err != nil {
		t.Fatal(err)
	}
	send := func() exchange.RevokeReply {
		msg, err := pa.Request(accounts.RevokeSubject("peer", "pa"), []byte(tok), 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		var r exchange.RevokeReply
		if err := json.Unmarshal(msg.Data, &r); err != nil {
			t.Fatal(err)
		}
		return r
	}
	exchange.SetRevocationPace(b.x.Embedded(), time.Microsecond, 100) // this test is not about the pace
	if r := send(); !r.OK {
		t.Fatalf("the first revocation: %+v", r)
	}
	sys := b.sysConn(t)
	var pushes atomic.Int64
	if _, err := sys.Subscribe("$SYS.REQ.CLAIMS.UPDATE", func(*nats.Msg) { pushes.Add(1) }); err != nil {
		t.Fatal(err)
	}
	if err := sys.Flush(); err != nil {
		t.Fatal(err)
	}
	for range 20 {
		if r := send(); !r.OK {
			t.Fatalf("a replayed revocation: %+v", r)
		}
	}
	_ = sys.Flush()
	time.Sleep(100 * time.Millisecond)
	if n := pushes.Load(); n != 0 {
		t.Fatalf("20 replays of one revocation pushed the account %d times", n)
	}
}

// TestReviewRevocationCapAfterKeyRollover: an account that holds the
// maximum of revocations refuses one more and says to revoke every user
// at once; that revocation (user "*") works through a rollover of the
// organisation's key, and again later.
func TestReviewRevocationCapAfterKeyRollover(t *testing.T) {
	b := &operatorBed{dir: t.TempDir(), t: t}
	old, _ := nkeys.CreateAccount()
	b.orgB, _ = nkeys.CreateAccount()
	b.path = filepath.Join(t.TempDir(), "cofswitch.yaml")
	b.start(t, twoKeyYAML(b.orgB, old))
	exchange.SetRevocationPace(b.x.Embedded(), time.Microsecond, 2000)
	exchange.SetRevocationSkew(b.x.Embedded(), time.Second)
	s1acc := accounts.SensorAccount("org-a", "s1")
	pa, _, err := b.user(t, old, accounts.PeerAccount("org-a", "pa"), accounts.PeerInbox("pa"))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; ; i++ {
		kp, _ := nkeys.CreateUser()
		pub, _ := kp.PublicKey()
		r := b.revoke(t, pa, "peer", "pa", old, s1acc, pub)
		if !r.OK {
			if i != 1000 || !strings.Contains(r.Error, "revoke --all") {
				t.Fatalf("refused after %d revocations: %+v", i, r)
			}
			break
		}
	}
	// The organisation rolls its key over, and revokes every user of the
	// sensor issued so far.
	pa.Close()
	next, _ := nkeys.CreateAccount()
	writeConfig(t, b.path, twoKeyYAML(b.orgB, next))
	if !exchange.NewReloader(b.x, b.path, "").Reload(t.Context(), "test") {
		t.Fatal("reload failed")
	}
	pa, _, err = b.user(t, next, accounts.PeerAccount("org-a", "pa"), accounts.PeerInbox("pa"))
	if err != nil {
		t.Fatal(err)
	}
	var cut atomic.Bool
	if _, _, err := b.user(t, next, s1acc, accounts.SensorInbox("s1"), nats.DisconnectErrHandler(func(*nats.Conn, error) { cut.Store(true) })); err != nil {
		t.Fatal(err)
	}
	if r := b.revoke(t, pa, "peer", "pa", next, s1acc, jwt.All); !r.OK {
		t.Fatalf("revoking every user of the sensor: %+v", r)
	}
	waitFor(t, "every user of the sensor is cut off", func() bool { return cut.Load() })
	time.Sleep(2100 * time.Millisecond) // --all reaches users dated up to the skew (1 s here) ahead
	_, lost, err := b.user(t, next, s1acc, accounts.SensorInbox("s1"))
	if err != nil {
		t.Fatalf("a user issued after revoking all: %v", err)
	}
	// Keys revoked for good stay revoked through --all (a JWT of one
	// dated beyond it would come back), so the account still holds its
	// 1,000: a single user is refused with the way out, and --all still
	// cuts it off.
	if r := b.revoke(t, pa, "peer", "pa", next, s1acc, lost); r.OK || !strings.Contains(r.Error, "revoke --all") {
		t.Fatalf("a single revocation past the maximum: %+v", r)
	}
	cut.Store(false)
	if _, _, err := b.user(t, next, s1acc, accounts.SensorInbox("s1"), nats.DisconnectErrHandler(func(*nats.Conn, error) { cut.Store(true) })); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond) // a revocation signed a second later
	if r := b.revoke(t, pa, "peer", "pa", next, s1acc, jwt.All); !r.OK {
		t.Fatalf("revoking every user again: %+v", r)
	}
	waitFor(t, "the user issued since cut off by --all again", func() bool { return cut.Load() })
}

// TestReviewRevocationAbuse: revocations dated ahead beyond the skew, one
// for an account the registry no longer has, one signed by a key no
// organisation holds: none cuts off a user it should not. A revocation
// dated in the past puts the user's key out all the same: a key revoked
// is out for good, whatever the dates.
func TestReviewRevocationAbuse(t *testing.T) {
	b := newOperatorBed(t)
	s1acc := accounts.SensorAccount("org-a", "s1")
	pa, _, err := b.user(t, b.orgA, accounts.PeerAccount("org-a", "pa"), accounts.PeerInbox("pa"))
	if err != nil {
		t.Fatal(err)
	}
	var gone atomic.Bool
	_, s1user, err := b.user(t, b.orgA, s1acc, accounts.SensorInbox("s1"),
		nats.DisconnectErrHandler(func(*nats.Conn, error) { gone.Store(true) }))
	if err != nil {
		t.Fatal(err)
	}
	send := func(tok string) exchange.RevokeReply {
		t.Helper()
		msg, err := pa.Request(accounts.RevokeSubject("peer", "pa"), []byte(tok), 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		var r exchange.RevokeReply
		if err := json.Unmarshal(msg.Data, &r); err != nil {
			t.Fatal(err)
		}
		return r
	}
	tok, err := accounts.SignRevocation(b.orgA, b.op.AccountKey(s1acc), s1user)
	if err != nil {
		t.Fatal(err)
	}
	// Dated a day ahead: it would revoke the JWTs org-a issues to that
	// key tomorrow too.
	if r := send(futureDated(t, tok, b.orgA, time.Now().Add(24*time.Hour))); r.OK {
		t.Fatalf("a revocation dated a day ahead was accepted: %+v", r)
	}
	// Signed by a key no organisation holds.
	rogue, _ := nkeys.CreateAccount()
	rtok, _ := accounts.SignRevocation(rogue, b.op.AccountKey(s1acc), s1user)
	if r := send(rtok); r.OK {
		t.Fatalf("a revocation signed by a rogue key was accepted: %+v", r)
	}
	// For the account of a sensor the registry does not have.
	gtok, _ := accounts.SignRevocation(b.orgA, b.op.AccountKey(accounts.SensorAccount("org-a", "s9")), s1user)
	if r := send(gtok); r.OK {
		t.Fatalf("a revocation for an unregistered sensor's account was accepted: %+v", r)
	}
	// For another organisation's account, signed by org-a, through org-a.
	otok, _ := accounts.SignRevocation(b.orgA, b.op.AccountKey(accounts.SensorAccount("org-b", "s2")), s1user)
	if r := send(otok); r.OK {
		t.Fatalf("org-a revoked a user of org-b's account: %+v", r)
	}
	time.Sleep(300 * time.Millisecond)
	if gone.Load() {
		t.Fatal("a refused revocation cut the user off")
	}
	// Dated in the past: accepted, and the user's key is out.
	if r := send(futureDated(t, tok, b.orgA, time.Now().Add(-24*time.Hour))); !r.OK {
		t.Fatalf("a revocation dated yesterday: %+v", r)
	}
	waitFor(t, "the user of a key revoked by a revocation dated yesterday cut off", func() bool { return gone.Load() })
}

// TestReviewRevocationFloodStallsOthers: every revocation that changes an
// account re-signs and pushes it, one at a time under one lock, on one
// subscription that answers every organisation. One organisation sending
// its (valid) revocations as fast as it can (1,000 new users an account,
// and each again every second with a newer date) delays every other
// organisation's revocation behind its queue, and beyond the client's
// pending limit has them dropped.
func TestReviewRevocationFloodStallsOthers(t *testing.T) {
	b := newOperatorBed(t)
	s1acc := accounts.SensorAccount("org-a", "s1")
	pa, _, err := b.user(t, b.orgA, accounts.PeerAccount("org-a", "pa"), accounts.PeerInbox("pa"))
	if err != nil {
		t.Fatal(err)
	}
	pb, _, err := b.user(t, b.orgB, accounts.PeerAccount("org-b", "pb"), accounts.PeerInbox("pb"))
	if err != nil {
		t.Fatal(err)
	}
	_, victim, err := b.user(t, b.orgB, accounts.SensorAccount("org-b", "s2"), accounts.SensorInbox("s2"))
	if err != nil {
		t.Fatal(err)
	}
	// org-a queues 1,000 valid revocations without waiting for answers.
	for range 1000 {
		kp, _ := nkeys.CreateUser()
		pub, _ := kp.PublicKey()
		tok, _ := accounts.SignRevocation(b.orgA, b.op.AccountKey(s1acc), pub)
		if err := pa.PublishRequest(accounts.RevokeSubject("peer", "pa"), accounts.PeerInbox("pa")+".ignored", []byte(tok)); err != nil {
			t.Fatal(err)
		}
	}
	if err := pa.Flush(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if r := b.revoke(t, pb, "peer", "pb", b.orgB, accounts.SensorAccount("org-b", "s2"), victim); !r.OK {
		t.Fatalf("org-b's revocation: %+v", r)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("org-b's revocation waited %v behind org-a's", d)
	}
}

// countingHandler counts the records logged with a message.
type countingHandler struct {
	msg string
	n   *atomic.Int64
}

// TestReviewRefusedRevocationsLogBounded: any user of any identity may
// send garbage to its revocation subject; each refusal is one WARN line,
// outside the per-identity aggregation the embedded server's security log
// applies (README: the first of a window in full, the rest as one line),
// so one identity fills the exchange's log at the rate it can publish.
func TestReviewRefusedRevocationsLogBounded(t *testing.T) {
	var n atomic.Int64
	b := &operatorBed{dir: t.TempDir(), t: t}
	b.orgA, _ = nkeys.CreateAccount()
	b.orgB, _ = nkeys.CreateAccount()
	b.path = filepath.Join(t.TempDir(), "cofswitch.yaml")
	cfg := writeConfig(t, b.path, operatorYAML(b.orgA, b.orgB, true))
	x, err := exchange.Start(t.Context(), cfg, exchange.Options{NATS: cfg.NATS, DataDir: b.dir,
		Logger: slog.New(countingHandler{msg: "revocation refused", n: &n})})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(x.Stop)
	b.x = x
	if b.op, err = accounts.LoadOperator(filepath.Join(b.dir, exchange.OperatorSeedFile)); err != nil {
		t.Fatal(err)
	}
	pb, _, err := b.user(t, b.orgB, accounts.PeerAccount("org-b", "pb"), accounts.PeerInbox("pb"))
	if err != nil {
		t.Fatal(err)
	}
	for range 2000 {
		if err := pb.PublishRequest(accounts.RevokeSubject("peer", "pb"), accounts.PeerInbox("pb")+".x", []byte("garbage")); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := pb.Request(accounts.RevokeSubject("peer", "pb"), []byte("garbage"), 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if got := n.Load(); got > 10 {
		t.Fatalf("2,001 refused revocations from one identity logged %d lines", got)
	}
}

// TestReviewRevocationAfterFailedRemoval: a reload removes s1 and s1b;
// s1's account is disabled, then disabling s1b's fails, so the reload
// fails and the registry in force is still the old one. A revocation org-a
// sends for a user of s1 meanwhile must not push s1's account enabled
// again, and the reload tried again must leave both disabled.
func TestReviewRevocationAfterFailedRemoval(t *testing.T) {
	b := newOperatorBed(t)
	s1acc, s1bacc := accounts.SensorAccount("org-a", "s1"), accounts.SensorAccount("org-a", "s1b")
	pa, _, err := b.user(t, b.orgA, accounts.PeerAccount("org-a", "pa"), accounts.PeerInbox("pa"))
	if err != nil {
		t.Fatal(err)
	}
	_, s1user, err := b.user(t, b.orgA, s1acc, accounts.SensorInbox("s1"))
	if err != nil {
		t.Fatal(err)
	}
	s1bPub := b.op.AccountKey(s1bacc)
	restore := b.relaySystem(t, func(ac *jwt.AccountClaims) bool { return ac.Subject == s1bPub && ac.Limits.Conn == 0 })
	without := strings.Replace(operatorYAML(b.orgA, b.orgB, false), "  - {id: s1b, organisation: org-a}\n", "", 1)
	cfg := writeConfig(t, b.path, without)
	emb := b.x.Embedded()
	if err := emb.Reconfigure(cfg); err == nil {
		t.Fatal("the reload did not fail")
	}
	restore()
	if nc, _, err := b.user(t, b.orgA, s1acc, accounts.SensorInbox("s1"), nats.MaxReconnects(0)); err == nil {
		nc.Close()
		t.Fatal("s1's account was not disabled by the failed reload (the test's premise)")
	}

	// Users issued after the account was disabled (its revocation of
	// every user is dated to the second).
	time.Sleep(1100 * time.Millisecond)
	r := b.revoke(t, pa, "peer", "pa", b.orgA, s1acc, s1user)
	if nc, _, err := b.user(t, b.orgA, s1acc, accounts.SensorInbox("s1"), nats.MaxReconnects(0)); err == nil {
		nc.Close()
		t.Fatalf("a revocation (%+v) after the failed reload enabled s1's account again", r)
	}
	if err := emb.Reconfigure(cfg); err != nil {
		t.Fatalf("the reload tried again: %v", err)
	}
	for _, acc := range []string{s1acc, s1bacc} {
		if nc, _, err := b.user(t, b.orgA, acc, accounts.SensorInbox("s1"), nats.MaxReconnects(0)); err == nil {
			nc.Close()
			t.Fatalf("%s admits users after the reload tried again", acc)
		}
	}
}
