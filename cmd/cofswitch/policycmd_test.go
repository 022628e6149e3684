package main

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
)

const policyConfig = `
policies:
  share:
    tlp: amber
    include:
      rrtypes: [A, AAAA, PTR]
      max_age: 30d
    exclude:
      zones: [internal-zones]
      rdata_cidrs: [special-purpose]
    transforms:
      pseudonymise_sensor: {key_env: COFSWITCH_TEST_KEY}
      truncate_ip: {ipv4: 24, ipv6: 48}
      coarsen_time: 1h
sensors:
  - id: s1
peers:
  - id: p1
    subscriptions:
      - sensors: ["s1"]
        policy: share
`

const policyInput = `{"rrname":"www.example.com","rrtype":"A","rdata":"93.184.216.34","time_first":1704060000,"time_last":1704063000,"sensor_id":"s1"}
{"rrname":"nas.lan","rrtype":"A","rdata":"93.184.216.34","time_first":1704060000,"time_last":1704063000}
{"rrname":"www.example.com","rrtype":"A","rdata":"10.0.0.1","time_first":1704060000,"time_last":1704063000}
{"rrname":"www.example.com","rrtype":"MX","rdata":"10 mx.example.com.","time_first":1704060000,"time_last":1704063000}
{"rrname":"old.example.com","rrtype":"A","rdata":"93.184.216.34","time_first":1,"time_last":2}
{"rrname":"www.example.com","rrtype":"A","rdata":"93.184.216.34","time_first":1704060000,"time_last":1704063000,"sensor_id":"other"}
not json
`

func TestPolicyTest(t *testing.T) {
	t.Setenv("COFSWITCH_TEST_KEY", "00112233445566778899aabbccddeeff")
	cfg := writeTemp(t, "c.yaml", []byte(policyConfig))
	in := writeTemp(t, "in.ndjson", []byte(policyInput))
	res := runCLI(t, nil, "policy", "test", "--config", cfg, "--peer", "p1", "--sensor", "s1", "--now", "2024-01-01T00:00:00Z", "--explain", in)
	if res.code != exitFailure {
		t.Errorf("exit %d, want 1 for the invalid line", res.code)
	}
	out := strings.Split(strings.TrimSpace(res.stdout), "\n")
	if len(out) != 1 {
		t.Fatalf("stdout %q, want one record", res.stdout)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(out[0]), &got); err != nil {
		t.Fatal(err)
	}
	sid, _ := got["sensor_id"].(string)
	if got["rdata"].([]any)[0] != "93.184.216.0" || got["time_last"].(float64) != 1704063600 || !strings.HasPrefix(sid, "pseudo-") {
		t.Errorf("transformed record %s", out[0])
	}
	for _, want := range []string{
		"1: kept (subscription 0, policy share, TLP:AMBER); transforms: pseudonymise_sensor, truncate_ip, coarsen_time; held until its 1h bucket ends, then delivered merged",
		"2: withheld (subscription 0, policy share): exclude.zones: owner name nas.lan in internal-zones (lan)",
		"3: withheld (subscription 0, policy share): exclude.rdata_cidrs",
		"4: withheld (subscription 0, policy share): include.rrtypes",
		"5: withheld (subscription 0, policy share): include.max_age",
		`6: not subscribed: no subscription of p1 matches sensor_id "other"`,
		"7: invalid: invalid JSON at byte 1",
		"kept by share",
		"withheld by share: exclude.zones",
	} {
		if !strings.Contains(res.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, res.stderr)
		}
	}

	// Usage errors.
	for _, args := range [][]string{
		{"policy", "test", "--config", cfg},
		{"policy", "test", "--peer", "p1"},
		{"policy", "test", "--config", cfg, "--peer", "nobody", in},
		{"policy", "test", "--config", cfg, "--peer", "p1", "--now", "yesterday", in},
		{"policy", "test", "--config", "/nonexistent.yaml", "--peer", "p1", in},
	} {
		if r := runCLI(t, nil, args...); r.code != exitUsage {
			t.Errorf("%v: exit %d, want 2 (%s)", args, r.code, r.stderr)
		}
	}
}

