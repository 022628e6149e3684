package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cofswitch/cofswitch/policy"
)

const withPolicies = `
switch:
  require_tlp: true
policies:
  csirt-share:
    tlp: amber
    include:
      rrtypes: [A, AAAA, CNAME]
    exclude:
      zones: [internal-zones]
      rdata_cidrs: [special-purpose]
    transforms:
      truncate_ip: {ipv4: 24, ipv6: 48}
      coarsen_time: 1h
sensors:
  - id: s1
peers:
  - id: p1
    subscriptions:
      - sensors: ["*"]
        policy: csirt-share
  - id: p2
    subscriptions:
      - sensors: ["*"]
        policy: pass
        tlp: TLP:CLEAR
`

func TestPolicies(t *testing.T) {
	c, err := Parse("p.yaml", []byte(withPolicies))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Version) != 12 {
		t.Errorf("version %q", c.Version)
	}
	table, set, err := c.Compile(policy.DefaultEnv())
	if err != nil {
		t.Fatal(err)
	}
	if set.Version() != c.Version {
		t.Errorf("policy set version %q, config %q", set.Version(), c.Version)
	}
	routes := table.Routes("s1")
	if len(routes) != 2 || routes[0].Subscription.TLP != "TLP:AMBER" || routes[1].Subscription.TLP != "TLP:CLEAR" {
		t.Errorf("routes %+v %+v", routes[0].Subscription, routes[1].Subscription)
	}
	c2, _ := Parse("p.yaml", []byte(withPolicies+"\n"))
	if c2.Version == c.Version {
		t.Error("a changed file keeps its version")
	}
}

func TestPolicyErrorsHaveLines(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "k")
	if err := os.WriteFile(keyFile, []byte("abcd"), 0o600); err != nil {
		t.Fatal(err)
	}
	laxKey := filepath.Join(dir, "lax")
	if err := os.WriteFile(laxKey, []byte("abcd"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(laxKey, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, yaml string
		want       []string
	}{
		{"unknown policy", "peers:\n  - id: p\n    subscriptions:\n      - sensors: ['*']\n        policy: nope\n",
			[]string{`f.yaml:5: peers[0].subscriptions[0].policy: unknown policy "nope"`}},
		{"require tlp", "switch:\n  require_tlp: true\npeers:\n  - id: p\n    subscriptions:\n      - sensors: ['*']\n",
			[]string{"peers[0].subscriptions[0].tlp: no TLP label"}},
		{"bad tlp", "peers:\n  - id: p\n    subscriptions:\n      - sensors: ['*']\n        tlp: WHITE\n",
			[]string{"f.yaml:5: peers[0].subscriptions[0].tlp", "CLEAR"}},
		{"unknown policy key", "policies:\n  x:\n    includ: {}\n", []string{"f.yaml:3: unknown key \"includ\" (did you mean \"include\"?)"}},
		{"bad rrtype", "policies:\n  x:\n    include:\n      rrtypes: [A, BOGUS]\n", []string{`f.yaml:4: policies.x.include.rrtypes[1]: unknown rrtype "BOGUS"`}},
		{"short key", "policies:\n  x:\n    transforms:\n      hash_labels:\n        key_file: " + keyFile + "\n",
			[]string{"f.yaml:4: policies.x.transforms.hash_labels: the key has 2 bytes"}},
		{"a key file others may read", "policies:\n  x:\n    transforms:\n      hash_labels:\n        key_file: " + laxKey + "\n",
			[]string{"hash_labels.key_file", laxKey, "mode 0644", "chmod 600 " + laxKey}},
		{"pass is reserved", "policies:\n  pass: {}\n", []string{"reserved"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse("f.yaml", []byte(tt.yaml))
			if err == nil {
				_, _, err = c.Compile(policy.DefaultEnv())
			}
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "abcd") {
				t.Errorf("key material in error: %v", err)
			}
		})
	}
}

// TestExampleConfig keeps deploy/examples/cofswitch.yaml valid.
func TestExampleConfig(t *testing.T) {
	t.Setenv("COFSWITCH_KEY_CIRCL", strings.Repeat("ab", 32))
	c, err := Load("../deploy/examples/cofswitch.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Compile(policy.DefaultEnv()); err != nil {
		t.Fatal(err)
	}
	if len(c.Peers) == 0 || len(c.Policies) == 0 {
		t.Error("the example shows no peers or no policies")
	}
}

// TestKeepFieldsFromYAML: "keep_fields: []" is an empty allow-list, not an
// absent one.
func TestKeepFieldsFromYAML(t *testing.T) {
	c, err := Parse("k.yaml", []byte(`
policies:
  strict: {transforms: {keep_fields: []}}
  some: {transforms: {keep_fields: [seen_by]}}
  none: {}
`))
	if err != nil {
		t.Fatal(err)
	}
	if k := c.Policies["strict"].Transforms.KeepFields; k == nil || len(*k) != 0 {
		t.Errorf("keep_fields: [] read as %v", k)
	}
	if k := c.Policies["some"].Transforms.KeepFields; k == nil || len(*k) != 1 {
		t.Errorf("keep_fields: [seen_by] read as %v", k)
	}
	if c.Policies["none"].Transforms.KeepFields != nil {
		t.Error("an absent keep_fields read as set")
	}
}
