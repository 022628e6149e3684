package policy

import (
	"fmt"
	"strings"
	"testing"
)

// withBailiwick is record with a bailiwick.
func withBailiwick(name, typ, rdata, bailiwick string) string {
	return fmt.Sprintf(`{"rrname":%q,"rrtype":%q,"rdata":[%q],"time_first":1,"time_last":2,"bailiwick":%q}`, name, typ, rdata, bailiwick)
}

// TestZonesReadEveryName: the leaks, each a public owner with an
// internal name elsewhere in the record, are withheld by exclude.zones;
// owner_zones keeps the old, owner-only reading; include.zones delivers a
// record only when its owner and every rdata name are entitled.
func TestZonesReadEveryName(t *testing.T) {
	internal := []string{InternalZones}
	tests := []struct {
		name         string
		line         string
		excluded     bool   // by exclude.zones: [internal-zones]
		detail       string // its explanation
		ownerExclude bool   // by exclude.owner_zones: [internal-zones]
	}{
		{"CNAME to printer.corp", record("printer.example.com", "CNAME", "printer.corp."), true, "rdata name printer.corp in internal-zones (corp)", false},
		{"PTR to laptop.local", record("9.8.8.8.in-addr.arpa", "PTR", "laptop.local."), true, "rdata name laptop.local in internal-zones (local)", false},
		{"MX db-1.internal", record("example.com", "MX", "10 db-1.internal."), true, "rdata name db-1.internal in internal-zones (internal)", false},
		{"SRV target in .lan", record("_sip._tcp.example.com", "SRV", "0 5 5060 pbx.lan."), true, "rdata name pbx.lan in internal-zones (lan)", false},
		{"NS target in .lan", record("example.com", "NS", "NS1.LAN."), true, "rdata name ns1.lan in internal-zones (lan)", false},
		{"SVCB target", record("_8443._https.example.com", "SVCB", "1 svc.home.arpa. alpn=h2"), true, "rdata name svc.home.arpa in internal-zones (home.arpa)", false},
		{"HTTPS target", record("example.com", "HTTPS", "1 cdn.intranet. alpn=h2,h3"), true, "rdata name cdn.intranet in internal-zones (intranet)", false},
		{"DNAME", record("example.com", "DNAME", "corp."), true, "rdata name corp in internal-zones (corp)", false},
		{"SOA rname", record("example.com", "SOA", "ns.example.com. admin.corp. 1 2 3 4 5"), true, "rdata name admin.corp in internal-zones (corp)", false},
		{"NAPTR replacement", record("example.com", "NAPTR", `100 10 "S" "SIP+D2U" "" _sip._udp.lan.`), true, "rdata name _sip._udp.lan in internal-zones (lan)", false},
		{"KX", record("example.com", "KX", "10 kx.localdomain."), true, "rdata name kx.localdomain in internal-zones (localdomain)", false},
		{"AFSDB", record("example.com", "AFSDB", "1 afs.private."), true, "rdata name afs.private in internal-zones (private)", false},
		{"RT", record("example.com", "RT", "10 relay.test."), true, "rdata name relay.test in internal-zones (test)", false},
		{"RP mbox", record("example.com", "RP", "admin.corp. ."), true, "rdata name admin.corp in internal-zones (corp)", false},
		{"NSEC next", record("a.example.com", "NSEC", "b.lan. A NSEC"), true, "rdata name b.lan in internal-zones (lan)", false},
		{"CNAME to a private reverse name", record("x.example.com", "CNAME", "1.0.168.192.in-addr.arpa."), true, "rdata name 1.0.168.192.in-addr.arpa in internal-zones (168.192.in-addr.arpa)", false},
		{"second rdata string", `{"rrname":"example.com","rrtype":"NS","rdata":["ns1.example.net.","ns2.corp."],"time_first":1,"time_last":2}`, true, "rdata name ns2.corp in internal-zones (corp)", false},
		{"bailiwick", withBailiwick("example.com", "A", "8.8.8.8", "corp"), true, "bailiwick corp in internal-zones (corp)", false},
		{"owner", record("dc1.corp", "CNAME", "www.example.com."), true, "owner name dc1.corp in internal-zones (corp)", true},
		{"malformed MX", record("example.com", "MX", "db-1.internal."), true, `rdata "db-1.internal." does not parse as MX data`, false},
		{"RFC 3597 CNAME", record("example.com", "CNAME", `\# 4 01610000`), true, `rdata "\\# 4 01610000" does not parse as CNAME data`, false},
		{"public CNAME", record("www.example.com", "CNAME", "www.example.net."), false, "", false},
		{"public MX", record("example.com", "MX", "10 mx.example.net."), false, "", false},
		{"null MX", record("example.com", "MX", "0 ."), false, "", false},
		{"HTTPS to the owner", record("example.com", "HTTPS", "1 . alpn=h2"), false, "", false},
		{"label boundary", record("example.com", "CNAME", "notcorp."), false, "", false},
		{"a name in TXT", record("example.com", "TXT", `"v=spf1 a:printer.corp" " -all"`), true, "name printer.corp in text, in internal-zones (corp)", false},
		{"TXT words that are no internal name", record("example.com", "TXT", `"v=spf1 include:_spf.example.com ip4:93.184.216.0/24 -all"`), false, "", false},
	}
	exc := mustCompile(t, &Spec{Exclude: &FilterSpec{Zones: internal}})
	owner := mustCompile(t, &Spec{Exclude: &FilterSpec{OwnerZones: internal}})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := rec(t, tt.line)
			if _, kept := exc.Apply(r); kept == tt.excluded {
				t.Errorf("exclude.zones: kept=%v", kept)
			}
			if e := exc.Explain(r); e.Detail != tt.detail || (tt.excluded && e.Rule != "exclude.zones") {
				t.Errorf("explanation %q: %q, want %q", e.Rule, e.Detail, tt.detail)
			}
			if _, kept := owner.Apply(r); kept == tt.ownerExclude {
				t.Errorf("exclude.owner_zones: kept=%v", kept)
			}
		})
	}
}

