package config

import (
	"errors"
	"strings"
	"testing"

	"github.com/cofswitch/cofswitch/policy"
)

// ceilingConfig: peer p of org-a may choose sensors acme-* and b-1 under
// strict (AMBER, keep_fields) or loose (no label, not set for other
// organisations); q has no ceiling.
const ceilingConfig = `
policies:
  strict: {tlp: AMBER, transforms: {keep_fields: [rrname, rrtype, rdata]}}
  loose: {}
  other: {tlp: RED}
sensors:
  - {id: acme-dns-1, organisation: org-a}
  - {id: acme-web-1, organisation: org-a}
  - {id: b-1, organisation: org-b}
peers:
  - id: p
    organisation: org-a
    subscriptions: [{sensors: [acme-dns-1], policy: strict}]
    ceiling: {sensors: ["acme-*", b-1], policies: [strict, loose]}
  - id: q
    organisation: org-b
    subscriptions: [{sensors: [b-1]}]
`

func TestCeilingValidation(t *testing.T) {
	tests := []struct {
		name    string
		ceiling string
		want    string // substring of the error; "": accepted
	}{
		{name: "fine", ceiling: `{sensors: ["*"], policies: [pass]}`},
		{name: "unknown policy", ceiling: `{sensors: ["*"], policies: [nope]}`, want: `f.yaml:8: peers[0].ceiling.policies[0]: unknown policy "nope"`},
		{name: "no policies", ceiling: `{sensors: ["*"]}`, want: "peers[0].ceiling.policies: no policies"},
		{name: "no sensors", ceiling: `{policies: [pass]}`, want: "peers[0].ceiling.sensors: no sensor patterns"},
		{name: "empty pattern", ceiling: `{sensors: [""], policies: [pass]}`, want: "peers[0].ceiling.sensors[0]: sensor pattern id is empty"},
		{name: "unknown key", ceiling: `{sensors: ["*"], policies: [pass], label: RED}`, want: "label"},
		{name: "a bad label", ceiling: `{sensors: ["*"], policies: [pass], tlp: PURPLE}`, want: "peers[0].ceiling.tlp"},
		{name: "a label floor", ceiling: `{sensors: ["*"], policies: [pass], tlp: AMBER}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			yaml := "policies: {strict: {}}\n\n\npeers:\n  - id: p\n    organisation: org-a\n" +
				"    subscriptions: [{sensors: [x], policy: pass, tlp: RED}]\n    ceiling: " + tc.ceiling + "\n"
			_, err := Parse("f.yaml", []byte(yaml))
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestCheckSelection(t *testing.T) {
	c, err := Parse("f.yaml", []byte(ceilingConfig))
	if err != nil {
		t.Fatal(err)
	}
	many := make([]Subscription, MaxSelfSubscriptions+1)
	for i := range many {
		many[i] = Subscription{Sensors: []string{"acme-dns-1"}, Policy: "strict"}
	}
	tests := []struct {
		name string
		peer string
		subs []Subscription
		want string // substring of the error; "": accepted
		no   bool   // ErrNoCeiling rather than ErrOutsideCeiling
	}{
		{name: "literal within", peer: "p", subs: []Subscription{{Sensors: []string{"acme-web-1"}, Policy: "strict"}}},
		{name: "sub-pattern within", peer: "p", subs: []Subscription{{Sensors: []string{"acme-dns-*"}, Policy: "strict"}}},
		{name: "stricter label", peer: "p", subs: []Subscription{{Sensors: []string{"acme-*"}, Policy: "strict", TLP: "red"}}},
		{name: "same organisation, unlabelled policy", peer: "p", subs: []Subscription{{Sensors: []string{"acme-dns-1"}, Policy: "loose"}}},
		{name: "wider pattern", peer: "p", subs: []Subscription{{Sensors: []string{"*"}, Policy: "strict"}},
			want: `subscriptions[0]: sensor pattern "*" is outside the ceiling [acme-*, b-1]`},
		{name: "pattern beside", peer: "p", subs: []Subscription{{Sensors: []string{"acme-dns-1", "b-*"}, Policy: "strict"}},
			want: `sensor pattern "b-*" is outside the ceiling`},
		{name: "policy outside", peer: "p", subs: []Subscription{{Sensors: []string{"acme-dns-1"}, Policy: "other"}},
			want: `policy "other" is not one the ceiling allows [strict, loose]`},
		{name: "no policy", peer: "p", subs: []Subscription{{Sensors: []string{"acme-dns-1"}}}, want: "no policy"},
		{name: "weaker label", peer: "p", subs: []Subscription{{Sensors: []string{"acme-dns-1"}, Policy: "strict", TLP: "CLEAR"}},
			want: `TLP TLP:CLEAR is less restrictive than the TLP:AMBER of policy "strict"`},
		{name: "bad label", peer: "p", subs: []Subscription{{Sensors: []string{"acme-dns-1"}, Policy: "strict", TLP: "white"}}, want: "TLP 1.0"},
		{name: "wildcard without a label", peer: "p", subs: []Subscription{{Sensors: []string{"acme-*"}, Policy: "loose"}},
			want: "give it a TLP label"},
		{name: "another organisation, policy not set for it", peer: "p", subs: []Subscription{{Sensors: []string{"b-1"}, Policy: "loose", TLP: "AMBER"}},
			want: `policy "loose" is not set for that`},
		{name: "another organisation, policy with keep_fields", peer: "p", subs: []Subscription{{Sensors: []string{"b-1"}, Policy: "strict"}}},
		{name: "too many subscriptions", peer: "p", subs: many, want: "17 subscriptions, at most 16"},
		{name: "nothing", peer: "p", want: "no subscriptions"},
		{name: "no ceiling", peer: "q", subs: []Subscription{{Sensors: []string{"b-1"}, Policy: "pass"}}, want: `peer "q" has no ceiling`, no: true},
		{name: "unknown peer", peer: "zz", subs: []Subscription{{Sensors: []string{"b-1"}, Policy: "pass"}}, want: `peer "zz" is not configured`, no: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := c.CheckSelection(tc.peer, tc.subs)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
			if want := map[bool]error{false: ErrOutsideCeiling, true: ErrNoCeiling}[tc.no]; !errors.Is(err, want) {
				t.Fatalf("err = %v, not %v", err, want)
			}
		})
	}
}

// TestWithinCeilingNarrowed: a stored selection re-checked against a
// narrower ceiling keeps the subscriptions within it as they are and
// drops the others; a peer whose ceiling is gone gets ErrNoCeiling.
func TestWithinCeilingNarrowed(t *testing.T) {
	narrow := strings.Replace(ceilingConfig, `ceiling: {sensors: ["acme-*", b-1], policies: [strict, loose]}`,
		`ceiling: {sensors: ["acme-dns-*"], policies: [strict]}`, 1)
	c, err := Parse("f.yaml", []byte(narrow))
	if err != nil {
		t.Fatal(err)
	}
	stored := []Subscription{
		{Sensors: []string{"acme-dns-1"}, Policy: "strict"},
		{Sensors: []string{"acme-*"}, Policy: "strict"},
		{Sensors: []string{"acme-dns-*"}, Policy: "loose", TLP: "GREEN"},
	}
	kept, dropped, err := c.WithinCeiling("p", stored)
	if err != nil {
		t.Fatal(err)
	}
	if len(kept) != 1 || kept[0].Sensors[0] != "acme-dns-1" {
		t.Errorf("kept %+v", kept)
	}
	if len(dropped) != 2 || !strings.Contains(dropped[0], `subscriptions[1]: sensor pattern "acme-*" is outside`) ||
		!strings.Contains(dropped[1], `subscriptions[2]: policy "loose"`) {
		t.Errorf("dropped %q", dropped)
	}
	if _, _, err := c.WithinCeiling("q", stored); !errors.Is(err, ErrNoCeiling) {
		t.Errorf("q: %v", err)
	}
}

// TestWithSubscriptionsPolicies: a copy with a peer's own subscriptions
// compiles its policies as the file does, and leaves the file's
// configuration as it was.
func TestWithSubscriptionsPolicies(t *testing.T) {
	c, err := Parse("f.yaml", []byte(ceilingConfig))
	if err != nil {
		t.Fatal(err)
	}
	cp := c.WithSubscriptions(map[string][]Subscription{"p": {{Sensors: []string{"acme-web-1"}, Policy: "loose"}}})
	if got := c.Peers[0].Subscriptions[0].Sensors[0]; got != "acme-dns-1" {
		t.Fatalf("the file's configuration changed: %q", got)
	}
	table, _, err := cp.Compile(policy.DefaultEnv())
	if err != nil {
		t.Fatal(err)
	}
	if r := table.Routes("acme-web-1"); len(r) != 1 || r[0].Peer != "p" || r[0].Subscription.Policy != "loose" {
		t.Errorf("routes of acme-web-1: %+v", r)
	}
	if r := table.Routes("acme-dns-1"); len(r) != 0 {
		t.Errorf("routes of acme-dns-1: %+v", r)
	}
}

// TestWithSubscriptionsKeepsCrossOrgPolicies: a policy that the file uses
// across organisations keeps the draft's fields only even when the peer
// whose subscription made it so chose others: no peer's choice widens
// what another receives under the same policy.
func TestWithSubscriptionsKeepsCrossOrgPolicies(t *testing.T) {
	yaml := strings.Replace(ceilingConfig, "subscriptions: [{sensors: [b-1]}]", "subscriptions: [{sensors: [acme-dns-1], policy: other}]", 1)
	c, err := Parse("f.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.effectivePolicies()["other"].Transforms.KeepFields; got == nil || len(*got) != 0 {
		t.Fatalf("file: keep_fields of other = %v", got)
	}
	cp := c.WithSubscriptions(map[string][]Subscription{"q": {{Sensors: []string{"b-1"}, Policy: "other"}}})
	if got := cp.effectivePolicies()["other"].Transforms.KeepFields; got == nil || len(*got) != 0 {
		t.Fatalf("with q's own: keep_fields of other = %v", got)
	}
}
