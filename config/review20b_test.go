package config

import (
	"strings"
	"testing"
)

// A choice that was same-organisation when made (a literal id relayed by
// the peer's own organisation alone, under a policy not set for other
// organisations, without a label) is dropped once the registry lets
// another organisation publish that id: the cross-organisation rule is
// checked again against the registry in force, not the one the peer chose
// under. Likewise a policy redefined with a stricter label than the one
// chosen drops the choice.
func TestReview20bChoiceRecheckedAgainstLaterRegistry(t *testing.T) {
	base := `
policies:
  loose: {}
  strict: {tlp: AMBER, transforms: {keep_fields: [rrname]}}
sensors:
  - {id: hub-1, organisation: org-a, relays: [acme-9]}
EXTRA
peers:
  - id: p
    organisation: org-a
    subscriptions: [{sensors: [hub-1], policy: loose}]
    ceiling: {sensors: ["acme-*"], policies: [loose, strict]}
`
	load := func(extra, strictTLP string) *Config {
		t.Helper()
		text := strings.Replace(base, "EXTRA", extra, 1)
		text = strings.Replace(text, "tlp: AMBER", "tlp: "+strictTLP, 1)
		c, err := Parse("f.yaml", []byte(text))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	choice := []Subscription{{Sensors: []string{"acme-9"}, Policy: "loose"}, {Sensors: []string{"acme-9"}, Policy: "strict", TLP: "AMBER"}}
	before := load("", "AMBER")
	if err := before.CheckSelection("p", choice); err != nil {
		t.Fatalf("same organisation, refused: %v", err)
	}
	after := load("  - {id: evil-1, organisation: org-c, relays: [acme-9]}", "RED")
	kept, dropped, err := after.WithinCeiling("p", choice)
	if err != nil || len(kept) != 0 || len(dropped) != 2 {
		t.Fatalf("after another organisation relays acme-9 and strict is RED: kept %+v, dropped %v, %v", kept, dropped, err)
	}
	for _, d := range dropped {
		if strings.Contains(d, "evil-1") || strings.Contains(d, "org-c") {
			t.Errorf("the reason names the other organisation's sensor: %s", d)
		}
	}
}
