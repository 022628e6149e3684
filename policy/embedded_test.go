package policy

import (
	"fmt"
	"net/netip"
	"testing"
)

// Teredo (RFC 4380 §4): 2001:0:SSSS:SSSS:flags:~port:~client. The first
// vector is the example commonly cited for the format (server
// 65.54.227.120, cone NAT, port 40000, client 192.0.2.45); the others are
// built by the same rule for the servers and clients of the Teredo
// deployment examples (server 206.73.118.1, clients 157.60.0.1:4096 and
// 131.107.0.1:8192), under the 2001::/32 prefix.
var teredoVectors = []struct {
	addr, server, client string
}{
	{"2001:0:4136:e378:8000:63bf:3fff:fdd2", "65.54.227.120", "192.0.2.45"},
	{"2001:0:ce49:7601:8000:efff:62c3:fffe", "206.73.118.1", "157.60.0.1"},
	{"2001:0:ce49:7601:0:dfff:7c94:fffe", "206.73.118.1", "131.107.0.1"},
}

func TestTeredoVectors(t *testing.T) {
	for _, v := range teredoVectors {
		a := netip.MustParseAddr(v.addr)
		b := a.As16()
		var got []string
		for i := range v4Layouts {
			if l := &v4Layouts[i]; l.carries(netip.PrefixFrom(a, 128)) {
				got = append(got, netip.AddrFrom4(l.get(&b)).String())
			}
		}
		if fmt.Sprint(got) != fmt.Sprint([]string{v.server, v.client}) {
			t.Errorf("%s carries %v, want server %s and client %s", v.addr, got, v.server, v.client)
		}
		// Each embedded address alone is enough to match a CIDR set.
		for _, want := range []string{v.server, v.client} {
			c := &cidrSet{}
			c.add(netip.PrefixFrom(netip.MustParseAddr(want), 32))
			if !c.containsAddr(a) {
				t.Errorf("a set holding %s does not contain %s", want, v.addr)
			}
		}
	}
}

// TestEmbeddedV4InCIDRSets: special-purpose, and any listed IPv4 CIDR,
// match an IPv6 address (or reverse name) carrying an IPv4 address in it.
func TestEmbeddedV4InCIDRSets(t *testing.T) {
	sp := []string{SpecialPurpose}
	user := []string{"93.184.216.0/24"}
	tests := []struct {
		name  string
		cidrs []string
		typ   string
		owner string
		rdata string
		want  bool
	}{
		{"6to4 of 10.1.2.3 (the issue's leak)", sp, "AAAA", "a.example", "2002:a01:203::1", true},
		{"6to4 after /48 truncation", sp, "AAAA", "a.example", "2002:a01:203::", true},
		{"6to4 of 192.168.1.5", sp, "AAAA", "a.example", "2002:c0a8:105:1::1", true},
		{"6to4 of a public address", sp, "AAAA", "a.example", "2002:808:808::1", false},
		{"NAT64 well-known of 10.1.2.3", sp, "AAAA", "a.example", "64:ff9b::a01:203", true},
		{"NAT64 well-known of 100.64.0.1", sp, "AAAA", "a.example", "64:ff9b::6440:1", true},
		{"NAT64 well-known of a public address", sp, "AAAA", "a.example", "64:ff9b::808:808", false},
		{"IPv4-mapped", sp, "AAAA", "a.example", "::ffff:10.1.2.3", true},
		{"IPv4-compatible", sp, "AAAA", "a.example", "::172.16.0.1", true},
		{"IPv4-compatible public", sp, "AAAA", "a.example", "::8.8.8.8", false},
		{"Teredo client 10.0.0.1", user, "AAAA", "a.example", "2001:0:4136:e378:8000:63bf:f5ff:fffe", false},
		{"user CIDR: 6to4", user, "AAAA", "a.example", "2002:5db8:d822::1", true},
		{"user CIDR: NAT64 well-known", user, "AAAA", "a.example", "64:ff9b::5db8:d822", true},
		{"user CIDR: NAT64 local use /96", user, "AAAA", "a.example", "64:ff9b:1::5db8:d822", true},
		{"user CIDR: NAT64 local use /48", user, "AAAA", "a.example", "64:ff9b:1:5db8:d8:2200::", true},
		{"user CIDR: NAT64 local use /56", user, "AAAA", "a.example", "64:ff9b:1:5d:b8:d822::", true},
		{"user CIDR: NAT64 local use /64", user, "AAAA", "a.example", "64:ff9b:1:0:5d:b8d8:2200:0", true},
		{"user CIDR: Teredo server", user, "AAAA", "a.example", "2001:0:5db8:d822::1", true},
		{"user CIDR: Teredo client", user, "AAAA", "a.example", "2001:0:4136:e378:8000:63bf:a247:27dd", true},
		{"user CIDR: mapped", user, "AAAA", "a.example", "::ffff:93.184.216.34", true},
		{"user CIDR: other 6to4", user, "AAAA", "a.example", "2002:808:808::1", false},
		{"user CIDR: plain IPv6", user, "AAAA", "a.example", "2606:4700::1111", false},
		{"6to4 reverse name", sp, "PTR", "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.3.0.2.0.1.0.a.0.2.0.0.2.ip6.arpa", "h.", true},
		{"6to4 partial reverse name (10.1/16)", sp, "PTR", "1.0.a.0.2.0.0.2.ip6.arpa", "h.", true},
		{"6to4 partial reverse name, public", sp, "PTR", "8.0.8.0.2.0.0.2.ip6.arpa", "h.", false},
		{"6to4 reverse name of the prefix only", sp, "PTR", "2.0.0.2.ip6.arpa", "h.", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := FilterSpec{RDataCIDRs: tt.cidrs}
			c := mustCompile(t, &Spec{Exclude: &f})
			if _, kept := c.Apply(rec(t, record(tt.owner, tt.typ, tt.rdata))); kept == tt.want {
				t.Errorf("rdata_cidrs %v on %s %s: matched=%v, want %v", tt.cidrs, tt.owner, tt.rdata, !kept, tt.want)
			}
		})
	}
}

