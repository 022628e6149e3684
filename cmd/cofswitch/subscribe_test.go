package main

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nats-io/nkeys"

	"github.com/cofswitch/cofswitch/config"
	"github.com/cofswitch/cofswitch/switch/exchange"
)

// TestSubscribe runs 'cofswitch subscribe' as a peer with its own seed
// against an exchange with nkeys: a choice within the ceiling is stored
// and printed with its version, one outside it exits 1 with the reason,
// --list shows it, 'status' shows whose subscriptions are in force, and
// --clear returns to the file's.
func TestSubscribe(t *testing.T) {
	kp, _ := nkeys.CreateUser()
	pub, _ := kp.PublicKey()
	seed, _ := kp.Seed()
	dir := t.TempDir()
	seedFile := filepath.Join(dir, "p.nk")
	if err := os.WriteFile(seedFile, seed, 0o600); err != nil {
		t.Fatal(err)
	}
	cfgFile := filepath.Join(dir, "x.yaml")
	yaml := fmt.Sprintf(`
nats: {listen: "127.0.0.1:0"}
sensors: [{id: acme-1, organisation: a}, {id: acme-2, organisation: a}]
peers:
  - id: p
    organisation: b
    nkey: %s
    subscriptions: [{sensors: [acme-1], policy: pass, tlp: AMBER}]
    ceiling: {sensors: ["acme-*"], policies: [pass]}
`, pub)
	if err := os.WriteFile(cfgFile, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(cfgFile)
	if err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "data")
	x, err := exchange.Start(t.Context(), cfg, exchange.Options{NATS: cfg.NATS, DataDir: data, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer x.Stop()
	as := []string{"subscribe", "--peer", "p", "--nats-url", x.URL(), "--nkey", seedFile}

	r := runCLI(t, nil, append(as, "--sensors", "acme-2", "--policy", "pass", "--tlp", "red")...)
	if r.code != 0 || !strings.Contains(r.stdout, "stored: peer p's own subscriptions, version ") || !strings.Contains(r.stdout, "sensors acme-2  policy pass  tlp red") {
		t.Fatalf("set: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = runCLI(t, nil, append(as, "--sensors", "acme-2,beta-*", "--policy", "pass", "--tlp", "RED")...)
	if r.code != exitFailure || !strings.Contains(r.stderr, `refused (refused): config: outside the ceiling: subscriptions[0]: sensor pattern "beta-*" is outside the ceiling [acme-*]`) {
		t.Fatalf("outside: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = runCLI(t, nil, append(as, "--list")...)
	if r.code != 0 || !strings.Contains(r.stdout, "in force: self-service, version ") || !strings.Contains(r.stdout, "ceiling: sensors acme-*  policies pass") {
		t.Fatalf("list: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = runCLI(t, nil, "status", "--config", cfgFile, "--nats-url", x.URL(), "--nkey", filepath.Join(data, exchange.SwitchSeedFile))
	if r.code != 0 || !strings.Contains(r.stdout, "self-service v") {
		t.Fatalf("status: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = runCLI(t, nil, append(as, "--clear", "--expect-version", "99")...)
	if r.code != exitFailure || !strings.Contains(r.stderr, "refused (conflict)") {
		t.Fatalf("stale clear: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = runCLI(t, nil, append(as, "--clear")...)
	if r.code != 0 || !strings.Contains(r.stdout, "in force: the configuration file's") {
		t.Fatalf("clear: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := runCLI(t, nil, append(as, "--list", "--clear")...); r.code != exitUsage {
		t.Fatalf("--list --clear: exit %d", r.code)
	}
}
