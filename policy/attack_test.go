package policy

import (
	"strings"
	"testing"
)

// Leaks found by attacking issue 13's strict policy from outside, each
// failing on the code it was written against and fixed since: classless
// reverse owners, TXT strings split in two, octets glued to a word, names
// in TXT, hosts under the public suffix list's private part.

// strictSpec is the example configuration's csirt-share, without keys for
// the transforms that need none here.
func strictSpec() *Spec {
	return &Spec{
		Exclude: &FilterSpec{
			Zones:         []string{"internal-zones"},
			RDataCIDRs:    []string{"special-purpose"},
			EmbeddedCIDRs: []string{"special-purpose"},
		},
		Transforms: TransformSpec{TruncateIP: &TruncateSpec{IPv4: 24, IPv6: 48}},
	}
}

// TestAttackClasslessReverseOwnerKeepsHost: an RFC 2317 classless
// delegation names a host's PTR 34.0-25.216.184.93.in-addr.arpa (or
// 34.0/25...). parseReverse does not read it, so truncate_ip leaves the
// owner as it is, and the embedded-address check drops the leading labels
// (reverseNameTail) and sees only 93.184.216.0/24, no finer than /24: the
// peer gets the host's full address, 93.184.216.34, beside A records cut
// to /24.
func TestAttackClasslessReverseOwnerKeepsHost(t *testing.T) {
	c, err := Compile("t", strictSpec(), testEnv())
	if err != nil {
		t.Fatal(err)
	}
	for _, owner := range []string{"34.0-25.216.184.93.in-addr.arpa", "34.0/25.216.184.93.in-addr.arpa", "34.128-26.216.184.93.in-addr.arpa"} {
		out, kept := c.Apply(rec(t, record(owner, "PTR", "www.example.com.")))
		if kept && strings.HasPrefix(out.RRName, "34.") {
			t.Errorf("%s PTR: kept as %q: the host's full address under truncate_ip /24", owner, out.RRName)
		}
	}
}

// TestAttackSplitTXTStrings: a TXT record is several character strings,
// and SPF (RFC 7208 3.3) reads them concatenated without a space, so
// "v=spf1 ip4:10.0" ".0.0/8 -all" is ip4:10.0.0.0/8. The text reader
// looks at each string apart: a private network passes exclude
// embedded_cidrs special-purpose, and a host address passes truncate_ip.
func TestAttackSplitTXTStrings(t *testing.T) {
	c, err := Compile("t", strictSpec(), testEnv())
	if err != nil {
		t.Fatal(err)
	}
	for _, txt := range []string{
		`"v=spf1 ip4:10.0" ".0.0/8 -all"`,
		`"v=spf1 ip4:192.168" ".1.5 -all"`,
		`"v=spf1 ip4:93.184" ".216.34 -all"`,
	} {
		if out, kept := c.Apply(rec(t, record("example.com", "TXT", txt))); kept {
			t.Errorf("TXT %s kept: %q", txt, out.RData)
		}
	}
}

// TestAttackLetterGluedDashedAddress: ISPs name hosts with the first
// octet glued to a word (Cox: ip68-1-2-3.ph.ph.cox.net; BT:
// host86-133-22-1.range86-133.btcentralplus.com). The dashed reader needs
// the first octet to be a whole part, so these pass truncate_ip /24 with
// the full address in the name (without hash_labels, as the example
// configuration ships), and ip10-1-2-3 passes embedded_cidrs.
func TestAttackLetterGluedDashedAddress(t *testing.T) {
	c, err := Compile("t", strictSpec(), testEnv())
	if err != nil {
		t.Fatal(err)
	}
	for _, owner := range []string{
		"ip68-1-2-3.ph.ph.cox.net",
		"host86-133-22-1.range86-133.btcentralplus.com",
		"ip10-1-2-3.ec2.example.com",
	} {
		if out, kept := c.Apply(rec(t, record(owner, "A", "93.184.216.34"))); kept {
			t.Errorf("%s kept as %q: the address in the name is finer than /24", owner, out.RRName)
		}
	}
}

// TestAttackInternalNamesInTXT: exclude.zones internal-zones reads the
// names of CNAME, MX, SRV... but not the host names an SPF record names
// (a:, mx:, include:, exists:, ptr:), so "a:mail.corp" reaches the peer.
// The README promises "no record with an internal name anywhere".
func TestAttackInternalNamesInTXT(t *testing.T) {
	c, err := Compile("t", strictSpec(), testEnv())
	if err != nil {
		t.Fatal(err)
	}
	for _, txt := range []string{`"v=spf1 a:mail.corp -all"`, `"v=spf1 include:_spf.internal -all"`, `"v=spf1 mx:printer.local ~all"`} {
		if out, kept := c.Apply(rec(t, record("example.com", "TXT", txt))); kept {
			t.Errorf("TXT %s kept: %q", txt, out.RData)
		}
	}
}

// TestAttackClasslessReverseOwnerCryptoPAn: the same owner under
// cryptopan. The PTR owner is skipped by the embedded-address check
// because the transform is meant to rewrite it, but parseReverse does not
// read it, so the peer gets 216.184.93 (and the host, 34) in clear while
// every A record is encrypted.
func TestAttackClasslessReverseOwnerCryptoPAn(t *testing.T) {
	c, err := Compile("t", &Spec{Transforms: TransformSpec{CryptoPAn: &KeySpec{KeyEnv: "KEY_A"}}}, testEnv())
	if err != nil {
		t.Fatal(err)
	}
	if out, kept := c.Apply(rec(t, record("34.0-25.216.184.93.in-addr.arpa", "PTR", "www.example.com."))); kept && strings.Contains(out.RRName, "216.184.93") {
		t.Errorf("kept as %q: the address in clear under cryptopan", out.RRName)
	}
}

// TestAttackPrivateSuffixHostsHashed: hash_labels leaves the registered
// domain readable; under the public suffix list's private part, a dynamic
// DNS host (alice-laptop.duckdns.org) was taken for one. Only the ICANN
// part counts: the provider's domain stays, the host is hashed.
func TestAttackPrivateSuffixHostsHashed(t *testing.T) {
	c := mustCompile(t, &Spec{Transforms: TransformSpec{HashLabels: &KeySpec{KeyFile: "/keys/a"}}})
	for owner, keep := range map[string]string{
		"alice-laptop.duckdns.org": ".duckdns.org",
		"bobs-nas.synology.me":     ".synology.me",
		"carol.github.io":          ".github.io",
		"www.example.co.uk":        ".example.co.uk",
		"a.b.example.com":          ".example.com",
		"carol-home.dyndns.org":    ".dyndns.org",
	} {
		out, _ := c.Apply(rec(t, record(owner, "A", "93.184.216.34")))
		if !strings.HasSuffix(out.RRName, keep) || strings.Contains(out.RRName, strings.Split(owner, ".")[0]+".") {
			t.Errorf("%s hashed to %q, want its host hashed and %q kept", owner, out.RRName, keep)
		}
	}
}