func TestPolicyCheck(t *testing.T) {
	t.Setenv("COFSWITCH_TEST_KEY", "00112233445566778899aabbccddeeff")
	cfg := writeTemp(t, "c.yaml", []byte(policyConfig))
	res := runCLI(t, nil, "policy", "check", "--config", cfg)
	if res.code != exitOK {
		t.Fatalf("exit %d: %s", res.code, res.stderr)
	}
	for _, want := range []string{"policy share (TLP:AMBER)", "filters:    include.rrtypes, include.max_age, exclude.zones, exclude.rdata_cidrs",
		"transforms: pseudonymise_sensor, truncate_ip, coarsen_time", "used by:    p1[0]"} {
		if !strings.Contains(res.stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, res.stdout)
		}
	}
	// A missing key is a fault of the file (exit 1) that names the line,
	// and the key's value is never printed.
	t.Setenv("COFSWITCH_TEST_KEY", "")
	res = runCLI(t, nil, "policy", "check", "--config", cfg)
	if res.code != exitFailure || !strings.Contains(res.stderr, "c.yaml:12: policies.share.transforms.pseudonymise_sensor.key_env: environment variable COFSWITCH_TEST_KEY is empty or unset") {
		t.Errorf("exit %d, stderr %q", res.code, res.stderr)
	}
	t.Setenv("COFSWITCH_TEST_KEY", "secretbutnothex")
	res = runCLI(t, nil, "policy", "check", "--config", cfg)
	if res.code != exitFailure || strings.Contains(res.stderr, "secretbutnothex") {
		t.Errorf("exit %d, stderr %q", res.code, res.stderr)
	}
}

const (
	exampleConfig     = "../../deploy/examples/cofswitch.yaml"
	policyCheckGolden = "testdata/policy-check.golden"
)

// TestPolicyCheckExample compares 'policy check' of the example
// configuration, privacy summary included, with the golden file, which
// -update rewrites. A warning leaves the exit status 0.
func TestPolicyCheckExample(t *testing.T) {
	t.Setenv("COFSWITCH_KEY_CIRCL", strings.Repeat("ab", 32))
	got := runCLI(t, nil, "policy", "check", "--config", exampleConfig)
	if got.code != exitOK || got.stderr != "" {
		t.Fatalf("exit %d, stderr:\n%s", got.code, got.stderr)
	}
	if !strings.Contains(got.stdout, "\n  WARNING: peer research-hub, subscription 0: another organisation's records with exact times, full addresses, clear sensor ids (policy pass)\n") {
		t.Errorf("no warning for the hub that gets everything:\n%s", got.stdout)
	}
	// The version is the file's hash: the golden file says VERSION, so
	// that a comment changed in the example does not change it.
	out := regexp.MustCompile(`version [0-9a-f]{12}`).ReplaceAllString(got.stdout, "version VERSION")
	if *update {
		if err := os.WriteFile(policyCheckGolden, []byte(out), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if want := string(readFile(t, policyCheckGolden)); out != want {
		t.Errorf("policy check %s differs from %s (run go test ./cmd/cofswitch -update if the change is intended)\ngot:\n%s\nwant:\n%s",
			exampleConfig, policyCheckGolden, out, want)
	}
}

// TestConfigCheckDeniesByDefault: 'config check' (and so serve, which reads
// the file the same way) refuses a peer of another organisation that
// relies on the default policy or has no label, naming the line; the same
// subscription within one organisation passes.
func TestConfigCheckDeniesByDefault(t *testing.T) {
	const registry = `
sensors:
  - {id: a-1, organisation: org-a}
peers:
  - id: p
    organisation: %s
    subscriptions:
      - sensors: [a-1]
`
	cross := writeTemp(t, "cross.yaml", []byte(fmt.Sprintf(registry, "org-b")))
	res := runCLI(t, nil, "config", "check", cross)
	want := cross + `:8: peers[0].subscriptions[0]: peer "p" may receive another organisation's records (sensor "a-1" belongs to organisation "org-a"): name its policy (policy: pass, if every record as it is is really meant) and give it a TLP label (its own tlp: or its policy's)`
	if res.code != exitFailure || strings.TrimSpace(res.stderr) != want {
		t.Errorf("exit %d, stderr %q\nwant exit 1, %q", res.code, res.stderr, want)
	}
	if r := runCLI(t, nil, "policy", "check", "--config", cross); r.code != exitFailure || !strings.Contains(r.stderr, want) {
		t.Errorf("policy check: exit %d, stderr %q", r.code, r.stderr)
	}
	own := writeTemp(t, "own.yaml", []byte(fmt.Sprintf(registry, "org-a")))
	if r := runCLI(t, nil, "config", "check", own); r.code != exitOK || !strings.Contains(r.stdout, "ok: version") {
		t.Errorf("within one organisation: exit %d, %s%s", r.code, r.stdout, r.stderr)
	}
}
