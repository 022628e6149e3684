package policy

import (
	"net/netip"
	"strconv"
	"strings"
)

// Names of the built-in sets, usable wherever a list of zones or CIDRs is.
const (
	// InternalZones: names that never belong in shared data (RFC 6761,
	// RFC 8375 home.arpa, the ICANN-reserved .internal, common private
	// TLDs) and the reverse zones of the special-purpose address space.
	InternalZones = "internal-zones"
	// SpecialPurpose: the IANA IPv4 and IPv6 Special-Purpose Address
	// Registry entries that are not globally reachable.
	SpecialPurpose = "special-purpose"
)

var internalNames = []string{
	"local", "home.arpa", "internal", "lan", "corp", "home", "localhost", "invalid", "test",
	"localdomain", "intranet", "private",
}

// specialPurpose lists the not-globally-reachable entries of the IANA
// registries (iana-ipv4-special-registry, iana-ipv6-special-registry).
var specialPurpose = []string{
	// IPv4
	"0.0.0.0/8",          // "this network", RFC 791
	"10.0.0.0/8",         // private use, RFC 1918
	"100.64.0.0/10",      // shared address space, RFC 6598
	"127.0.0.0/8",        // loopback, RFC 1122
	"169.254.0.0/16",     // link local, RFC 3927
	"172.16.0.0/12",      // private use, RFC 1918
	"192.0.0.0/24",       // IETF protocol assignments, RFC 6890
	"192.0.2.0/24",       // documentation TEST-NET-1, RFC 5737
	"192.168.0.0/16",     // private use, RFC 1918
	"198.18.0.0/15",      // benchmarking, RFC 2544
	"198.51.100.0/24",    // documentation TEST-NET-2, RFC 5737
	"203.0.113.0/24",     // documentation TEST-NET-3, RFC 5737
	"240.0.0.0/4",        // reserved, RFC 1112
	"255.255.255.255/32", // limited broadcast, RFC 919
	// IPv6
	"::/128",         // unspecified, RFC 4291
	"::1/128",        // loopback, RFC 4291
	"::ffff:0:0/96",  // IPv4-mapped, RFC 4291
	"64:ff9b:1::/48", // IPv4-IPv6 translation, local use, RFC 8215
	"100::/64",       // discard-only, RFC 6666
	"2001::/23",      // IETF protocol assignments, RFC 2928
	"2001:db8::/32",  // documentation, RFC 3849
	"3fff::/20",      // documentation, RFC 9637
	"5f00::/16",      // segment routing SIDs, RFC 9602
	"fc00::/7",       // unique local, RFC 4193
	"fe80::/10",      // link-local unicast, RFC 4291
}

func specialPrefixes() []netip.Prefix {
	out := make([]netip.Prefix, len(specialPurpose))
	for i, s := range specialPurpose {
		out[i] = netip.MustParsePrefix(s)
	}
	return out
}

// internalZoneList returns the internal names and the reverse zones of the
// special-purpose prefixes.
func internalZoneList() []string {
	zones := append([]string(nil), internalNames...)
	for _, p := range specialPrefixes() {
		zones = append(zones, reverseZones(p)...)
	}
	return zones
}

// reverseZones returns the in-addr.arpa or ip6.arpa zones that together
// cover p, cut at the first octet (IPv4) or nibble (IPv6) boundary at or
// below its length. 100.64.0.0/10 gives 64.100.in-addr.arpa through
// 127.100.in-addr.arpa.
func reverseZones(p netip.Prefix) []string {
	p = p.Masked()
	unit := 8
	if p.Addr().Is6() {
		unit = 4
	}
	bits := (p.Bits() + unit - 1) / unit * unit
	if bits == 0 {
		bits = unit
	}
	n := 1 << (bits - p.Bits())
	var out []string
	b := p.Addr().AsSlice()
	for i := 0; i < n; i++ {
		cur := make([]byte, len(b))
		copy(cur, b)
		addOffset(cur, uint64(i), bits)
		out = append(out, reverseName(cur, bits, unit))
	}
	return out
}

// addOffset adds v to the address as a number of units ending at bit.
func addOffset(addr []byte, v uint64, bit int) {
	shift := len(addr)*8 - bit
	for i := len(addr) - 1; i >= 0 && v > 0; i-- {
		if shift >= 8 {
			shift -= 8
			continue
		}
		sum := uint64(addr[i]) + (v << shift)
		addr[i] = byte(sum)
		v = sum >> 8
		shift = 0
	}
}

func reverseName(addr []byte, bits, unit int) string {
	var labels []string
	if unit == 8 {
		for i := 0; i < bits/8; i++ {
			labels = append(labels, strconv.Itoa(int(addr[i])))
		}
	} else {
		for i := 0; i < bits/4; i++ {
			nib := addr[i/2] >> 4
			if i%2 == 1 {
				nib = addr[i/2] & 0xf
			}
			labels = append(labels, strconv.FormatUint(uint64(nib), 16))
		}
	}
	for i, j := 0, len(labels)-1; i < j; i, j = i+1, j-1 {
		labels[i], labels[j] = labels[j], labels[i]
	}
	suffix := "in-addr.arpa"
	if unit == 4 {
		suffix = "ip6.arpa"
	}
	return strings.Join(append(labels, suffix), ".")
}
