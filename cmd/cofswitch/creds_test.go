package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/nats-io/nkeys"
)

func TestCreds(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "s1.nk")
	res := runCLI(t, nil, "creds", "--sensor", "org.a/s1", "--out", out)
	if res.code != exitOK {
		t.Fatalf("exit %d: %s", res.code, res.stderr)
	}
	pub := regexp.MustCompile(`public key: (U[A-Z0-9]+)`).FindStringSubmatch(res.stdout)
	if pub == nil || !nkeys.IsValidPublicUserKey(pub[1]) {
		t.Fatalf("no public key in %q", res.stdout)
	}
	seed, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	kp, err := nkeys.FromSeed([]byte(strings.TrimSpace(string(seed))))
	if err != nil {
		t.Fatal(err)
	}
	if p, _ := kp.PublicKey(); p != pub[1] {
		t.Errorf("the seed's key %s is not the printed %s", p, pub[1])
	}
	if st, _ := os.Stat(out); st.Mode().Perm() != 0o600 {
		t.Errorf("seed mode %v", st.Mode().Perm())
	}
	if strings.Contains(res.stdout, string(seed[:10])) {
		t.Error("the seed is printed")
	}
	if !strings.Contains(res.stdout, "_INBOX.s.org%2Ea%2Fs1") {
		t.Errorf("stdout does not give the inbox prefix: %s", res.stdout)
	}
	for _, args := range [][]string{
		{"creds", "--sensor", "org.a/s1", "--out", out}, // exists
		{"creds"},
		{"creds", "--sensor", "a", "--peer", "b"},
		{"creds", "--peer", "bad.peer"},
		{"creds", "--sensor", "a", "--out", filepath.Join(dir, "no", "such", "dir", "x.nk")},
	} {
		if r := runCLI(t, nil, args...); r.code != exitUsage {
			t.Errorf("%v: exit %d, want 2 (%s)", args, r.code, r.stderr)
		}
	}
	if r := runCLI(t, nil, "creds", "--sensor", "org.a/s1", "--out", out, "--force"); r.code != exitOK {
		t.Errorf("--force: exit %d", r.code)
	}
}

func TestNATSConfig(t *testing.T) {
	kp, _ := nkeys.CreateUser()
	pub, _ := kp.PublicKey()
	sensorKP, _ := nkeys.CreateUser()
	sensorPub, _ := sensorKP.PublicKey()
	cfg := writeTemp(t, "c.yaml", []byte("sensors:\n  - {id: s1, organisation: org-a, nkey: "+sensorPub+"}\npeers:\n  - {id: p1, subscriptions: [{sensors: ['*'], policy: pass, tlp: CLEAR}]}\n"))
	res := runCLI(t, nil, "nats-config", "--config", cfg, "--switch-nkey", pub)
	if res.code != exitOK {
		t.Fatalf("exit %d: %s", res.code, res.stderr)
	}
	for _, want := range []string{"system_account: SYS", `"ORG:org-a:sensor:s1"`, `{ service: "cof.in.s1", accounts: ["ORG:org-a:sensor:s1"] }`, "max_leafnodes: 1", pub, sensorPub} {
		if !strings.Contains(res.stdout, want) {
			t.Errorf("output lacks %s:\n%s", want, res.stdout)
		}
	}
	if r := runCLI(t, nil, "nats-config", "--config", cfg); r.code != exitUsage || !strings.Contains(r.stderr, "switch needs") {
		t.Errorf("without a switch key: exit %d %s", r.code, r.stderr)
	}
}

// TestClusterInit: the files are written once; a second run is an error,
// or nothing with --if-missing (the compose file's init step); bad
// arguments name what is wrong.
func TestClusterInit(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "c")
	args := []string{"cluster-init", "--dir", dir, "--store-dir", "/data", "--sensor", "s1@org-a", "--peer", "p1@org-b",
		"--server", "n1=nats-1:4222:6222", "--server", "n2=nats-2:4222:6222", "--server", "n3=nats-3:4222:6222"}
	if r := runCLI(t, nil, args...); r.code != exitOK || !strings.Contains(r.stdout, "nats-n3.conf") {
		t.Fatalf("exit %d: %s %s", r.code, r.stdout, r.stderr)
	}
	if r := runCLI(t, nil, args...); r.code != exitUsage || !strings.Contains(r.stderr, "already initialised") {
		t.Errorf("second run: exit %d %s", r.code, r.stderr)
	}
	if r := runCLI(t, nil, append(args, "--if-missing")...); r.code != exitOK || !strings.Contains(r.stdout, "nothing written") {
		t.Errorf("--if-missing: exit %d %s %s", r.code, r.stdout, r.stderr)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"cluster-init", "--dir", t.TempDir(), "--server", "nats-1:4222"}, "NAME=HOST"},
		{[]string{"cluster-init", "--dir", t.TempDir(), "--sensor", "s1"}, "ID@ORGANISATION"},
		{[]string{"cluster-init", "--dir", t.TempDir(), "--store-dir", "/d", "--server", "n=h:1:2"}, "needs a sensor and a peer"},
		{[]string{"cluster-init", "x"}, "no arguments"},
	} {
		if r := runCLI(t, nil, tc.args...); r.code != exitUsage || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%v: exit %d %q, want %q", tc.args, r.code, r.stderr, tc.want)
		}
	}
}
