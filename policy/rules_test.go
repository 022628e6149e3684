package policy

import (
	"reflect"
	"testing"
)

// TestRuleNames: every filter of FilterSpec, on either side, has a rule
// of its own, named as the criterion is (a filter added to the spec
// without one fails here), and the names are distinct.
func TestRuleNames(t *testing.T) {
	ft := reflect.TypeFor[FilterSpec]()
	seen := map[string]Rule{}
	for i := range ft.NumField() {
		tag := ft.Field(i).Tag.Get("yaml")
		for _, side := range []string{"include", "exclude"} {
			r := ruleOf(side + "." + tag)
			if r == Other || r.String() != side+"."+tag {
				t.Errorf("%s.%s has rule %d %q", side, tag, r, r)
			}
		}
	}
	for r := Kept; r < NumRules; r++ {
		if prev, dup := seen[r.String()]; dup || r.String() == "" {
			t.Errorf("rule %d is named %q, as %d", r, r, prev)
		}
		seen[r.String()] = r
	}
	if NumRules > 64 {
		t.Errorf("%d rules: the engine keeps an array of them per peer", NumRules)
	}
}

// TestDecide: Decide withholds with the rule of the first filter that
// withholds, the one Explain names, and keeps with Kept, through a real
// compiled policy; withholding allocates nothing.
func TestDecide(t *testing.T) {
	c := mustCompile(t, &Spec{
		Include:    &FilterSpec{Sensors: []string{"org-a-*"}, RRTypes: []string{"A", "AAAA", "CNAME", "PTR", "TXT"}, MaxAge: "30d"},
		Exclude:    &FilterSpec{Zones: []string{InternalZones}, RDataCIDRs: []string{SpecialPurpose}, Regex: []string{`^secret\.`}},
		Transforms: TransformSpec{TruncateIP: &TruncateSpec{IPv4: 24, IPv6: 48}},
	})
	for _, tt := range []struct {
		name, line string
		want       Rule
	}{
		{"kept", record("www.example.com", "A", "93.184.216.34"), Kept},
		{"another organisation's sensor", `{"rrname":"www.example.com","rrtype":"A","rdata":["93.184.216.34"],"time_first":1700000000,"time_last":1704060000,"sensor_id":"org-b-s1"}`, IncludeSensors},
		{"a type not included", record("example.com", "MX", "10 mail.example.com."), IncludeRRTypes},
		{"too old", `{"rrname":"www.example.com","rrtype":"A","rdata":["93.184.216.34"],"time_first":1,"time_last":2,"sensor_id":"org-a-s1"}`, IncludeMaxAge},
		{"an internal zone", record("printer.corp", "A", "93.184.216.34"), ExcludeZones},
		{"a special-purpose address", record("www.example.com", "A", "192.168.1.5"), ExcludeRDataCIDRs},
		{"a regex", record("secret.example.com", "A", "93.184.216.34"), ExcludeRegex},
		{"an address in a name", record("host-93-184-216-34.example.com", "CNAME", "www.example.com."), TruncateIPEmbedded},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := rec(t, tt.line)
			var s Scratch
			out, got := c.Decide(&s, r)
			if got != tt.want || (out != nil) != (tt.want == Kept) {
				t.Fatalf("Decide = %v, %v; want %v", out, got, tt.want)
			}
			if e := c.Explain(r); (e.Rule != "" || got != Kept) && e.Rule != got.String() {
				t.Errorf("Explain names %q, Decide %q", e.Rule, got)
			}
			if _, kept := c.ApplyTo(&s, r); kept != (got == Kept) {
				t.Errorf("ApplyTo kept %v", kept)
			}
			// Withholding allocates nothing (a kept record's transforms
			// may: truncate_ip writes new rdata).
			if n := testing.AllocsPerRun(100, func() { c.Decide(&s, r) }); got != Kept && n != 0 {
				t.Errorf("Decide allocates %v times", n)
			}
		})
	}
	if _, r := (Pass{}).Decide(nil, rec(t, record("x.example", "A", "192.0.2.1"))); r != Kept {
		t.Errorf("pass withheld with %v", r)
	}
}
