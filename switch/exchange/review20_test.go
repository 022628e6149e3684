package exchange_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"

	"github.com/cofswitch/cofswitch/accounts"
	"github.com/cofswitch/cofswitch/bus"
	"github.com/cofswitch/cofswitch/config"
	"github.com/cofswitch/cofswitch/routing"
	"github.com/cofswitch/cofswitch/switch/exchange"
)

// sysConn connects a user of the system account, from the operator's
// seed in the bed's data directory.
func (b *operatorBed) sysConn(t *testing.T) *nats.Conn {
	t.Helper()
	kp, _ := nkeys.CreateUser()
	pub, _ := kp.PublicKey()
	tok, err := b.op.SystemUser(pub, "review")
	if err != nil {
		t.Fatal(err)
	}
	seed, _ := kp.Seed()
	nc, err := nats.Connect(b.x.URL(), nats.UserJWTAndSeed(tok, string(seed)))
	if err != nil {
		t.Fatalf("system user: %v", err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// twoKeyYAML is operatorYAML with org-a holding the signing keys keys.
func twoKeyYAML(orgB nkeys.KeyPair, keys ...nkeys.KeyPair) string {
	bp, _ := orgB.PublicKey()
	list := ""
	for i, k := range keys {
		p, _ := k.PublicKey()
		if i > 0 {
			list += ", "
		}
		list += p
	}
	return fmt.Sprintf(`
nats: {auth: jwt, listen: "127.0.0.1:0"}
sensors:
  - {id: s1, organisation: org-a}
  - {id: s2, organisation: org-b}
peers:
  - {id: pa, organisation: org-a, subscriptions: [{sensors: ["*"], policy: pass, tlp: CLEAR}]}
  - {id: pb, organisation: org-b, subscriptions: [{sensors: ["*"], policy: pass, tlp: CLEAR}]}
organisations:
  org-a: {signing_keys: [%s]}
  org-b: {signing_keys: [%s]}
`, list, bp)
}

// TestReviewRemovedSigningKeyCutsLiveUsers: an organisation rolls its
// signing key over (or the operator removes a compromised one): after the
// reload, the users the removed key signed must be cut off, live
// connections included, while the users of the key kept stay.
func TestReviewRemovedSigningKeyCutsLiveUsers(t *testing.T) {
	b := &operatorBed{dir: t.TempDir(), t: t}
	old, _ := nkeys.CreateAccount()
	kept, _ := nkeys.CreateAccount()
	b.orgA, b.orgB = kept, func() nkeys.KeyPair { k, _ := nkeys.CreateAccount(); return k }()
	b.path = filepath.Join(t.TempDir(), "cofswitch.yaml")
	b.start(t, twoKeyYAML(b.orgB, old, kept))

	s1acc := accounts.SensorAccount("org-a", "s1")
	var oldGone, keptGone atomic.Bool
	oldNC, _, err := b.user(t, old, s1acc, accounts.SensorInbox("s1"),
		nats.DisconnectErrHandler(func(*nats.Conn, error) { oldGone.Store(true) }))
	if err != nil {
		t.Fatalf("a user of the old key: %v", err)
	}
	oldUser := b.issued[len(b.issued)-1]
	if _, _, err := b.user(t, kept, s1acc, accounts.SensorInbox("s1"),
		nats.DisconnectErrHandler(func(*nats.Conn, error) { keptGone.Store(true) })); err != nil {
		t.Fatalf("a user of the kept key: %v", err)
	}

	writeConfig(t, b.path, twoKeyYAML(b.orgB, kept))
	if !exchange.NewReloader(b.x, b.path, "").Reload(t.Context(), "test") {
		t.Fatal("reload failed")
	}
	waitFor(t, "the old key's live user is cut off", func() bool { return oldGone.Load() })
	time.Sleep(300 * time.Millisecond)
	if oldNC.IsConnected() {
		t.Fatal("the old key's user reconnected")
	}
	if nc, err := b.connect(oldUser.jwt, oldUser.seed, accounts.SensorInbox("s1"), nats.MaxReconnects(0)); err == nil {
		nc.Close()
		t.Fatal("a user of the removed key was admitted")
	}
	if keptGone.Load() {
		t.Fatal("the kept key's user was cut off")
	}
}

// TestReviewOrgKeyForgeries: what an organisation's signing key signs
// admits nobody beyond its own identities' accounts: not a user naming
// EXCHANGE or SYS as its account, and not its revocation presented as a
// user's JWT.
func TestReviewOrgKeyForgeries(t *testing.T) {
	b := newOperatorBed(t)
	refused := func(t *testing.T, tok string, kp nkeys.KeyPair) {
		t.Helper()
		seed, _ := kp.Seed()
		nc, err := nats.Connect(b.x.URL(), nats.UserJWTAndSeed(tok, string(seed)), nats.MaxReconnects(0), nats.Timeout(5*time.Second))
		if err == nil {
			nc.Close()
			t.Fatal("admitted")
		}
		t.Logf("refused: %v", err)
	}
	for _, acc := range []string{accounts.ExchangeAccount, accounts.SystemAccount} {
		t.Run("a user of "+acc+" signed by org-a", func(t *testing.T) {
			kp, _ := nkeys.CreateUser()
			pub, _ := kp.PublicKey()
			tok, err := accounts.IssueUser(b.orgA, b.op.AccountKey(acc), pub, "x", nil, time.Time{})
			if err != nil {
				t.Fatal(err)
			}
			refused(t, tok, kp)
			// With permissions of its own, as an unscoped signer would.
			perms := jwt.Permissions{}
			perms.Pub.Allow.Add(">")
			perms.Sub.Allow.Add(">")
			tok, _ = accounts.IssueUser(b.orgA, b.op.AccountKey(acc), pub, "x", &perms, time.Time{})
			refused(t, tok, kp)
		})
	}
	t.Run("a revocation presented as a user's JWT", func(t *testing.T) {
		kp, _ := nkeys.CreateUser()
		pub, _ := kp.PublicKey()
		tok, err := accounts.SignRevocation(b.orgA, b.op.AccountKey(accounts.SensorAccount("org-a", "s1")), pub)
		if err != nil {
			t.Fatal(err)
		}
		refused(t, tok, kp)
	})
	t.Run("a user of org-a's sensor that lists its own connection types", func(t *testing.T) {
		// The template has no connection types: the user's own list is
		// refused like any other limit of its own.
		kp, _ := nkeys.CreateUser()
		pub, _ := kp.PublicKey()
		uc := jwt.NewUserClaims(pub)
		uc.UserPermissionLimits = jwt.UserPermissionLimits{}
		uc.AllowedConnectionTypes.Add(jwt.ConnectionTypeLeafnode)
		uc.IssuerAccount = b.op.AccountKey(accounts.SensorAccount("org-a", "s1"))
		tok, err := uc.Encode(b.orgA)
		if err != nil {
			t.Fatal(err)
		}
		refused(t, tok, kp)
	})
}

// relaySystem stands a relay in for the resolver of the exchange's
// claim updates: it forwards each push to the real one, and refuses those
// fail picks. restore puts the switch's own connection back.
func (b *operatorBed) relaySystem(t *testing.T, fail func(*jwt.AccountClaims) bool) (restore func()) {
	t.Helper()
	relaySrv, err := bus.StartServer(bus.ServerConfig{Listen: "127.0.0.1:0", StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { relaySrv.Shutdown(); relaySrv.WaitForShutdown() })
	relayIn, err := nats.Connect(relaySrv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(relayIn.Close)
	relayOut, err := nats.Connect(relaySrv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(relayOut.Close)
	real := b.sysConn(t)
	if _, err := relayIn.Subscribe("$SYS.REQ.CLAIMS.UPDATE", func(m *nats.Msg) {
		ac, err := jwt.DecodeAccountClaims(string(m.Data))
		if err == nil && fail(ac) {
			_ = m.Respond([]byte(`{"error":{"description":"injected failure"}}`))
			return
		}
		r, err := real.Request(m.Subject, m.Data, 10*time.Second)
		if err != nil {
			return
		}
		_ = m.Respond(r.Data)
	}); err != nil {
		t.Fatal(err)
	}
	if err := relayIn.Flush(); err != nil {
		t.Fatal(err)
	}
	emb := b.x.Embedded()
	orig := exchange.SwapSystemConn(emb, relayOut)
	return func() { exchange.SwapSystemConn(emb, orig) }
}

// TestReviewFailedReloadLeavesNoLiveAccount: a reload that adds a sensor
// fails after the sensor's account was pushed (a push to the resolver
// failing half-way); the operator then goes back to the registry as it
// was. The sensor's account is no longer in the registry, so its users
// must be refused; but the switch only disables the accounts of the
// claims in force, which never had it, so the account the failed reload
// pushed stays live (until a restart) and admits its organisation's
// users.
func TestReviewFailedReloadLeavesNoLiveAccount(t *testing.T) {
	b := newOperatorBed(t)
	base := operatorYAML(b.orgA, b.orgB, true)

	// A new sensor and a new peer, the sensor's account pushed first (a
	// reload pushes only the accounts that changed, in the order of their
	// keys), so that the push after it can fail.
	var id, yaml2, failAfter string
	for i := 0; ; i++ {
		id = fmt.Sprintf("new%d", i)
		yaml2 = strings.Replace(base, "sensors:\n", "sensors:\n  - {id: "+id+", organisation: org-a}\n", 1)
		yaml2 = strings.Replace(yaml2, "peers:\n", "peers:\n  - {id: p"+id+", organisation: org-a, subscriptions: [{sensors: [\"*\"], policy: pass, tlp: CLEAR}]}\n", 1)
		cfg, err := config.Parse("t.yaml", []byte(yaml2))
		if err != nil {
			t.Fatal(err)
		}
		c, err := b.op.Claims(accounts.Plan(cfg.Sensors, cfg.Peers, true), accounts.ClaimsOptions{SigningKeys: cfg.SigningKeysOf})
		if err != nil {
			t.Fatal(err)
		}
		sensorPub, peerPub := c.Names[accounts.SensorAccount("org-a", id)], c.Names[accounts.PeerAccount("org-a", "p"+id)]
		if sensorPub < peerPub {
			failAfter = peerPub
			break
		}
	}

	// A relay stands for the resolver: it forwards each push to the real
	// one, and refuses the push after the new sensor's account.
	emb := b.x.Embedded()
	restore := b.relaySystem(t, func(ac *jwt.AccountClaims) bool { return ac.Subject == failAfter })

	cfg2 := writeConfig(t, b.path, yaml2)
	if err := emb.Reconfigure(cfg2); err == nil {
		t.Fatal("the reload did not fail")
	}
	restore()

	// Back to the registry as it was: the reload succeeds.
	cfg1 := writeConfig(t, b.path, base)
	if err := emb.Reconfigure(cfg1); err != nil {
		t.Fatalf("the reload back: %v", err)
	}
	if nc, _, err := b.user(t, b.orgA, accounts.SensorAccount("org-a", id), accounts.SensorInbox(id), nats.MaxReconnects(0)); err == nil {
		nc.Close()
		t.Fatalf("a user of %s, which the registry does not have, was admitted", id)
	}
}

// TestReviewReaddedIdentityKeepsItsUsersOut: a sensor leaves the registry
// (its users are cut off) and comes back. Across a restart the users
// issued before it left stay out (the disabled account's revocation of
// every user is read back from the resolver); without a restart they must
// stay out too, rather than come back to life with the account.
func TestReviewReaddedIdentityKeepsItsUsersOut(t *testing.T) {
	b := newOperatorBed(t)
	exchange.SetRevocationSkew(b.x.Embedded(), time.Second)
	s1acc := accounts.SensorAccount("org-a", "s1")
	if _, _, err := b.user(t, b.orgA, s1acc, accounts.SensorInbox("s1")); err != nil {
		t.Fatal(err)
	}
	before := b.issued[len(b.issued)-1]
	reload := func(withS1 bool) {
		t.Helper()
		writeConfig(t, b.path, operatorYAML(b.orgA, b.orgB, withS1))
		if !exchange.NewReloader(b.x, b.path, "").Reload(t.Context(), "test") {
			t.Fatal("reload failed")
		}
	}
	reload(false)
	reload(true)
	if nc, err := b.connect(before.jwt, before.seed, accounts.SensorInbox("s1"), nats.MaxReconnects(0)); err == nil {
		nc.Close()
		t.Fatal("a user issued before its sensor left the registry was admitted once it came back")
	}
	// A user issued after it came back (beyond the skew, 1 s here) is
	// admitted.
	time.Sleep(2100 * time.Millisecond)
	if _, _, err := b.user(t, b.orgA, s1acc, accounts.SensorInbox("s1"), nats.MaxReconnects(0)); err != nil {
		t.Fatalf("a new user of the sensor back in the registry: %v", err)
	}
}

// futureDated re-signs a JWT with its issued-at time moved to at: what a
// resolver holds after the exchange's clock stepped back.
func futureDated(t *testing.T, tok string, kp nkeys.KeyPair, at time.Time) string {
	t.Helper()
	parts := strings.Split(tok, ".")
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims map[string]any
	if err := json.Unmarshal(raw, &claims); err != nil {
		t.Fatal(err)
	}
	claims["iat"] = at.Unix()
	claims["jti"] = "review-future-dated"
	raw, _ = json.Marshal(claims)
	signing := parts[0] + "." + base64.RawURLEncoding.EncodeToString(raw)
	sig, err := kp.Sign([]byte(signing))
	if err != nil {
		t.Fatal(err)
	}
	return signing + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// TestReviewRestartAfterClockStepBack: the resolver's preload keeps the
// newer of the JWT it has on disk and the one preloaded, by issued-at
// time. Should the exchange's clock step back between two runs (a
// restored VM, a wrong RTC corrected by NTP), the accounts the restart
// renders are older than those on disk and silently dropped: a sensor
// removed from the registry while the exchange was down keeps admitting
// its organisation's users (until a reload pushes again).
func TestReviewRestartAfterClockStepBack(t *testing.T) {
	b := newOperatorBed(t)
	s1acc := accounts.SensorAccount("org-a", "s1")
	// The resolver holds s1's account as signed an hour "later", as
	// the run before a clock step back would leave it.
	seed, err := os.ReadFile(filepath.Join(b.dir, exchange.OperatorSeedFile))
	if err != nil {
		t.Fatal(err)
	}
	opKP, err := nkeys.FromSeed([]byte(strings.TrimSpace(string(seed))))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse("t.yaml", []byte(operatorYAML(b.orgA, b.orgB, true)))
	if err != nil {
		t.Fatal(err)
	}
	c, err := b.op.Claims(accounts.Plan(cfg.Sensors, cfg.Peers, true), accounts.ClaimsOptions{SigningKeys: cfg.SigningKeysOf})
	if err != nil {
		t.Fatal(err)
	}
	future := futureDated(t, c.Accounts[b.op.AccountKey(s1acc)], opKP, time.Now().Add(time.Hour))
	msg, err := b.sysConn(t).Request("$SYS.REQ.CLAIMS.UPDATE", []byte(future), 10*time.Second)
	if err != nil || strings.Contains(string(msg.Data), "error") {
		t.Fatalf("planting the future-dated account: %v %s", err, msg.Data)
	}
	b.x.Stop()

	// s1 leaves the registry while the exchange is down.
	b.start(t, operatorYAML(b.orgA, b.orgB, false))
	if nc, _, err := b.user(t, b.orgA, s1acc, accounts.SensorInbox("s1"), nats.MaxReconnects(0)); err == nil {
		nc.Close()
		t.Fatal("after the restart, a user of s1, which the registry no longer has, was admitted")
	}
}

// TestReviewSwitchCredsFile: the switch's credentials in the data
// directory are its JWT and seed, mode 0600, even over a file left there
// readable by others (or a symlink elsewhere), and admit the switch's
// user of EXCHANGE.
func TestReviewSwitchCredsFile(t *testing.T) {
	b := &operatorBed{dir: t.TempDir(), t: t}
	b.orgA, _ = nkeys.CreateAccount()
	b.orgB, _ = nkeys.CreateAccount()
	b.path = filepath.Join(t.TempDir(), "cofswitch.yaml")
	path := filepath.Join(b.dir, exchange.SwitchCredsFile)
	elsewhere := filepath.Join(t.TempDir(), "elsewhere")
	if err := os.WriteFile(elsewhere, []byte("untouched"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(elsewhere, path); err != nil {
		t.Fatal(err)
	}
	b.start(t, operatorYAML(b.orgA, b.orgB, true))
	st, err := os.Lstat(path)
	if err != nil || !st.Mode().IsRegular() || st.Mode().Perm() != 0o600 {
		t.Fatalf("switch.creds: %v %v", err, st.Mode())
	}
	if got, _ := os.ReadFile(elsewhere); string(got) != "untouched" {
		t.Fatal("the switch's credentials were written through a symlink")
	}
	nc, err := nats.Connect(b.x.URL(), nats.UserCredentials(path), nats.MaxReconnects(0))
	if err != nil {
		t.Fatalf("switch.creds does not admit the switch: %v", err)
	}
	defer nc.Close()
	if _, err := nc.Request("$JS.API.INFO", nil, 5*time.Second); err != nil {
		t.Fatalf("switch.creds is not EXCHANGE's: %v", err)
	}
}

// TestReviewSensorAddedAtReloadPublishes: a sensor added at a reload is
// usable at once, whichever of its account and EXCHANGE (whose export it
// imports) the switch pushes first.
func TestReviewSensorAddedAtReloadPublishes(t *testing.T) {
	b := newOperatorBed(t)
	for i := range 4 {
		id := fmt.Sprintf("added%d", i)
		yaml := strings.Replace(operatorYAML(b.orgA, b.orgB, true), "sensors:\n", "sensors:\n  - {id: "+id+", organisation: org-a}\n", 1)
		writeConfig(t, b.path, yaml)
		if !exchange.NewReloader(b.x, b.path, "").Reload(t.Context(), "test") {
			t.Fatal("reload failed")
		}
		nc, _, err := b.user(t, b.orgA, accounts.SensorAccount("org-a", id), accounts.SensorInbox(id))
		if err != nil {
			t.Fatalf("%s: %v", id, err)
		}
		js, _ := jetstream.New(nc)
		if _, err := js.Publish(t.Context(), routing.InSubject(id), []byte(`{"rrname":"a.example","rrtype":"A","rdata":["192.0.2.1"],"time_first":1,"time_last":2}`)); err != nil {
			t.Fatalf("%s publishes: %v", id, err)
		}
		waitMsgs(t, b.x.JetStream(), routing.PeerStream("pa"), uint64(i+1))
		nc.Close()
		// The next sensor replaces this one in the registry.
	}
}

func (h countingHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h countingHandler) Handle(_ context.Context, r slog.Record) error {
	if r.Message == h.msg {
		h.n.Add(1)
	}
	return nil
}
func (h countingHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h countingHandler) WithGroup(string) slog.Handler      { return h }

// TestReviewModeSwitchOnExistingData: an exchange that ran with nkeys
// restarted in operator mode on the same data directory would find its
// streams in the nkey mode's EXCHANGE account, which operator mode does
// not have, and start with empty streams, saying nothing (and the other
// way round). It is refused, with what to do.
func TestReviewModeSwitchOnExistingData(t *testing.T) {
	orgA, _ := nkeys.CreateAccount()
	orgB, _ := nkeys.CreateAccount()
	jwtYAML := operatorYAML(orgA, orgB, true)
	nkeyYAML := strings.Replace(jwtYAML, "auth: jwt", "auth: nkeys", 1)
	nkeyYAML = nkeyYAML[:strings.Index(nkeyYAML, "organisations:")]
	path := filepath.Join(t.TempDir(), "cofswitch.yaml")
	for _, c := range []struct{ name, from, to string }{
		{"nkeys, then jwt", nkeyYAML, jwtYAML},
		{"jwt, then nkeys", jwtYAML, nkeyYAML},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := writeConfig(t, path, c.from)
			x, err := exchange.Start(t.Context(), cfg, exchange.Options{NATS: cfg.NATS, DataDir: dir})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := x.JetStream().Publish(t.Context(), routing.OutSubject("pa"), []byte(`{}`)); err != nil {
				t.Fatal(err)
			}
			waitMsgs(t, x.JetStream(), routing.PeerStream("pa"), 1)
			x.Stop()
			// The same mode again starts.
			if x, err = exchange.Start(t.Context(), cfg, exchange.Options{NATS: cfg.NATS, DataDir: dir}); err != nil {
				t.Fatalf("a restart in the same mode: %v", err)
			}
			x.Stop()

			cfg = writeConfig(t, path, c.to)
			x, err = exchange.Start(t.Context(), cfg, exchange.Options{NATS: cfg.NATS, DataDir: dir})
			if err == nil {
				x.Stop()
				t.Fatal("started in another mode on the data of the first, its streams out of reach")
			}
			if !errors.Is(err, exchange.ErrUnsafe) || !strings.Contains(err.Error(), "afresh") {
				t.Fatalf("refused, but not saying why: %v", err)
			}
		})
	}
}

// TestReviewRestartPushesNothing: an ordinary restart finds the resolver
// holding what it preloaded, and pushes nothing over it.
func TestReviewRestartPushesNothing(t *testing.T) {
	b := newOperatorBed(t)
	b.x.Stop()
	time.Sleep(1100 * time.Millisecond)
	var n atomic.Int64
	cfg := writeConfig(t, b.path, operatorYAML(b.orgA, b.orgB, true))
	x, err := exchange.Start(t.Context(), cfg, exchange.Options{NATS: cfg.NATS, DataDir: b.dir,
		Logger: slog.New(countingHandler{msg: "the resolver held another JWT of an account than the one it was started with (did the clock step back?): pushed", n: &n})})
	if err != nil {
		t.Fatal(err)
	}
	defer x.Stop()
	if got := n.Load(); got != 0 {
		t.Fatalf("an ordinary restart pushed %d accounts", got)
	}
}
