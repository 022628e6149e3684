package accounts_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"github.com/cofswitch/cofswitch/accounts"
	"github.com/cofswitch/cofswitch/config"
)

// TestOperatorModeForgeries: in operator mode an organisation's signing
// key issues users for its own identities only, with their permissions
// only, and nothing signed by anyone else admits a client.
func TestOperatorModeForgeries(t *testing.T) {
	x := newExchange(t, config.AuthJWT)
	user := func(t *testing.T) (nkeys.KeyPair, string) {
		kp, err := nkeys.CreateUser()
		if err != nil {
			t.Fatal(err)
		}
		pub, _ := kp.PublicKey()
		return kp, pub
	}
	connect := func(jwt string, kp nkeys.KeyPair) error {
		seed, _ := kp.Seed()
		nc, err := nats.Connect(x.url, nats.UserJWTAndSeed(jwt, string(seed)), nats.MaxReconnects(0), nats.Timeout(5*time.Second))
		if err == nil {
			nc.Close()
		}
		return err
	}
	refused := func(t *testing.T, err error) {
		t.Helper()
		if err == nil || !strings.Contains(strings.ToLower(err.Error()), "authorization violation") {
			t.Fatalf("connected, or wrong error: %v", err)
		}
	}
	acct := func(id string) string {
		for _, i := range x.claims.Identities {
			if i.ID == id {
				return x.claims.Names[i.Account]
			}
		}
		t.Fatalf("no account for %s", id)
		return ""
	}

	t.Run("the control: org-a issues a user of its sensor s1", func(t *testing.T) {
		kp, pub := user(t)
		tok, err := accounts.IssueUser(x.orgKeys["org-a"], acct("s1"), pub, "s1", nil, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		if err := connect(tok, kp); err != nil {
			t.Fatalf("a user org-a issued for s1 cannot connect: %v", err)
		}
	})
	t.Run("org-a issues a user of org-b's sensor", func(t *testing.T) {
		kp, pub := user(t)
		tok, _ := accounts.IssueUser(x.orgKeys["org-a"], acct("s2"), pub, "s2", nil, time.Time{})
		refused(t, connect(tok, kp))
	})
	t.Run("org-a issues a user of org-b's peer", func(t *testing.T) {
		kp, pub := user(t)
		tok, _ := accounts.IssueUser(x.orgKeys["org-a"], acct("pb"), pub, "pb", nil, time.Time{})
		refused(t, connect(tok, kp))
	})
	t.Run("org-a grants its user permissions beyond the template", func(t *testing.T) {
		kp, pub := user(t)
		perms := jwt.Permissions{}
		perms.Pub.Allow.Add(">")
		perms.Sub.Allow.Add(">")
		tok, _ := accounts.IssueUser(x.orgKeys["org-a"], acct("s1"), pub, "s1", &perms, time.Time{})
		refused(t, connect(tok, kp))
	})
	t.Run("org-a issues a user for an unregistered sensor's account", func(t *testing.T) {
		// No account exists for s9: whatever key org-a names as its
		// account, the server knows no account that trusts org-a's key.
		kp, pub := user(t)
		ghost, _ := nkeys.CreateAccount()
		gpub, _ := ghost.PublicKey()
		tok, _ := accounts.IssueUser(x.orgKeys["org-a"], gpub, pub, "s9", nil, time.Time{})
		refused(t, connect(tok, kp))
	})
	t.Run("org-a signs as if its key were an account", func(t *testing.T) {
		kp, pub := user(t)
		orgPub, _ := x.orgKeys["org-a"].PublicKey()
		tok, _ := accounts.IssueUser(x.orgKeys["org-a"], orgPub, pub, "s1", nil, time.Time{})
		err := connect(tok, kp)
		// The server first looks the unknown account up in its resolver,
		// for up to its fetch timeout; on a loaded machine its first PING
		// (2 s after the connection) can then come before its refusal,
		// and the client gives up on the handshake: refused all the same.
		if err != nil && strings.Contains(err.Error(), "expected 'PONG', got 'PING'") {
			return
		}
		refused(t, err)
	})
	t.Run("an account and operator of the attacker's own", func(t *testing.T) {
		kp, pub := user(t)
		rogue, _ := accounts.NewOperator()
		tok, _ := rogue.ExchangeUser(pub, "switch")
		refused(t, connect(tok, kp))
	})
	t.Run("org-a issues a bearer token", func(t *testing.T) {
		_, pub := user(t)
		uc := jwt.NewUserClaims(pub)
		uc.UserPermissionLimits = jwt.UserPermissionLimits{BearerToken: true}
		uc.IssuerAccount = acct("s1")
		tok, err := uc.Encode(x.orgKeys["org-a"])
		if err != nil {
			t.Fatal(err)
		}
		nc, err := nats.Connect(x.url, nats.UserJWT(func() (string, error) { return tok, nil },
			func([]byte) ([]byte, error) { return nil, nil }), nats.MaxReconnects(0))
		if err == nil {
			nc.Close()
		}
		refused(t, err)
	})
	t.Run("the switch's JWT with another seed", func(t *testing.T) {
		kp, _ := user(t)
		refused(t, connect(x.jwts["switch"], kp))
	})
	t.Run("an expired user", func(t *testing.T) {
		kp, pub := user(t)
		tok, _ := accounts.IssueUser(x.orgKeys["org-a"], acct("s1"), pub, "s1", nil, time.Now().Add(-time.Minute))
		refused(t, connect(tok, kp))
	})
	t.Run("a bearer token without the seed", func(t *testing.T) {
		_, pub := user(t)
		tok, _ := accounts.IssueUser(x.orgKeys["org-a"], acct("s1"), pub, "s1", nil, time.Time{})
		nc, err := nats.Connect(x.url, nats.UserJWT(func() (string, error) { return tok, nil },
			func([]byte) ([]byte, error) { return nil, nil }), nats.MaxReconnects(0))
		if err == nil {
			nc.Close()
		}
		refused(t, err)
	})
}

// TestOperatorSeed: the operator's seed file is made once, mode 0600, and
// the same seed derives the same accounts.
func TestOperatorSeed(t *testing.T) {
	path := filepath.Join(t.TempDir(), "operator.nk")
	a, err := accounts.LoadOrCreateOperator(path)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("seed file: %v %v", err, st.Mode())
	}
	b, err := accounts.LoadOrCreateOperator(path)
	if err != nil {
		t.Fatal(err)
	}
	name := accounts.SensorAccount("org-a", "s1")
	if a.PublicKey() != b.PublicKey() || a.AccountKey(name) != b.AccountKey(name) {
		t.Fatal("the same seed derived other keys")
	}
	if a.AccountKey(name) == a.AccountKey(accounts.SensorAccount("org-a", "s2")) {
		t.Fatal("two accounts share a key")
	}
	other, _ := accounts.NewOperator()
	if other.AccountKey(name) == a.AccountKey(name) {
		t.Fatal("another operator derived the same account key")
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := accounts.LoadOperator(path); err == nil {
		t.Fatal("a seed file others may read was accepted")
	}
	user, _ := nkeys.CreateUser()
	useed, _ := user.Seed()
	bad := filepath.Join(t.TempDir(), "user.nk")
	os.WriteFile(bad, useed, 0o600)
	if _, err := accounts.LoadOperator(bad); err == nil || strings.Contains(err.Error(), string(useed)) {
		t.Fatalf("a user seed as the operator's: %v", err)
	}
}

// TestExportPattern: each service is exported under the pattern its
// kind shares, and a subject no pattern covers exactly.
func TestExportPattern(t *testing.T) {
	for _, tt := range []struct{ remote, want string }{
		{"cof.in.s1", "cof.in.*"},
		{"cof.ctl.peer.pa", "cof.ctl.peer.*"},
		{"cof.ctl.revoke.sensor.s1", "cof.ctl.revoke.*.*"},
		{"$JS.API.CONSUMER.MSG.NEXT.PEER_pa.sink", "$JS.API.CONSUMER.MSG.NEXT.*.*"},
		{"$JS.API.CONSUMER.INFO.COF_DLQ.dlq_s1", "$JS.API.CONSUMER.INFO.*.*"},
		{"$JS.API.CONSUMER.RESET.COF_DLQ.dlqv_s1", "$JS.API.CONSUMER.RESET.*.*"},
		{"$JS.ACK.PEER_pa.sink.>", "$JS.ACK.*.*.>"},
		{"$JS.API.STREAM.INFO.PEER_pa", "$JS.API.STREAM.INFO.*"},
		{"$JS.API.DIRECT.GET.PEER_pa", "$JS.API.DIRECT.GET.*"},
		// Not of a pattern's shape: exported as it is.
		{"$JS.API.DIRECT.GET.PEER_pa.cof.out.pa", "$JS.API.DIRECT.GET.PEER_pa.cof.out.pa"},
		{"cof.in.*", "cof.in.*"},
		{"cof.in.>", "cof.in.>"},
		{"$JS.API.STREAM.NAMES", "$JS.API.STREAM.NAMES"},
	} {
		if got := accounts.ExportPattern(tt.remote); got != tt.want {
			t.Errorf("%s: %s, want %s", tt.remote, got, tt.want)
		}
	}
}
