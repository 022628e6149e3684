package policy

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/cofswitch/cofswitch/cof"
)

// TestEmbeddedCIDRs: exclude.embedded_cidrs [special-purpose] against the
// issue's leaks and the names and strings that must pass.
func TestEmbeddedCIDRs(t *testing.T) {
	tests := []struct {
		name, owner, typ, rdata string
		want                    bool
	}{
		// The leaks.
		{"dashed owner", "host-192-168-1-5.example.com", "A", "8.8.8.8", true},
		{"nip.io owner", "10.1.2.3.nip.io", "A", "10.1.2.3", true},
		{"hex owner", "ip-0a010203.example.net", "A", "8.8.8.8", true},
		{"TXT private address", "a.example", "TXT", `"host=192.168.1.5"`, true},
		{"TXT SPF private network", "a.example", "TXT", `"v=spf1 ip4:10.0.0.0/8 -all"`, true},
		// The usual forms.
		{"sslip.io dotted with a prefix", "www.192.168.0.1.sslip.io", "A", "8.8.8.8", true},
		{"sslip.io dashed", "192-168-1-5.sslip.io", "A", "8.8.8.8", true},
		{"hex nip.io", "0a010203.nip.io", "A", "8.8.8.8", true},
		{"hex upper case in rdata", "a.example", "CNAME", "IP-C0A80001.EXAMPLE.NET.", true},
		{"reversed dotted", "5.1.168.192.example.com", "A", "8.8.8.8", true},
		{"AWS style", "ip-10-1-2-3.ec2.example", "A", "8.8.8.8", true},
		{"IPv6 dashed (sslip.io)", "fe80--1.sslip.io", "AAAA", "2606:4700::1", true},
		{"IPv6 dashed loopback", "--1.sslip.io", "AAAA", "2606:4700::1", true},
		{"IPv6 dashed without digits", "fdab--cafe.sslip.io", "AAAA", "2606:4700::1", true},
		{"IPv6 dashed 6to4 of 10.1.2.3", "2002-a01-203--1.sslip.io", "AAAA", "2606:4700::1", true},
		{"reverse name owner, any type", "5.1.168.192.in-addr.arpa", "CNAME", "5.0-25.1.168.192.in-addr.arpa.", true},
		{"DNS-SD under a private reverse zone", "_dns-sd._udp.0.1.168.192.in-addr.arpa", "PTR", "x.example.", true},
		// Names inside rdata.
		{"CNAME to nip.io", "www.example.com", "CNAME", "10.1.2.3.nip.io.", true},
		{"DNAME", "a.example.com", "DNAME", "10-0-0-1.sslip.io.", true},
		{"NS", "example.com", "NS", "ns-172-16-0-1.example.net.", true},
		{"PTR rdata", "8.8.8.8.in-addr.arpa", "PTR", "laptop-192-168-1-20.example.", true},
		{"MX exchange", "example.com", "MX", "10 mx-10-0-0-5.example.com.", true},
		{"SRV target", "_sip._tcp.example.com", "SRV", "0 5 5060 sip-172-16-0-1.example.com.", true},
		{"SOA mname", "example.com", "SOA", "ns-10-0-0-1.example.com. hostmaster.example.com. 1 2 3 4 5", true},
		{"SVCB target", "_8443._https.example.com", "SVCB", "1 svc-c0a80001.example.com. alpn=h2", true},
		{"HTTPS ipv4hint", "example.com", "HTTPS", "1 . ipv4hint=10.0.0.1,8.8.8.8", true},
		{"HTTPS ipv6hint", "example.com", "HTTPS", "1 . ipv6hint=fd00::1", true},
		{"NAPTR replacement", "example.com", "NAPTR", `100 10 "s" "SIP+D2U" "" host-10-0-0-1.example.`, true},
		{"NAPTR regexp", "example.com", "NAPTR", `100 10 "u" "E2U+sip" "!^.*$!sip:info@10.0.0.1!" .`, true},
		{"bailiwick-free upper-case reverse rdata", "a.example", "CNAME", "5.1.168.192.IN-ADDR.ARPA.", true},
		// Text.
		{"TXT IPv6", "a.example", "TXT", `"v=spf1 ip6:fd00::/8 -all"`, true},
		{"TXT IPv6 after a word", "a.example", "TXT", `"ip6:fe80::1"`, true},
		{"TXT mapped", "a.example", "TXT", `"addr ::ffff:10.1.2.3"`, true},
		{"TXT IPv6 without digits", "a.example", "TXT", `"ula fdab::cafe"`, true},
		{"TXT 6to4", "a.example", "TXT", `"gw 2002:a01:203::1"`, true},
		{"TXT version string in the set", "a.example", "TXT", `"version 10.1.2.3"`, true},
		{"TXT end of sentence", "a.example", "TXT", `"served by 127.0.0.1."`, true},
		{"TXT split strings", "a.example", "TXT", `"v=spf1 " "ip4:192.168.0.0/16 -all"`, true},
		// Must pass.
		{"plain name", "www.example.com", "A", "8.8.8.8", false},
		{"digits in a label", "web01.example.com", "A", "8.8.8.8", false},
		{"1password", "1password.com", "A", "8.8.8.8", false},
		{"3com", "www.3com.com", "A", "8.8.8.8", false},
		{"numbered host", "mail-2.example.com", "A", "8.8.8.8", false},
		{"public dashed", "host-93-184-216-34.example.com", "A", "8.8.8.8", false},
		{"public nip.io", "8.8.8.8.nip.io", "A", "8.8.8.8", false},
		{"dashed is not read reversed", "host-5-1-168-192.example.com", "A", "8.8.8.8", false},
		{"hex word", "deadbeef.example.com", "A", "8.8.8.8", false},
		{"hex public", "cafe1234.example.com", "A", "8.8.8.8", false},
		{"all-digit 8 characters", "20240115.example.com", "A", "8.8.8.8", false},
		{"date", "2024-01-15.example.com", "A", "8.8.8.8", false},
		{"leading zeros", "host-010-001-002-003.example.com", "A", "8.8.8.8", false},
		{"punycode", "xn--80ak6aa92e.com", "A", "8.8.8.8", false},
		{"public reverse name is not read forward", "10.2.3.4.in-addr.arpa", "PTR", "x.example.", false},
		{"reverse zone of public space", "184.93.in-addr.arpa", "NS", "ns1.example.", false},
		{"TXT SPF public", "a.example", "TXT", `"v=spf1 ip4:93.184.216.0/24 include:_spf.example.com ~all"`, false},
		{"TXT five parts", "a.example", "TXT", `"release 10.1.2.3.4"`, false},
		{"TXT time", "a.example", "TXT", `"at 12:30:45"`, false},
		{"TXT MAC", "a.example", "TXT", `"00:11:22:33:44:55"`, false},
		{"TXT verification token", "a.example", "TXT", `"google-site-verification=0a010203deadbeef"`, false},
		{"MX public", "example.com", "MX", "10 mx-93-184-216-34.example.com.", false},
		{"SOA serial and timers", "example.com", "SOA", "ns1.example.com. hostmaster.example.com. 2024011501 7200 3600 1209600 3600", false},
		{"A data is left to rdata_cidrs", "a.example", "A", "10.1.2.3", false},
	}
	f := FilterSpec{EmbeddedCIDRs: []string{SpecialPurpose}}
	exc := mustCompile(t, &Spec{Exclude: &f})
	inc := mustCompile(t, &Spec{Include: &f})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := rec(t, record(tt.owner, tt.typ, tt.rdata))
			if _, kept := exc.Apply(r); kept == tt.want {
				t.Errorf("exclude: kept=%v, want %v", kept, !tt.want)
			}
			if _, kept := inc.Apply(r); kept != tt.want {
				t.Errorf("include: kept=%v, want %v", kept, tt.want)
			}
		})
	}
	if e := exc.Explain(rec(t, record("10.1.2.3.nip.io", "A", "10.1.2.3"))); e.Rule != "exclude.embedded_cidrs" {
		t.Errorf("rule %q, want exclude.embedded_cidrs", e.Rule)
	}
}