func TestIncludeZonesNeedEveryName(t *testing.T) {
	inc := mustCompile(t, &Spec{Include: &FilterSpec{Zones: []string{"example.com"}}})
	owner := mustCompile(t, &Spec{Include: &FilterSpec{OwnerZones: []string{"example.com"}}})
	tests := []struct {
		line        string
		kept        bool // by include.zones
		detail      string
		keptByOwner bool // by include.owner_zones
	}{
		{record("www.example.com", "A", "8.8.8.8"), true, "", true},
		{record("www.example.com", "CNAME", "web.example.com."), true, "", true},
		{withBailiwick("example.com", "NS", "ns1.example.com.", "com"), true, "", true}, // a referral
		{record("www.example.com", "CNAME", "cdn.example.net."), false, "rdata name cdn.example.net in no listed zone", true},
		{record("secret.corp", "CNAME", "www.example.com."), false, "owner name secret.corp in no listed zone", false},
		{record("example.com", "MX", "10 mx.example.com."), true, "", true},
		{record("example.com", "MX", "0 ."), true, "", true},
		{record("example.com", "MX", "mx.example.com."), false, `rdata "mx.example.com." does not parse as MX data`, true},
	}
	for _, tt := range tests {
		r := rec(t, tt.line)
		if _, kept := inc.Apply(r); kept != tt.kept {
			t.Errorf("%s: include.zones kept=%v", tt.line, kept)
		}
		if e := inc.Explain(r); e.Detail != tt.detail {
			t.Errorf("%s: explanation %q, want %q", tt.line, e.Detail, tt.detail)
		}
		if _, kept := owner.Apply(r); kept != tt.keptByOwner {
			t.Errorf("%s: include.owner_zones kept=%v", tt.line, kept)
		}
	}
	e := owner.Explain(rec(t, record("secret.corp", "A", "8.8.8.8")))
	if e.Rule != "include.owner_zones" || e.Detail != "owner name secret.corp in no listed zone" {
		t.Errorf("owner_zones explanation %+v", e)
	}
	exc := mustCompile(t, &Spec{Exclude: &FilterSpec{OwnerZones: []string{"Corp.Example."}}})
	if e := exc.Explain(rec(t, record("a.corp.example", "A", "8.8.8.8"))); e.Detail != "owner name a.corp.example in corp.example" {
		t.Errorf("owner_zones explanation %+v", e)
	}
}

func hashed(t *testing.T, c *Compiled, line string) (name string, rdata []string, bailiwick string) {
	t.Helper()
	out, ok := c.Apply(rec(t, line))
	if !ok {
		t.Fatalf("%s withheld", line)
	}
	return out.RRName, out.RData, out.Bailiwick
}

