package accounts_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
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

// TestPartnerLeafNodeOperatorMode: in operator mode a partner joins as a
// leaf node with credentials its organisation issued for its peer; its
// local clients read that peer's feed and nothing more; and when the
// organisation's user is revoked, the leaf connection is cut.
func TestPartnerLeafNodeOperatorMode(t *testing.T) {
	orgA, _ := nkeys.CreateAccount()
	orgB, _ := nkeys.CreateAccount()
	apub, _ := orgA.PublicKey()
	bpub, _ := orgB.PublicKey()
	cfg, err := config.Parse("t.yaml", []byte(fmt.Sprintf(`
nats: {auth: jwt}
peers:
  - {id: pa, organisation: org-a, subscriptions: [{sensors: ["*"], policy: pass, tlp: CLEAR}]}
  - {id: pa2, organisation: org-a, subscriptions: [{sensors: ["*"], policy: pass, tlp: CLEAR}]}
  - {id: pb, organisation: org-b, subscriptions: [{sensors: ["*"], policy: pass, tlp: CLEAR}]}
organisations:
  org-a: {signing_keys: [%s]}
  org-b: {signing_keys: [%s]}
`, apub, bpub)))
	if err != nil {
		t.Fatal(err)
	}
	op, err := accounts.NewOperator()
	if err != nil {
		t.Fatal(err)
	}
	opt := accounts.ClaimsOptions{SigningKeys: cfg.SigningKeysOf}
	claims, err := op.Claims(accounts.Plan(cfg.Sensors, cfg.Peers, true), opt)
	if err != nil {
		t.Fatal(err)
	}
	leafPort := freePort(t)
	store := t.TempDir()
	text := accounts.OperatorServerConfig(claims, accounts.ServerOptions{StoreDir: store}, filepath.Join(store, accounts.ResolverDir))
	text += fmt.Sprintf("leafnodes { listen: \"127.0.0.1:%d\" }\n", leafPort)
	hub, err := bus.StartServer(bus.ServerConfig{Listen: "127.0.0.1:0", StoreDir: store, Config: text})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hub.Shutdown(); hub.WaitForShutdown() })

	userOf := func(issuer nkeys.KeyPair, account string, f func(tok string, kp nkeys.KeyPair) nats.Option) (nats.Option, string, string) {
		kp, _ := nkeys.CreateUser()
		pub, _ := kp.PublicKey()
		var tok string
		var err error
		switch account {
		case accounts.ExchangeAccount:
			tok, err = op.ExchangeUser(pub, "switch")
		case accounts.SystemAccount:
			tok, err = op.SystemUser(pub, "sys")
		default:
			tok, err = accounts.IssueUser(issuer, claims.Names[account], pub, "leaf", nil, time.Time{})
		}
		if err != nil {
			t.Fatal(err)
		}
		seed, _ := kp.Seed()
		creds, _ := jwt.FormatUserConfig(tok, seed)
		return f(tok, kp), pub, string(creds)
	}
	jwtOpt := func(tok string, kp nkeys.KeyPair) nats.Option {
		return nats.UserJWT(func() (string, error) { return tok, nil }, kp.Sign)
	}
	swOpt, _, _ := userOf(nil, accounts.ExchangeAccount, jwtOpt)
	sw, err := nats.Connect(hub.ClientURL(), swOpt)
	if err != nil {
		t.Fatal(err)
	}
	defer sw.Close()
	js, _ := jetstream.New(sw)
	if err := exchange.EnsureStreams(t.Context(), js, cfg); err != nil {
		t.Fatal(err)
	}
	for _, subj := range []string{"cof.out.pa", "cof.out.pa", "cof.out.pb", "cof.out.pa2"} {
		if _, err := js.Publish(t.Context(), subj, []byte(`{"to":"`+subj+`"}`)); err != nil {
			t.Fatal(err)
		}
	}

	// The partner's server: a leaf remote with org-a's credentials for pa.
	paAccount := accounts.PeerAccount("org-a", "pa")
	_, paUser, creds := userOf(orgA, paAccount, jwtOpt)
	dir := t.TempDir()
	credsFile := filepath.Join(dir, "pa.creds")
	if err := os.WriteFile(credsFile, []byte(creds), 0o600); err != nil {
		t.Fatal(err)
	}
	partner := startPartner(t, dir, fmt.Sprintf("url: \"nats://127.0.0.1:%d\", credentials: %q", leafPort, credsFile))
	waitUntil(t, "the leaf node connects to the exchange", 10*time.Second, func() bool { return hub.NumLeafNodes() == 1 })

	local, ljs := readFeedThroughLeaf(t, partner, time.Now().Add(10*time.Second), false)
	for _, p := range []string{"pb", "pa2"} {
		if _, err := ljs.Consumer(t.Context(), routing.PeerStream(p), routing.PeerConsumer); err == nil {
			t.Errorf("%s's consumer is reachable through pa's leaf node", p)
		}
	}
	checkLeafStreamReads(t, local, ljs)

	// Org-a's user of pa is revoked (the account's JWT pushed to the
	// resolver by a user of the system account): the leaf is cut and
	// cannot come back.
	opt.Revoked = accounts.Revocations{paAccount: {paUser: time.Now().Unix()}}
	var paID accounts.Identity
	for _, id := range claims.Identities {
		if id.Account == paAccount {
			paID = id
		}
	}
	revoked, err := op.Account(paID, opt)
	if err != nil {
		t.Fatal(err)
	}
	sysOpt, _, _ := userOf(nil, accounts.SystemAccount, jwtOpt)
	sys, err := nats.Connect(hub.ClientURL(), sysOpt)
	if err != nil {
		t.Fatal(err)
	}
	defer sys.Close()
	reply, err := sys.Request("$SYS.REQ.CLAIMS.UPDATE", []byte(revoked), 5*time.Second)
	if err != nil || strings.Contains(string(reply.Data), `"error"`) {
		t.Fatalf("pushing the revocation: %v %s", err, reply.Data)
	}
	waitUntil(t, "the revoked leaf is cut", 10*time.Second, func() bool { return hub.NumLeafNodes() == 0 })
	time.Sleep(1500 * time.Millisecond) // the partner retries every second
	if n := hub.NumLeafNodes(); n != 0 {
		t.Errorf("the revoked leaf came back (%d leaf nodes)", n)
	}
}