func TestEmbeddedCIDRsUserList(t *testing.T) {
	f := FilterSpec{EmbeddedCIDRs: []string{"93.184.216.0/24", "2606:4700::/32"}}
	c := mustCompile(t, &Spec{Exclude: &f})
	for owner, want := range map[string]bool{
		"host-93-184-216-34.example.com": true,
		"2606-4700--1111.sslip.io":       true,
		"host-93-184-217-34.example.com": false,
		"10.1.2.3.nip.io":                false,
	} {
		if _, kept := c.Apply(rec(t, record(owner, "A", "8.8.8.8"))); kept == want {
			t.Errorf("%s: kept=%v, want %v", owner, kept, !want)
		}
	}
	if _, err := Compile("x", &Spec{Exclude: &FilterSpec{EmbeddedCIDRs: []string{"nonsense"}}}, testEnv()); err == nil ||
		!strings.Contains(err.Error(), "exclude.embedded_cidrs[0]") {
		t.Errorf("err %v, want one naming exclude.embedded_cidrs[0]", err)
	}
}

// TestEmbeddedWithheldUnderAddressTransforms: a name or text that says
// more of an address than truncate_ip or cryptopan lets through withholds
// the record.
func TestEmbeddedWithheldUnderAddressTransforms(t *testing.T) {
	trunc := &Spec{Transforms: TransformSpec{TruncateIP: &TruncateSpec{IPv4: 24, IPv6: 48}}}
	v6only := &Spec{Transforms: TransformSpec{TruncateIP: &TruncateSpec{IPv6: 48}}}
	cpan := &Spec{Transforms: TransformSpec{CryptoPAn: &KeySpec{KeyEnv: "KEY_A"}}}
	tests := []struct {
		name                    string
		spec                    *Spec
		owner, typ, rdata, rule string
	}{
		{"public address in the owner", trunc, "host-93-184-216-34.example.com", "A", "93.184.216.34", "transforms.truncate_ip.embedded_address"},
		{"CNAME to nip.io", trunc, "www.example.com", "CNAME", "93.184.216.34.nip.io.", "transforms.truncate_ip.embedded_address"},
		{"PTR rdata", trunc, "34.216.184.93.in-addr.arpa", "PTR", "host-93-184-216-34.isp.example.", "transforms.truncate_ip.embedded_address"},
		{"TXT host address", trunc, "a.example", "TXT", `"v=spf1 ip4:93.184.216.34 -all"`, "transforms.truncate_ip.embedded_address"},
		{"TXT network no finer than /24", trunc, "a.example", "TXT", `"v=spf1 ip4:93.184.216.0/24 -all"`, ""},
		{"IPv6 dashed", trunc, "2606-4700--1111.sslip.io", "A", "8.8.8.8", "transforms.truncate_ip.embedded_address"},
		{"6to4 /48 in text carries a /32 IPv4", trunc, "a.example", "TXT", `"gw 2002:5db8:d822::/48"`, "transforms.truncate_ip.embedded_address"},
		{"6to4 /48 in text, IPv4 untouched", v6only, "a.example", "TXT", `"gw 2002:5db8:d822::/48"`, ""},
		{"IPv4 untouched by the policy", v6only, "host-93-184-216-34.example.com", "A", "93.184.216.34", ""},
		{"reverse owner of a /24 zone", trunc, "216.184.93.in-addr.arpa", "NS", "ns1.example.", ""},
		{"reverse owner of a host, not PTR", trunc, "34.216.184.93.in-addr.arpa", "CNAME", "34.0-25.216.184.93.in-addr.arpa.", "transforms.truncate_ip.embedded_address"},
		{"PTR owner is transformed instead", trunc, "34.216.184.93.in-addr.arpa", "PTR", "www.example.com.", ""},
		{"names with digits only", trunc, "web01.mail-2.example.com", "CNAME", "edge-3.cdn1.example.net.", ""},
		{"cryptopan: any address", cpan, "a.example", "TXT", `"v=spf1 ip4:93.184.0.0/16 -all"`, "transforms.cryptopan.embedded_address"},
		{"cryptopan: plain names pass", cpan, "www.example.com", "A", "93.184.216.34", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := testEnv()
			c, err := Compile("t", tt.spec, env)
			if err != nil {
				t.Fatal(err)
			}
			e := c.Explain(rec(t, record(tt.owner, tt.typ, tt.rdata)))
			if e.Rule != tt.rule || e.Kept != (tt.rule == "") {
				t.Errorf("kept=%v rule %q, want rule %q", e.Kept, e.Rule, tt.rule)
			}
		})
	}
}

