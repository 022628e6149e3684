package config

import (
	"strings"
	"testing"
)

// TestPrivacySummary: each subscription is described under its policy as
// compiled; only a cross-organisation one that gets exact times, full
// addresses or clear sensor ids is warned about.
func TestPrivacySummary(t *testing.T) {
	c, err := Parse("p.yaml", []byte(`
policies:
  strict:
    tlp: AMBER
    transforms: {pseudonymise_sensor: {key_env: K}, truncate_ip: {ipv4: 24, ipv6: 48}, coarsen_time: 1h}
  loose: {tlp: GREEN, transforms: {coarsen_time: 1d}}
sensors:
  - {id: a-1, organisation: org-a}
peers:
  - id: home
    organisation: org-a
    subscriptions: [{sensors: [a-1]}]
  - id: partner
    organisation: org-b
    subscriptions: [{sensors: [a-1], policy: strict}, {sensors: ["*"], policy: loose}]
`))
	if err != nil {
		t.Fatal(err)
	}
	subs := c.PrivacySummary()
	if len(subs) != 3 {
		t.Fatalf("%d subscriptions described, want 3", len(subs))
	}
	tests := []struct {
		i        int
		cross    bool
		fields   string
		warnings string
	}{
		{0, false, "all", ""},
		{1, true, "the draft's only", ""},
		{2, true, "the draft's only", "full addresses, clear sensor ids"},
	}
	for _, tt := range tests {
		s := subs[tt.i]
		if s.CrossOrganisation != tt.cross || s.Privacy.Fields != tt.fields || strings.Join(s.Warnings(), ", ") != tt.warnings {
			t.Errorf("subscription %d: cross %v, fields %q, warnings %q; want %v, %q, %q",
				tt.i, s.CrossOrganisation, s.Privacy.Fields, s.Warnings(), tt.cross, tt.fields, tt.warnings)
		}
	}
	if !subs[0].DefaultPolicy || subs[0].TLP != "" || subs[1].TLP != "TLP:AMBER" {
		t.Errorf("policy and label: %+v %+v", subs[0], subs[1])
	}
	var b strings.Builder
	if err := WritePrivacy(&b, subs); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"peer home (organisation org-a)\n  [0] sensors a-1: within its organisation\n      policy:     pass (by default), no label\n",
		"  WARNING: peer partner, subscription 1: another organisation's records with full addresses, clear sensor ids (policy loose)\n",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, b.String())
		}
	}
	if n := strings.Count(b.String(), "WARNING"); n != 1 {
		t.Errorf("%d warnings, want 1:\n%s", n, b.String())
	}
}
