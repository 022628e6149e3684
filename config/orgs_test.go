package config

import (
	"strings"
	"testing"

	"github.com/cofswitch/cofswitch/cof"
	"github.com/cofswitch/cofswitch/policy"
)

// orgSensors: two sensors of org-a (one relaying a branch), one of org-b,
// one of no organisation.
const orgSensors = `
policies:
  labelled: {tlp: AMBER}
  unlabelled: {}
sensors:
  - {id: a-1, organisation: org-a, relays: [a-branch]}
  - {id: a-2, organisation: org-a}
  - {id: b-1, organisation: org-b, relays: [a-2-copy]}
  - {id: lone}
peers:
`

// TestDenyByDefault: a subscription that may receive another
// organisation's records must name its policy and have a TLP label; one
// within its organisation keeps the defaults.
func TestDenyByDefault(t *testing.T) {
	tests := []struct {
		name string
		peer string   // appended to orgSensors
		want []string // substrings of the error; none: accepted
	}{
		{"same organisation, literal ids, defaults", "  - {id: p, organisation: org-a, subscriptions: [{sensors: [a-1, a-2]}]}\n", nil},
		{"same organisation, a relayed id", "  - {id: p, organisation: org-a, subscriptions: [{sensors: [a-branch]}]}\n", nil},
		{"another organisation, nothing named", "  - {id: p, organisation: org-c, subscriptions: [{sensors: [a-1]}]}\n",
			[]string{`f.yaml:11: peers[0].subscriptions[0]: peer "p" may receive another organisation's records (sensor "a-1" belongs to organisation "org-a"): name its policy (policy: pass, if every record as it is is really meant) and give it a TLP label`}},
		{"another organisation, pass without a label", "  - {id: p, organisation: org-c, subscriptions: [{sensors: [a-1], policy: pass}]}\n",
			[]string{`f.yaml:11: peers[0].subscriptions[0].tlp: peer "p"`, "give it a TLP label"}},
		{"another organisation, a label without a policy", "  - {id: p, organisation: org-c, subscriptions: [{sensors: [a-1], tlp: RED}]}\n",
			[]string{`peers[0].subscriptions[0].policy: peer "p"`, "name its policy"}},
		{"another organisation, a policy without a label", "  - {id: p, organisation: org-c, subscriptions: [{sensors: [a-1], policy: unlabelled}]}\n",
			[]string{"peers[0].subscriptions[0].tlp"}},
		{"another organisation, pass and a label", "  - {id: p, organisation: org-c, subscriptions: [{sensors: [a-1], policy: pass, tlp: RED}]}\n", nil},
		{"another organisation, the policy's label", "  - {id: p, organisation: org-c, subscriptions: [{sensors: [a-1], policy: labelled}]}\n", nil},
		{"a wildcard matching only the peer's organisation now", "  - {id: p, organisation: org-a, subscriptions: [{sensors: [a-*]}]}\n",
			[]string{`the pattern "a-*" may match sensors of any organisation, now or added later`}},
		{"everything", "  - {id: p, organisation: org-a, subscriptions: [{sensors: ['*']}]}\n",
			[]string{`the pattern "*" may match`}},
		{"a sensor not configured", "  - {id: p, organisation: org-a, subscriptions: [{sensors: [a-3]}]}\n",
			[]string{`sensor "a-3" is not configured`}},
		{"an id relayed by another organisation too", "  - {id: p, organisation: org-b, subscriptions: [{sensors: [b-1, a-2-copy]}]}\n", nil},
		{"an id relayed by another organisation", "  - {id: p, organisation: org-a, subscriptions: [{sensors: [a-1, a-2-copy]}]}\n",
			[]string{`sensor "a-2-copy" (relayed by "b-1") belongs to organisation "org-b"`}},
		{"a sensor without an organisation", "  - {id: p, organisation: org-a, subscriptions: [{sensors: [lone]}]}\n",
			[]string{`sensor "lone" has no organisation, so it is one of its own`}},
		{"a peer without an organisation", "  - {id: p, subscriptions: [{sensors: [lone]}]}\n",
			[]string{`peer "p" has no organisation, so it is one of its own`}},
		{"the second subscription crosses", "  - id: p\n    organisation: org-a\n    subscriptions:\n      - sensors: [a-1]\n      - sensors: [b-1]\n",
			[]string{`f.yaml:15: peers[0].subscriptions[1]: peer "p"`, `sensor "b-1" belongs to organisation "org-b"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse("f.yaml", []byte(orgSensors+tt.peer))
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				if _, _, err := c.Compile(policy.DefaultEnv()); err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if n := strings.Count(err.Error(), "\n") + 1; n != 1 {
				t.Errorf("%d errors, want 1: %v", n, err)
			}
		})
	}
}

// TestDefaultKeepList: a policy used across organisations without
// keep_fields keeps the draft's fields only; used within one organisation
// it keeps everything; keep_fields and pass, named, keep what they say.
func TestDefaultKeepList(t *testing.T) {
	c, err := Parse("k.yaml", []byte(`
policies:
  shared: {tlp: AMBER}
  own: {}
  listed: {tlp: AMBER, transforms: {keep_fields: [client_ip]}}
sensors:
  - {id: a-1, organisation: org-a}
peers:
  - {id: other, organisation: org-b, subscriptions: [{sensors: [a-1], policy: shared}]}
  - {id: home, organisation: org-a, subscriptions: [{sensors: [a-1], policy: own}]}
  - {id: listing, organisation: org-b, subscriptions: [{sensors: [a-1], policy: listed}]}
  - {id: raw, organisation: org-b, subscriptions: [{sensors: [a-1], policy: pass, tlp: RED}]}
`))
	if err != nil {
		t.Fatal(err)
	}
	_, set, err := c.Compile(policy.DefaultEnv())
	if err != nil {
		t.Fatal(err)
	}
	if c.Policies["shared"].Transforms.KeepFields != nil {
		t.Error("the written spec was changed")
	}
	r, err := cof.Parse([]byte(`{"rrname":"www.example.com","rrtype":"A","rdata":"93.184.216.34","time_first":1,"time_last":2,"sensor_id":"a-1","client_ip":"192.0.2.7","seen_by":"x"}`))
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"shared": "", "own": "client_ip seen_by", "listed": "client_ip", "pass": "client_ip seen_by"} {
		p, _ := set.Lookup(name)
		out, ok := p.Apply(&r)
		if !ok {
			t.Fatalf("%s withheld the record", name)
		}
		var got []string
		for _, f := range out.Extra {
			got = append(got, f.Name)
		}
		if g := strings.Join(got, " "); g != want {
			t.Errorf("policy %s keeps %q, want %q", name, g, want)
		}
		if out.SensorID != "a-1" {
			t.Errorf("policy %s: sensor_id %q (a draft field)", name, out.SensorID)
		}
	}
}