var errNotIPv6 = errors.New("not IPv6")

func TestParse6MatchesNetip(t *testing.T) {
	for _, s := range []string{
		"::", "::1", "1::", "fe80::1", "2001:db8::", "1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7::", "::2:3:4:5:6:7:8",
		"::ffff:10.1.2.3", "1:2:3:4:5:6:1.2.3.4", "64:ff9b::192.0.2.1", "FE80::ABCD",
		":", ":::", "1:", ":1", "1::2::3", "1:2:3:4:5:6:7:8:9", "12345::", "1:2:3:4:5:6:7", "::1.2.3", "::01.2.3.4",
		"1.2.3.4", "::1.2.3.4:5", "1:2:3:4:5:6:7:1.2.3.4", "g::", "",
	} {
		want, err := netip.ParseAddr(s)
		if err == nil && want.Is4() {
			err = errNotIPv6 // parse6 reads IPv6 only
		}
		got, ok := parse6(s, ':')
		if ok != (err == nil) || ok && got != want {
			t.Errorf("parse6(%q) = %v %v, netip: %v %v", s, got, ok, want, err)
		}
		dashed, dok := parse6(strings.ReplaceAll(s, ":", "-"), '-')
		if strings.Contains(s, ".") {
			continue // no dotted tail in a label
		}
		if dok != ok || dashed != got {
			t.Errorf("dashed %q = %v %v, want %v %v", s, dashed, dok, got, ok)
		}
	}
}