// TestEmbeddedAddressTransforms: truncate_ip and cryptopan reach the IPv4
// address inside IPv6 forms.
func TestEmbeddedAddressTransforms(t *testing.T) {
	tests := []struct {
		name   string
		v4, v6 int
		in     string
		want   string
	}{
		{"6to4 /24 /48 (the issue's leak)", 24, 48, "2002:a01:203::", "2002:a01:200::"},
		{"6to4 keeps both cuts", 24, 64, "2002:a01:203:4::1", "2002:a01:200:4::"},
		{"6to4 coarser IPv6 cut wins", 24, 32, "2002:a01:203::1", "2002:a01::"},
		{"mapped, IPv6 untouched", 24, 0, "::ffff:10.1.2.3", "::ffff:10.1.2.0"},
		{"compatible", 16, 0, "::10.1.2.3", "::a01:0"},
		{"NAT64 well-known", 24, 0, "64:ff9b::a01:203", "64:ff9b::a01:200"},
		{"Teredo server and client", 24, 0, "2001:0:4136:e378:8000:63bf:3fff:fdd2", "2001:0:4136:e300:8000:63bf:3fff:fdff"},
		{"Teredo at /48", 24, 48, "2001:0:4136:e378:8000:63bf:3fff:fdd2", "2001:0:4136::"},
		{"NAT64 local use: no more than the /48", 24, 64, "64:ff9b:1:5db8:d8:2200::", "64:ff9b:1::"},
		{"plain IPv6 as before", 24, 48, "2606:4700:1234:5678::1", "2606:4700:1234::"},
		{"IPv4 as before", 24, 48, "10.1.2.3", "10.1.2.0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v4, v6 := tt.v4, tt.v6
			if v6 == 0 {
				v6 = 128
			}
			if got := embeddedTruncator(v4, v6)(netip.MustParseAddr(tt.in)).String(); got != tt.want {
				t.Errorf("%s /%d /%d: got %s, want %s", tt.in, v4, v6, got, tt.want)
			}
		})
	}
	t.Run("PTR owner of a 6to4 address", func(t *testing.T) {
		c := mustCompile(t, &Spec{Transforms: TransformSpec{TruncateIP: &TruncateSpec{IPv4: 24, IPv6: 48}}})
		out, kept := c.Apply(rec(t, record("1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.3.0.2.0.1.0.a.0.2.0.0.2.ip6.arpa", "PTR", "h.example.")))
		if want := "0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.2.0.1.0.a.0.2.0.0.2.ip6.arpa"; !kept || out.RRName != want {
			t.Errorf("kept=%v %s, want %s", kept, out.RRName, want)
		}
	})
	t.Run("cryptopan encrypts the carried IPv4 address as IPv4 first", func(t *testing.T) {
		cp, _ := NewCryptoPAn(cryptoPAnKey, 64)
		f := withEmbedded(cp.Anonymize)
		a := netip.MustParseAddr("2002:a01:203::1")
		v4 := cp.Anonymize(netip.MustParseAddr("10.1.2.3")).As4()
		inner := netip.AddrFrom16([16]byte{0x20, 0x02, v4[0], v4[1], v4[2], v4[3], 15: 1})
		if got, want := f(a), cp.Anonymize(inner); got != want {
			t.Errorf("got %s, want %s", got, want)
		}
		// Still prefix-preserving: two hosts of one 6to4 /48 share 48 bits.
		b := netip.MustParseAddr("2002:a01:203::2")
		if n := commonPrefix(f(a), f(b)); n != commonPrefix(a, b) {
			t.Errorf("common prefix %d, want %d", n, commonPrefix(a, b))
		}
	})
}
