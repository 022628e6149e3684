package accounts_test

// Review 20c: operator mode on a NATS deployment of the exchange's own,
// run as the README says ('cofswitch nats-config' prints the accounts,
// the operator pushes them).

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"github.com/cofswitch/cofswitch/accounts"
	"github.com/cofswitch/cofswitch/bus"
	"github.com/cofswitch/cofswitch/config"
)

// review20cYAML is a registry with or without org-a's sensor s1.
func review20cYAML(orgA, orgB nkeys.KeyPair, withS1 bool) string {
	ap, _ := orgA.PublicKey()
	bp, _ := orgB.PublicKey()
	s1 := ""
	if withS1 {
		s1 = "  - {id: s1, organisation: org-a}\n"
	}
	return fmt.Sprintf(`
nats: {auth: jwt}
sensors:
%s  - {id: s2, organisation: org-b}
peers:
  - {id: pa, organisation: org-a, subscriptions: [{sensors: ["*"], policy: pass, tlp: CLEAR}]}
  - {id: pb, organisation: org-b, subscriptions: [{sensors: ["*"], policy: pass, tlp: CLEAR}]}
organisations:
  org-a: {signing_keys: [%s]}
  org-b: {signing_keys: [%s]}
`, s1, ap, bp)
}

// TestReview20cOwnDeploymentKeepsRemovedIdentities: on a deployment of
// its own the operator runs 'cofswitch nats-config' after each registry
// change and pushes "each account's JWT" (README, Operator mode; "Not
// yet": "nats-config prints them, and you push"). What it prints is the
// registry's accounts alone, rendered without revocations: the account of
// an identity that left the registry is in neither output, so the
// resolver (allow_delete: false) keeps it as it was, with the
// organisation's key as its scoped signer. The organisation's users of
// the removed sensor keep connecting, and it can still mint new users
// for an id the registry no longer has. And since nats-config renders no
// revocation, the next push of its output undoes one made on the
// resolver meanwhile ("on a deployment of your own, revoke with nsc or
// the nats CLI against your resolver"): the revoked user is back.
func TestReview20cOwnDeploymentKeepsRemovedIdentities(t *testing.T) {
	// Fixed: nats-config --resolver-state renders with ClaimsAfter, as
	// here (cmd/cofswitch TestNATSConfigResolverState runs the command).
	orgA, _ := nkeys.CreateAccount()
	orgB, _ := nkeys.CreateAccount()
	op, err := accounts.NewOperator()
	if err != nil {
		t.Fatal(err)
	}
	store := t.TempDir()
	render := func(withS1 bool, revoked accounts.Revocations) *accounts.Claims {
		t.Helper()
		cfg, err := config.Parse("t.yaml", []byte(review20cYAML(orgA, orgB, withS1)))
		if err != nil {
			t.Fatal(err)
		}
		// What 'cofswitch nats-config --resolver-state' renders once the
		// server runs (before, there is no state: the first render).
		opt := accounts.ClaimsOptions{SigningKeys: cfg.SigningKeysOf, Revoked: revoked}
		if _, err := os.Stat(filepath.Join(store, accounts.ResolverDir)); err != nil {
			c, err := op.Claims(accounts.Plan(cfg.Sensors, cfg.Peers, true), opt)
			if err != nil {
				t.Fatal(err)
			}
			return c
		}
		c, _, err := op.ClaimsAfter(accounts.Plan(cfg.Sensors, cfg.Peers, true), opt, filepath.Join(store, accounts.ResolverDir))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	before := render(true, nil)
	text := accounts.OperatorServerConfig(before, accounts.ServerOptions{StoreDir: store}, filepath.Join(store, accounts.ResolverDir))
	srv, err := bus.StartServer(bus.ServerConfig{Listen: "127.0.0.1:0", StoreDir: store, Config: text})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })

	s1acc := before.Names[accounts.SensorAccount("org-a", "s1")]
	user := func() (string, string) {
		kp, _ := nkeys.CreateUser()
		pub, _ := kp.PublicKey()
		tok, err := accounts.IssueUser(orgA, s1acc, pub, "s1", nil, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		seed, _ := kp.Seed()
		return tok, string(seed)
	}
	connect := func(tok, seed string) (*nats.Conn, error) {
		return nats.Connect(srv.ClientURL(), nats.UserJWTAndSeed(tok, seed), nats.MaxReconnects(0),
			nats.CustomInboxPrefix(accounts.SensorInbox("s1")), nats.Timeout(5*time.Second))
	}
	tok, seed := user()
	nc, err := connect(tok, seed)
	if err != nil {
		t.Fatalf("the control: org-a's user of s1: %v", err)
	}
	nc.Close()

	// s1 leaves the registry; the operator pushes the new output, every
	// account of it, as the system user ('nats req $SYS.REQ.CLAIMS.UPDATE').
	kp, _ := nkeys.CreateUser()
	pub, _ := kp.PublicKey()
	sysJWT, err := op.SystemUser(pub, "push")
	if err != nil {
		t.Fatal(err)
	}
	sysSeed, _ := kp.Seed()
	sys, err := nats.Connect(srv.ClientURL(), nats.UserJWTAndSeed(sysJWT, string(sysSeed)))
	if err != nil {
		t.Fatal(err)
	}
	defer sys.Close()
	after := render(false, nil)
	if _, ok := after.Names[accounts.SensorAccount("org-a", "s1")]; ok {
		t.Fatal("s1 still rendered")
	}
	push := func(c *accounts.Claims) {
		t.Helper()
		for pub, tok := range c.Accounts {
			msg, err := sys.Request("$SYS.REQ.CLAIMS.UPDATE", []byte(tok), 10*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			var r struct {
				Error *struct{ Description string } `json:"error"`
			}
			if json.Unmarshal(msg.Data, &r) != nil || r.Error != nil {
				t.Fatalf("push of %s: %s", pub, msg.Data)
			}
		}
	}
	push(after)
	if nc, err := connect(tok, seed); err == nil {
		nc.Close()
		t.Error("after the registry without s1 was pushed, org-a's user of s1 is admitted")
	}
	tok2, seed2 := user()
	if nc, err := connect(tok2, seed2); err == nil {
		nc.Close()
		t.Error("org-a mints a new user for s1, which the registry no longer has, and it is admitted")
	}

	// A revocation made on the resolver (what nsc would push: the
	// account with the user revoked), then the output of nats-config
	// pushed again at the next registry change.
	tok3, seed3 := user()
	uc, _ := jwt.DecodeUserClaims(tok3)
	revoked := accounts.Revocations{accounts.SensorAccount("org-a", "s1"): {uc.Subject: time.Now().Unix()}}
	push(render(true, revoked))
	if nc, err := connect(tok3, seed3); err == nil {
		nc.Close()
		t.Fatal("the control: a revoked user is admitted")
	}
	push(render(true, nil))
	if nc, err := connect(tok3, seed3); err == nil {
		nc.Close()
		t.Error("nats-config's next output, pushed, admits the revoked user again")
	}
}
