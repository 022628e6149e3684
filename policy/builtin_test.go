package policy

import (
	"net/netip"
	"slices"
	"testing"
)

func TestReverseZones(t *testing.T) {
	tests := []struct {
		prefix string
		want   []string
	}{
		{"10.0.0.0/8", []string{"10.in-addr.arpa"}},
		{"192.168.0.0/16", []string{"168.192.in-addr.arpa"}},
		{"192.0.2.0/24", []string{"2.0.192.in-addr.arpa"}},
		{"172.16.0.0/12", []string{"16.172.in-addr.arpa", "17.172.in-addr.arpa", "18.172.in-addr.arpa", "19.172.in-addr.arpa",
			"20.172.in-addr.arpa", "21.172.in-addr.arpa", "22.172.in-addr.arpa", "23.172.in-addr.arpa", "24.172.in-addr.arpa",
			"25.172.in-addr.arpa", "26.172.in-addr.arpa", "27.172.in-addr.arpa", "28.172.in-addr.arpa", "29.172.in-addr.arpa",
			"30.172.in-addr.arpa", "31.172.in-addr.arpa"}},
		{"fe80::/10", []string{"8.e.f.ip6.arpa", "9.e.f.ip6.arpa", "a.e.f.ip6.arpa", "b.e.f.ip6.arpa"}},
		{"fc00::/7", []string{"c.f.ip6.arpa", "d.f.ip6.arpa"}},
		{"2001:db8::/32", []string{"8.b.d.0.1.0.0.2.ip6.arpa"}},
		{"255.255.255.255/32", []string{"255.255.255.255.in-addr.arpa"}},
	}
	for _, tt := range tests {
		got := reverseZones(netip.MustParsePrefix(tt.prefix))
		if !slices.Equal(got, tt.want) {
			t.Errorf("reverseZones(%s) = %v, want %v", tt.prefix, got, tt.want)
		}
	}
	if n := len(reverseZones(netip.MustParsePrefix("100.64.0.0/10"))); n != 64 {
		t.Errorf("100.64.0.0/10 gives %d zones, want 64", n)
	}
	zones := internalZoneList()
	for _, z := range []string{"home.arpa", "local", "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa", "127.in-addr.arpa"} {
		if !slices.Contains(zones, z) {
			t.Errorf("internal zones lack %s", z)
		}
	}
}
