package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"github.com/cofswitch/cofswitch/accounts"
	"github.com/cofswitch/cofswitch/config"
	"github.com/cofswitch/cofswitch/routing"
	"github.com/cofswitch/cofswitch/switch/exchange"
)

// TestOperatorModeCommands walks the operator-mode path of the README:
// each organisation makes its signing key, the exchange registers it and
// hands the organisation its accounts file, the organisation issues its
// sensor's and peer's credentials, the sensor publishes, and the
// organisation revokes the sensor's user, which can then publish no more.
func TestOperatorModeCommands(t *testing.T) {
	dir := t.TempDir()
	in := func(name string) string { return filepath.Join(dir, name) }
	pubs := map[string]string{}
	for _, org := range []string{"org-a", "org-b"} {
		r := runCLI(t, nil, "org-key", "--out", in(org+".sk"), "--org", org)
		m := regexp.MustCompile(`public key: (A[A-Z0-9]+)`).FindStringSubmatch(r.stdout)
		if r.code != exitOK || m == nil {
			t.Fatalf("org-key: exit %d: %s %s", r.code, r.stdout, r.stderr)
		}
		if seed := readFile(t, in(org+".sk")); strings.Contains(r.stdout, strings.TrimSpace(string(seed))) {
			t.Fatal("org-key printed the seed")
		}
		pubs[org] = m[1]
	}
	if r := runCLI(t, nil, "org-key", "--out", in("org-a.sk")); r.code != exitUsage {
		t.Errorf("org-key over an existing seed: exit %d", r.code)
	}
	cfgPath := in("cofswitch.yaml")
	yaml := fmt.Sprintf(`
nats: {auth: jwt, listen: "127.0.0.1:0"}
sensors:
  - {id: s1, organisation: org-a}
  - {id: s2, organisation: org-b}
peers:
  - {id: pa, organisation: org-a, subscriptions: [{sensors: ["*"], policy: pass, tlp: CLEAR}], ceiling: {sensors: ["*"], policies: [pass]}}
  - {id: pb, organisation: org-b, subscriptions: [{sensors: ["*"], policy: pass, tlp: CLEAR}]}
organisations:
  org-a: {signing_keys: [%s]}
  org-b: {signing_keys: [%s]}
`, pubs["org-a"], pubs["org-b"])
	if err := os.WriteFile(cfgPath, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	data := in("data")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	x, err := exchange.Start(ctx, cfg, exchange.Options{NATS: cfg.NATS, Listen: "127.0.0.1:0", DataDir: data, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer x.Stop()

	// The exchange's operator prints each organisation's accounts file.
	r := runCLI(t, nil, "nats-config", "--config", cfgPath, "--data", data, "--org", "org-a")
	if r.code != exitOK || !strings.Contains(r.stdout, accounts.SensorAccount("org-a", "s1")) || strings.Contains(r.stdout, "org-b") {
		t.Fatalf("nats-config --org org-a: exit %d: %s %s", r.code, r.stdout, r.stderr)
	}
	if err := os.WriteFile(in("org-a.json"), []byte(r.stdout), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := runCLI(t, nil, "nats-config", "--config", cfgPath, "--data", data, "--switch-creds", in("switch.creds"), "--system-creds", in("sys.creds")); r.code != exitOK ||
		!strings.Contains(r.stdout, "operator: ") || !strings.Contains(r.stdout, "resolver_preload") {
		t.Fatalf("nats-config in operator mode: exit %d: %s %s", r.code, r.stdout, r.stderr)
	}
	// The switch's and the system account's credentials it wrote are
	// admitted where they belong.
	nc, err := nats.Connect(x.URL(), nats.UserCredentials(in("switch.creds")))
	if err != nil {
		t.Fatalf("the switch's credentials: %v", err)
	}
	if _, err := nc.Request("$JS.API.STREAM.INFO."+routing.InStream("s1"), nil, 5*time.Second); err != nil {
		t.Errorf("the switch's user cannot reach EXCHANGE's streams: %v", err)
	}
	nc.Close()
	nc, err = nats.Connect(x.URL(), nats.UserCredentials(in("sys.creds")))
	if err != nil {
		t.Fatalf("the system account's credentials: %v", err)
	}
	if m, err := nc.Request("$SYS.REQ.CLAIMS.LIST", nil, 5*time.Second); err != nil || !strings.Contains(string(m.Data), "data") {
		t.Errorf("the system user cannot list the resolver's claims: %v", err)
	}
	nc.Close()

	orgCreds := func(sk, kind, id, out string) result {
		return runCLI(t, nil, "creds", "--org", "org-a", "--signing-key", in(sk), "--accounts", in("org-a.json"), "--"+kind, id, "--out", in(out))
	}
	if r := orgCreds("org-a.sk", "sensor", "s1", "s1.creds"); r.code != exitOK {
		t.Fatalf("creds --org: exit %d: %s", r.code, r.stderr)
	}
	if st, _ := os.Stat(in("s1.creds")); st == nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("s1.creds: %v", st)
	}
	if r := orgCreds("org-a.sk", "peer", "pa", "pa.creds"); r.code != exitOK {
		t.Fatalf("creds --org --peer: exit %d: %s", r.code, r.stderr)
	}
	// An id the registry does not have, or another organisation's, gets
	// no credentials.
	for _, id := range []string{"s9", "s2"} {
		if r := orgCreds("org-a.sk", "sensor", id, id+".creds"); r.code != exitUsage || !strings.Contains(r.stderr, "has no sensor") {
			t.Errorf("creds for %s: exit %d: %s", id, r.code, r.stderr)
		}
	}
	// org-b's key for org-a's sensor: the tool refuses to write what the
	// server would refuse; signed anyway (nothing stops a key signing),
	// the server refuses it.
	if r := orgCreds("org-b.sk", "sensor", "s1", "forged.creds"); r.code != exitUsage || !strings.Contains(r.stderr, `not one of organisation "org-a"'s signing keys`) {
		t.Fatalf("creds with org-b's key: exit %d: %s", r.code, r.stderr)
	}
	orgFile, err := accounts.ReadOrgFile(in("org-a.json"))
	if err != nil {
		t.Fatal(err)
	}
	s1Account, _ := orgFile.Find("sensor", "s1")
	orgB, err := nkeys.FromSeed(readTrimmed(t, in("org-b.sk")))
	if err != nil {
		t.Fatal(err)
	}
	forgedUser, _ := nkeys.CreateUser()
	forged, err := accounts.OrgCreds(orgB, forgedUser, s1Account, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(in("forged.creds"), forged, 0o600); err != nil {
		t.Fatal(err)
	}
	if nc, err := nats.Connect(x.URL(), nats.UserCredentials(in("forged.creds")), nats.MaxReconnects(0)); err == nil {
		nc.Close()
		t.Fatal("org-b's user of org-a's sensor was admitted")
	}

	records := in("records.ndjson")
	os.WriteFile(records, []byte(`{"rrname":"a.example","rrtype":"A","rdata":["192.0.2.1"],"time_first":1,"time_last":2}`+"\n"), 0o644)
	publish := func() result {
		return runCLI(t, nil, "publish", "--nats-url", x.URL(), "--creds", in("s1.creds"), "--sensor", "s1", "--retry-for", "1s", records)
	}
	if r := publish(); r.code != exitOK {
		t.Fatalf("publish with the organisation's credentials: exit %d: %s", r.code, r.stderr)
	}
	s, err := x.JetStream().Stream(ctx, routing.InStream("s1"))
	if err != nil {
		t.Fatal(err)
	}
	if info, _ := s.Info(ctx); info.State.LastSeq == 0 {
		t.Fatalf("nothing reached s1's input: %+v", info.State)
	}

	// The sensor reads its own dead letters with its organisation's user.
	bad := in("bad.ndjson")
	os.WriteFile(bad, []byte(`{"rrname":"a.example","rrtype":"A","rdata":["not-an-address"],"time_first":1,"time_last":2}`+"\n"), 0o644)
	if r := runCLI(t, nil, "publish", "--nats-url", x.URL(), "--creds", in("s1.creds"), "--sensor", "s1", "--retry-for", "1s", bad); r.code == exitUsage {
		t.Fatalf("publish of a bad record: %s", r.stderr)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := runCLI(t, nil, "dlq", "list", "--nats-url", x.URL(), "--creds", in("s1.creds"), "--sensor", "s1")
		if r.code == exitOK && strings.Contains(r.stdout, "not-an-address") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("dlq list with the organisation's user: exit %d: %s %s", r.code, r.stdout, r.stderr)
		}
		time.Sleep(200 * time.Millisecond)
	}

	// The organisation's peer user chooses its own subscriptions within
	// its ceiling, as in nkey mode.
	if r := runCLI(t, nil, "subscribe", "--nats-url", x.URL(), "--creds", in("pa.creds"), "--peer", "pa", "--sensors", "s1", "--policy", "pass", "--tlp", "CLEAR"); r.code != exitOK {
		t.Fatalf("subscribe in operator mode: exit %d: %s %s", r.code, r.stdout, r.stderr)
	}
	if r := runCLI(t, nil, "subscribe", "--nats-url", x.URL(), "--creds", in("pa.creds"), "--peer", "pb", "--list"); r.code == exitOK {
		t.Fatalf("pa's user listed pb's subscriptions: %s", r.stdout)
	}

	// The organisation revokes its sensor's user through its peer.
	r = runCLI(t, nil, "revoke", "--nats-url", x.URL(), "--creds", in("pa.creds"), "--org", "org-a", "--signing-key", in("org-a.sk"),
		"--accounts", in("org-a.json"), "--sensor", "s1", "--user-creds", in("s1.creds"))
	if r.code != exitOK || !strings.Contains(r.stdout, "revoked") {
		t.Fatalf("revoke: exit %d: %s %s", r.code, r.stdout, r.stderr)
	}
	if r := publish(); r.code == exitOK {
		t.Fatal("the revoked sensor's user still publishes")
	}
	// --all revokes every user of the sensor issued so far.
	if r := orgCreds("org-a.sk", "sensor", "s1", "s1-2.creds"); r.code != exitOK {
		t.Fatalf("creds: %s", r.stderr)
	}
	r = runCLI(t, nil, "revoke", "--nats-url", x.URL(), "--creds", in("pa.creds"), "--org", "org-a", "--signing-key", in("org-a.sk"),
		"--accounts", in("org-a.json"), "--sensor", "s1", "--all")
	if r.code != exitOK || !strings.Contains(r.stdout, "every user") {
		t.Fatalf("revoke --all: exit %d: %s %s", r.code, r.stdout, r.stderr)
	}
	if r := runCLI(t, nil, "publish", "--nats-url", x.URL(), "--creds", in("s1-2.creds"), "--sensor", "s1", "--retry-for", "1s", records); r.code == exitOK {
		t.Fatal("a user issued before revoke --all still publishes")
	}
	if r := runCLI(t, nil, "revoke", "--org", "org-a", "--signing-key", in("org-a.sk"), "--accounts", in("org-a.json"), "--sensor", "s1", "--all", "--user-creds", in("s1.creds"), "--creds", in("pa.creds")); r.code != exitUsage {
		t.Errorf("--all with --user-creds: exit %d", r.code)
	}
	// org-b cannot revoke org-a's peer user, even with org-a's file: the
	// tool says so (the exchange refuses such a revocation too:
	// switch/exchange TestReviewOrgKeyForgeries).
	r = runCLI(t, nil, "revoke", "--nats-url", x.URL(), "--creds", in("pa.creds"), "--org", "org-a", "--signing-key", in("org-b.sk"),
		"--accounts", in("org-a.json"), "--peer", "pa", "--user-creds", in("pa.creds"))
	if r.code != exitUsage || !strings.Contains(r.stderr, "not one of organisation") {
		t.Fatalf("revoke signed by org-b: exit %d: %s %s", r.code, r.stdout, r.stderr)
	}
}

// readTrimmed reads a seed file for a test.
func readTrimmed(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return []byte(strings.TrimSpace(string(b)))
}

// nats-config --org before serve's first start names the missing
// operator seed and what makes it.
func TestNATSConfigWithoutOperatorSeed(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "c.yaml")
	os.WriteFile(cfg, []byte("nats: {auth: jwt, listen: \"127.0.0.1:0\"}\nsensors: [{id: s1, organisation: org-a}]\n"), 0o600)
	r := runCLI(t, nil, "nats-config", "--config", cfg, "--data", filepath.Join(dir, "data"), "--org", "org-a")
	if r.code != exitUsage || !strings.Contains(r.stderr, "operator.nk") || !strings.Contains(r.stderr, "first start") {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
}

// nats-config --resolver-state on a deployment of one's own: the account
// of an identity since removed is written disabled, and a revocation the
// resolver holds is carried into the new JWT.
func TestNATSConfigResolverState(t *testing.T) {
	dir := t.TempDir()
	in := func(name string) string { return filepath.Join(dir, name) }
	if r := runCLI(t, nil, "org-key", "--out", in("org-a.sk"), "--org", "org-a"); r.code != exitOK {
		t.Fatalf("org-key: %s", r.stderr)
	}
	orgKey, err := nkeys.FromSeed(readTrimmed(t, in("org-a.sk")))
	if err != nil {
		t.Fatal(err)
	}
	orgPub, _ := orgKey.PublicKey()
	op, err := accounts.LoadOrCreateOperator(in("operator.nk"))
	if err != nil {
		t.Fatal(err)
	}
	write := func(sensors string) string {
		path := in("c.yaml")
		text := fmt.Sprintf("nats: {auth: jwt}\nsensors: [%s]\norganisations:\n  org-a: {signing_keys: [%s]}\n", sensors, orgPub)
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	state := in("jwt")
	r := runCLI(t, nil, "nats-config", "--config", write("{id: s1, organisation: org-a}, {id: s2, organisation: org-a}"),
		"--operator", in("operator.nk"), "--jwt-dir", state)
	if r.code != exitOK || !strings.Contains(r.stderr, "without --resolver-state") {
		t.Fatalf("first render: exit %d: %s", r.code, r.stderr)
	}
	s1 := op.AccountKey(accounts.SensorAccount("org-a", "s1"))
	s2 := op.AccountKey(accounts.SensorAccount("org-a", "s2"))
	// The resolver then holds a revocation of one of s2's users.
	revokedUser, _ := nkeys.CreateUser()
	ru, _ := revokedUser.PublicKey()
	cfg, err := config.Parse("c.yaml", []byte(fmt.Sprintf("nats: {auth: jwt}\nsensors: [{id: s1, organisation: org-a}, {id: s2, organisation: org-a}]\norganisations:\n  org-a: {signing_keys: [%s]}\n", orgPub)))
	if err != nil {
		t.Fatal(err)
	}
	withRevocation, err := op.Claims(accounts.Plan(cfg.Sensors, cfg.Peers, true), accounts.ClaimsOptions{SigningKeys: cfg.SigningKeysOf,
		Revoked: accounts.Revocations{accounts.SensorAccount("org-a", "s2"): {ru: 12345}}})
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(state, s2+".jwt"), []byte(withRevocation.Accounts[s2]), 0o644)

	out := in("out")
	r = runCLI(t, nil, "nats-config", "--config", write("{id: s2, organisation: org-a}"), "--operator", in("operator.nk"),
		"--resolver-state", state, "--jwt-dir", out)
	if r.code != exitOK || !strings.Contains(r.stderr, accounts.SensorAccount("org-a", "s1")) || strings.Contains(r.stderr, "without --resolver-state") {
		t.Fatalf("render after s1 left: exit %d: %s", r.code, r.stderr)
	}
	b, err := os.ReadFile(filepath.Join(out, s1+".jwt"))
	if err != nil || !accounts.IsDisabled(strings.TrimSpace(string(b))) {
		t.Fatalf("s1's account not written disabled: %v", err)
	}
	b, err = os.ReadFile(filepath.Join(out, s2+".jwt"))
	if err != nil {
		t.Fatal(err)
	}
	if _, revs, ok := accounts.RevocationsOf(strings.TrimSpace(string(b)), op.PublicKey()); !ok || revs[ru] != 12345 {
		t.Fatalf("s2's revocation not carried: %v", revs)
	}
	if !strings.Contains(r.stdout, s1) {
		t.Error("the printed resolver does not preload s1's disabled account")
	}
	if r := runCLI(t, nil, "nats-config", "--config", write("{id: s2, organisation: org-a}"), "--operator", in("operator.nk"),
		"--resolver-state", in("nowhere")); r.code != exitUsage {
		t.Errorf("a missing resolver state: exit %d", r.code)
	}
}