// TestHashLabelsEverywhere: one name hashes one way in owner, rdata and
// bailiwick; labels are hashed with their parent; rdata is rebuilt around
// the hashed names.
func TestHashLabelsEverywhere(t *testing.T) {
	c := mustCompile(t, &Spec{Transforms: TransformSpec{HashLabels: &KeySpec{KeyFile: "/keys/a"}}})
	owner := func(n string) string {
		name, _, _ := hashed(t, c, record(n, "A", "8.8.8.8"))
		return name
	}
	hostA := owner("db-1.shop.example.com")
	if !strings.HasSuffix(hostA, ".example.com") || strings.Count(hostA, ".") != 3 || strings.Contains(hostA, "shop") {
		t.Fatalf("hashed owner %q", hostA)
	}
	// The feed is no dictionary of its own hashes: the PTR's target is
	// hashed as the A record's owner is.
	if _, rd, _ := hashed(t, c, record("9.8.8.8.in-addr.arpa", "PTR", "DB-1.Shop.Example.com.")); rd[0] != hostA+"." {
		t.Errorf("PTR rdata %q, want %q", rd[0], hostA+".")
	}
	// Equal labels under different parents differ; the parent's hash is
	// the hash of the parent's own name.
	a, b := owner("www.a.com"), owner("www.b.com")
	if strings.Split(a, ".")[0] == strings.Split(b, ".")[0] {
		t.Errorf("www hashes the same under a.com and b.com: %s %s", a, b)
	}
	if p := owner("shop.example.com"); !strings.HasSuffix(hostA, "."+p) {
		t.Errorf("%s is not below %s, the hash of its parent", hostA, p)
	}
	mx := owner("db-1.internal-mail.example.com")
	tests := []struct {
		typ, rdata, want string
	}{
		{"MX", "10 db-1.internal-mail.example.com.", "10 " + mx + "."},
		{"MX", "10 db-1.internal-mail.example.com", "10 " + mx}, // no trailing dot stays without
		{"CNAME", "db-1.shop.example.com.", hostA + "."},
		{"NS", "example.com.", "example.com."}, // the registered domain stays
		{"SRV", "0 5 5060 db-1.shop.example.com.", "0 5 5060 " + hostA + "."},
		{"SOA", "db-1.shop.example.com. db-1.internal-mail.example.com. 1 2 3 4 5", hostA + ". " + mx + ". 1 2 3 4 5"},
		{"HTTPS", "1 . alpn=h2", "1 . alpn=h2"},
		{"SVCB", "1 db-1.shop.example.com. alpn=h2 port=8443", "1 " + hostA + ". alpn=h2 port=8443"},
		{"NAPTR", `100 10 "S" "SIP+D2U" "" db-1.shop.example.com.`, `100 10 "S" "SIP+D2U" "" ` + hostA + "."},
		{"CNAME", "1.0.168.192.in-addr.arpa.", "1.0.168.192.in-addr.arpa."}, // reverse names are the address transforms'
		{"TXT", `"db-1.shop.example.com"`, `"db-1.shop.example.com"`},
	}
	for _, tt := range tests {
		if _, rd, _ := hashed(t, c, record("x.example.org", tt.typ, tt.rdata)); rd[0] != tt.want {
			t.Errorf("%s %q hashed to %q, want %q", tt.typ, tt.rdata, rd[0], tt.want)
		}
	}
	// A name of many short labels stays a name: its leftmost labels
	// become one, the lower ones hash as in their own names.
	long := strings.Repeat("a.", 40) + "b.example.com"
	if got := owner(long); len(got) > 253 || !strings.HasSuffix(got, "."+owner("a.b.example.com")) {
		t.Errorf("%s hashed to %s (%d octets)", long, got, len(got))
	} else if _, err := canonicalZone(got); err != nil {
		t.Errorf("%s hashed to %s: %v", long, got, err)
	}
	// The bailiwick too.
	if _, _, bw := hashed(t, c, withBailiwick("x.example.org", "A", "8.8.8.8", "shop.example.com")); bw != owner("shop.example.com") {
		t.Errorf("bailiwick %q", bw)
	}
}

// TestHashLabelsMalformedRData: rdata of a name-carrying type that does
// not parse may hide a name; it goes out as one opaque hash, never in
// clear, and the input is left untouched.
func TestHashLabelsMalformedRData(t *testing.T) {
	c := mustCompile(t, &Spec{Transforms: TransformSpec{HashLabels: &KeySpec{KeyFile: "/keys/a"}}})
	line := `{"rrname":"example.com","rrtype":"MX","rdata":["10 mx.example.com.","db-1.internal.",` +
		`"10 mx.example.com. extra"],"time_first":1,"time_last":2}`
	r := rec(t, line)
	out, _ := c.Apply(r)
	if mx, _, _ := hashed(t, c, record("mx.example.com", "A", "8.8.8.8")); out.RData[0] != "10 "+mx+"." {
		t.Errorf("well-formed rdata %q, want the hash of %s", out.RData[0], mx)
	}
	for _, v := range out.RData[1:] {
		if len(v) != 13 || v[0] != 'h' || strings.Contains(v, "internal") || strings.Contains(v, "mx") {
			t.Errorf("malformed rdata went out as %q", v)
		}
	}
	if out.RData[1] == out.RData[2] {
		t.Error("two different malformed rdata hash alike")
	}
	if r.RData[1] != "db-1.internal." {
		t.Errorf("the input was modified: %q", r.RData)
	}
}
