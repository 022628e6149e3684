package main

// Review 20d: nats-config --resolver-state.

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nats-io/nkeys"

	"github.com/cofswitch/cofswitch/accounts"
)

// TestReview20dResolverStateOfAnotherOperator: --resolver-state exists so
// that a push neither undoes a revocation nor leaves a removed identity's
// users admitted; without it nats-config warns. Given a directory that
// holds nothing of this operator (another deployment's resolver, a
// wrong path, a copy whose JWTs do not decode), ReadResolverDir skips
// every file in silence and nats-config prints the registry exactly as
// without the flag, and without the warning: whatever the real resolver
// holds is undone by the push.
func TestReview20dResolverStateOfAnotherOperator(t *testing.T) {
	// Fixed: ClaimsAfter refuses a directory without this operator's system account.
	dir := t.TempDir()
	in := func(name string) string { return filepath.Join(dir, name) }
	org, _ := nkeys.CreateAccount()
	orgPub, _ := org.PublicKey()
	cfg := in("c.yaml")
	text := fmt.Sprintf("nats: {auth: jwt}\nsensors: [{id: s1, organisation: org-a}]\norganisations:\n  org-a: {signing_keys: [%s]}\n", orgPub)
	if err := os.WriteFile(cfg, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"ours.nk", "theirs.nk"} {
		if _, err := accounts.LoadOrCreateOperator(in(name)); err != nil {
			t.Fatal(err)
		}
	}
	state := in("state")
	if r := runCLI(t, nil, "nats-config", "--config", cfg, "--operator", in("theirs.nk"), "--jwt-dir", state); r.code != exitOK {
		t.Fatalf("another operator's render: exit %d: %s", r.code, r.stderr)
	}
	r := runCLI(t, nil, "nats-config", "--config", cfg, "--operator", in("ours.nk"), "--resolver-state", state)
	if r.code == exitOK && !strings.Contains(r.stderr, "resolver-state") {
		t.Errorf("--resolver-state holding only another operator's accounts: exit 0, printed as if the resolver held nothing, stderr %q", r.stderr)
	}
}
