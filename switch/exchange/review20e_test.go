package exchange_test

// Review 20e: the date of 'revoke --all'.

import (
	"encoding/json"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats.go"

	"github.com/cofswitch/cofswitch/accounts"
	"github.com/cofswitch/cofswitch/switch/exchange"
)

// TestReview20eSlowClockAllSparesRecentUsers: 'revoke --all' is now dated
// by its own signing time. An organisation whose revoking host's clock
// runs two minutes slow (no bound is put on how far behind a revocation
// may be dated) revokes every user of s1; a user another of its hosts
// (accurate clock) issued thirty seconds before stays connected and
// admitted, while the exchange answers ok. Dated by its arrival (as
// before 09dcaaf) it was cut off.
func TestReview20eSlowClockAllSparesRecentUsers(t *testing.T) {
	// Fixed: --all is dated by its arrival; replays are refused (too old) or no-ops (no newer than the last applied).
	b := newOperatorBed(t)
	s1acc := accounts.SensorAccount("org-a", "s1")
	pa, _, err := b.user(t, b.orgA, accounts.PeerAccount("org-a", "pa"), accounts.PeerInbox("pa"))
	if err != nil {
		t.Fatal(err)
	}
	// A user issued 30 s ago by an accurate host.
	_, tok, seed := b.datedUser(t, b.orgA, s1acc, time.Now().Add(-30*time.Second))
	var cut atomic.Bool
	nc, err := b.connect(tok, seed, accounts.SensorInbox("s1"), nats.MaxReconnects(0),
		nats.DisconnectErrHandler(func(*nats.Conn, error) { cut.Store(true) }))
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	if !nc.IsConnected() {
		t.Fatal("the user was refused before any revocation")
	}
	// --all signed now by a host whose clock is two minutes slow.
	rev, err := accounts.SignRevocation(b.orgA, b.op.AccountKey(s1acc), jwt.All)
	if err != nil {
		t.Fatal(err)
	}
	rev = futureDated(t, rev, b.orgA, time.Now().Add(-2*time.Minute))
	msg, err := pa.Request(accounts.RevokeSubject("peer", "pa"), []byte(rev), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var r exchange.RevokeReply
	if err := json.Unmarshal(msg.Data, &r); err != nil || !r.OK {
		t.Fatalf("revoke --all: %+v %v", r, err)
	}
	exchange.Sweep(b.x.Embedded())
	time.Sleep(time.Second)
	if !cut.Load() {
		t.Error("revoke --all answered ok, and a user issued 30 s before it is still connected")
	}
	if b.upAfterConnect("s1", tok, seed) {
		t.Error("revoke --all answered ok, and a user issued 30 s before it is admitted again")
	}
}

// TestStaleAllRefused: a revocation of every user signed more than five
// minutes before it arrives is refused (its replay would cut off the
// users issued since), and cuts no one.
func TestStaleAllRefused(t *testing.T) {
	b := newOperatorBed(t)
	s1acc := accounts.SensorAccount("org-a", "s1")
	pa, _, err := b.user(t, b.orgA, accounts.PeerAccount("org-a", "pa"), accounts.PeerInbox("pa"))
	if err != nil {
		t.Fatal(err)
	}
	var gone atomic.Bool
	if _, _, err := b.user(t, b.orgA, s1acc, accounts.SensorInbox("s1"), nats.DisconnectErrHandler(func(*nats.Conn, error) { gone.Store(true) })); err != nil {
		t.Fatal(err)
	}
	tok, err := accounts.SignRevocation(b.orgA, b.op.AccountKey(s1acc), jwt.All)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := pa.Request(accounts.RevokeSubject("peer", "pa"), []byte(futureDated(t, tok, b.orgA, time.Now().Add(-10*time.Minute))), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(msg.Data), "more than 5m0s ago") {
		t.Fatalf("a revocation of all signed 10 minutes ago: %s", msg.Data)
	}
	time.Sleep(300 * time.Millisecond)
	if gone.Load() {
		t.Fatal("a refused revocation cut the user off")
	}
}
