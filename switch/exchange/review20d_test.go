package exchange_test

// Review 20d: the connect re-check and the dates of revocations in
// operator mode.

import (
	"strings"
	"testing"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats.go"

	"github.com/cofswitch/cofswitch/accounts"
	"github.com/cofswitch/cofswitch/switch/exchange"
)

// upAfterConnect connects a user and says whether it is still connected a
// moment later (the exchange cuts a refused user as it registers).
func (b *operatorBed) upAfterConnect(sensor, tok, seed string) bool {
	nc, err := b.connect(tok, seed, accounts.SensorInbox(sensor), nats.MaxReconnects(0))
	if err != nil {
		return false
	}
	defer nc.Close()
	time.Sleep(300 * time.Millisecond)
	return nc.IsConnected()
}

// TestReview20dAllLiftsAForGoodRevocation: one user's revocation puts its
// key "out for good, whatever date its JWTs claim" (README), and a user
// dated beyond the skew is cut off as it connects, until its date comes.
// 'revoke --all' then drops every single revocation and reaches only the
// users dated up to the skew ahead: a user whose JWT is dated further
// ahead (an issuing host's clock, a stolen credential), revoked on its
// own, is admitted once its date comes. The same holds across a departure
// and a restart (TestReview20dDepartureForgetsForGoodRevocations).
// Skew shortened to 1 s here.
func TestReview20dAllLiftsAForGoodRevocation(t *testing.T) {
	// Fixed: see revoke.go (--all keeps keys revoked for good, dated by its signing time) and accounts.Disabled.
	b := newOperatorBed(t)
	exchange.SetRevocationSkew(b.x.Embedded(), time.Second)
	s1acc := accounts.SensorAccount("org-a", "s1")
	pa, _, err := b.user(t, b.orgA, accounts.PeerAccount("org-a", "pa"), accounts.PeerInbox("pa"))
	if err != nil {
		t.Fatal(err)
	}
	date := time.Now().Add(4 * time.Second)
	pub, tok, seed := b.datedUser(t, b.orgA, s1acc, date)
	if b.upAfterConnect("s1", tok, seed) {
		t.Fatal("a user dated 4 s ahead (skew 1 s) is admitted")
	}
	if r := b.revoke(t, pa, "peer", "pa", b.orgA, s1acc, pub); !r.OK {
		t.Fatalf("revocation of the user: %+v", r)
	}
	if r := b.revoke(t, pa, "peer", "pa", b.orgA, s1acc, jwt.All); !r.OK {
		t.Fatalf("revoke --all: %+v", r)
	}
	time.Sleep(time.Until(date) + 200*time.Millisecond)
	if b.upAfterConnect("s1", tok, seed) {
		t.Error("a user revoked on its own ('out for good, whatever date its JWTs claim') is admitted after a later 'revoke --all'")
	}
}

// TestReview20dReplayedAllRevokesLaterUsers: a revocation of every user
// is now dated by the exchange's clock when it arrives (now+skew), not by
// its own signature: the same signed 'revoke --all', sent again later
// (nothing in it expires, and anyone connected as any of the
// organisation's identities may send it), cuts off every user issued
// since, and keeps doing so each time it is replayed. Before, it was
// dated by its own issued-at time and a replay was a no-op.
func TestReview20dReplayedAllRevokesLaterUsers(t *testing.T) {
	// Fixed: see revoke.go (--all keeps keys revoked for good, dated by its signing time) and accounts.Disabled.
	b := newOperatorBed(t)
	exchange.SetRevocationSkew(b.x.Embedded(), time.Second)
	s1bacc := accounts.SensorAccount("org-a", "s1b")
	pa, _, err := b.user(t, b.orgA, accounts.PeerAccount("org-a", "pa"), accounts.PeerInbox("pa"))
	if err != nil {
		t.Fatal(err)
	}
	all, err := accounts.SignRevocation(b.orgA, b.op.AccountKey(s1bacc), jwt.All)
	if err != nil {
		t.Fatal(err)
	}
	send := func() string {
		t.Helper()
		msg, err := pa.Request(accounts.RevokeSubject("peer", "pa"), []byte(all), 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		return string(msg.Data)
	}
	if r := send(); !strings.Contains(r, `"ok":true`) {
		t.Fatalf("revoke --all: %s", r)
	}
	// The organisation issues its new users past the skew, as told.
	time.Sleep(2200 * time.Millisecond)
	live, _, err := b.user(t, b.orgA, s1bacc, accounts.SensorInbox("s1b"), nats.MaxReconnects(0))
	if err != nil {
		t.Fatalf("a user issued after 'revoke --all' (past the skew): %v", err)
	}
	time.Sleep(300 * time.Millisecond)
	if !live.IsConnected() {
		t.Fatal("a user issued after 'revoke --all' is not connected")
	}
	// The same signed revocation, sent again.
	r := send()
	time.Sleep(500 * time.Millisecond)
	if !live.IsConnected() {
		t.Errorf("replaying a 'revoke --all' signed before the user was issued (%s) cut it off", r)
	}
}

// TestReview20dDepartureForgetsForGoodRevocations: an identity's account
// is disabled when it leaves the registry, with every user dated up to a
// minute ahead revoked; the disabled JWT holds that revocation alone,
// not the single ones. A restart reads the revocations back from the
// resolver's JWTs: the single ones are gone, and when the identity comes
// back, a user revoked "for good" whose JWT is dated beyond the
// departure's reach is admitted.
func TestReview20dDepartureForgetsForGoodRevocations(t *testing.T) {
	// Fixed: see revoke.go (--all keeps keys revoked for good, dated by its signing time) and accounts.Disabled.
	b := newOperatorBed(t)
	s1acc := accounts.SensorAccount("org-a", "s1")
	pa, _, err := b.user(t, b.orgA, accounts.PeerAccount("org-a", "pa"), accounts.PeerInbox("pa"))
	if err != nil {
		t.Fatal(err)
	}
	// Dated 70 s ahead: beyond the departure's reach (now+60 s), and
	// admitted 10 s from now under the default skew.
	date := time.Now().Add(70 * time.Second)
	pub, tok, seed := b.datedUser(t, b.orgA, s1acc, date)
	if r := b.revoke(t, pa, "peer", "pa", b.orgA, s1acc, pub); !r.OK {
		t.Fatalf("revocation of the user: %+v", r)
	}
	pa.Close()
	// s1 leaves the registry; the exchange restarts with it back.
	writeConfig(t, b.path, operatorYAML(b.orgA, b.orgB, false))
	if !exchange.NewReloader(b.x, b.path, "").Reload(t.Context(), "test") {
		t.Fatal("reload failed")
	}
	b.x.Stop()
	b.start(t, operatorYAML(b.orgA, b.orgB, true))
	time.Sleep(time.Until(date.Add(-time.Minute)) + 500*time.Millisecond)
	if b.upAfterConnect("s1", tok, seed) {
		t.Error("a user revoked 'for good' is admitted after its identity left, the exchange restarted and the identity came back")
	}
}