// FuzzEmbeddedAddress: the readers never panic, yield only valid
// prefixes, and parse6 agrees with net/netip.
func FuzzEmbeddedAddress(f *testing.F) {
	for _, s := range []string{
		"host-192-168-1-5.example.com", "10.1.2.3.nip.io", "ip-0a010203.example.net", "fe80--1.sslip.io",
		"5.1.168.192.in-addr.arpa", "_dns-sd._udp.0.1.168.192.in-addr.arpa", `"v=spf1 ip4:10.0.0.0/8 -all"`,
		"1 . ipv6hint=::ffff:10.1.2.3", "2002-a01-203--1.sslip.io", "--", "-.-", "1.2.3.4.5.6", "::1/129",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		check := func(p netip.Prefix) bool {
			if !p.IsValid() {
				t.Fatalf("%q yields invalid prefix %v", s, p)
			}
			return false
		}
		nameEmbeds(s, check)
		textEmbeds(s, check)
		got, ok := parse6(s, ':')
		want, err := netip.ParseAddr(s)
		if err == nil && (want.Zone() != "" || want.Is4()) {
			return // parse6 reads IPv6 without zones only
		}
		if ok != (err == nil) || ok && got != want {
			t.Fatalf("parse6(%q) = %v %v, netip.ParseAddr: %v %v", s, got, ok, want, err)
		}
	})
}

// TestEmbeddedReadOnceForAllPolicies: the engine's path (Decide with one
// Scratch for every policy, one Record reused for every line) reads a
// record's embedded addresses once for all policies, and decides as each
// policy alone does, whatever came before: the same owner with other
// rdata, the same record again, another type.
func TestEmbeddedReadOnceForAllPolicies(t *testing.T) {
	env := testEnv()
	var pols []*Compiled
	for _, spec := range []*Spec{
		{Transforms: TransformSpec{TruncateIP: &TruncateSpec{IPv4: 24, IPv6: 48}}},
		{Transforms: TransformSpec{TruncateIP: &TruncateSpec{IPv6: 48}}},
		{Transforms: TransformSpec{CryptoPAn: &KeySpec{KeyEnv: "KEY_A"}}},
	} {
		c, err := Compile("t", spec, env)
		if err != nil {
			t.Fatal(err)
		}
		pols = append(pols, c)
	}
	lines := [][3]string{
		{"a.example", "TXT", `"v=spf1 ip4:93.184.216.0/24 -all"`},
		{"a.example", "TXT", `"v=spf1 ip4:93.184.216.34 -all"`},
		{"a.example", "TXT", `"v=spf1 ip4:93.184.216.34 -all"`},
		{"a.example", "TXT", `"gw 2002:5db8:d822::/48"`},
		{"a.example", "TXT", `"nothing here"`},
		{"host-93-184-216-34.example.com", "A", "93.184.216.34"},
		{"www.example.com", "A", "93.184.216.34"},
		{"34.216.184.93.in-addr.arpa", "PTR", "www.example.com."},
		{"34.216.184.93.in-addr.arpa", "CNAME", "www.example.com."},
		{"34.216.184.93.in-addr.arpa", "PTR", "host-93-184-216-34.isp.example."},
		{"www.example.com", "CNAME", "93.184.216.34.nip.io."},
		{"www.example.com", "CNAME", "edge-3.cdn1.example.net."},
		{"2606-4700--1111.sslip.io", "A", "8.8.8.8"},
	}
	var s Scratch
	var r cof.Record // reused, as a batch reader reuses its record
	for pass := range 2 {
		for i := range lines {
			l := lines[i]
			if pass == 1 {
				l = lines[len(lines)-1-i]
			}
			r = *rec(t, record(l[0], l[1], l[2]))
			for k, c := range pols {
				_, rule := c.Decide(&s, &r)
				want := c.Explain(rec(t, record(l[0], l[1], l[2])))
				if (rule == Kept) != want.Kept || rule != Kept && rule.String() != want.Rule {
					t.Errorf("pass %d, %v, policy %d: decided %v, alone %q (kept %v)", pass, l, k, rule, want.Rule, want.Kept)
				}
			}
		}
	}
}
