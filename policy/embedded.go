package policy

import "net/netip"

// IPv4 addresses carried inside IPv6 addresses. A filter on IPv4 space that
// looked only at IPv4 addresses would let 2002:a01:203::1 (6to4 for
// 10.1.2.3) through, and a /48 truncation keeps that IPv4 address whole;
// so CIDR sets and the address transforms also look inside these forms.

// v4Layout is one way an IPv6 address carries an IPv4 address: within
// prefix, the IPv4 octets stand from bit start on, skipping the RFC 6052
// "u" octet (bits 64..71) when they would straddle it, inverted when
// obfuscated (the Teredo client). Every layout is octet-aligned.
type v4Layout struct {
	prefix     netip.Prefix
	start      int
	obfuscated bool
	// localUse marks the layouts of 64:ff9b:1::/48, where the operator
	// picks a prefix length and the address does not say which: a filter
	// tries every layout, a transform cannot choose one (see
	// embeddedTruncator).
	localUse bool
}

// v4Layouts lists the forms: RFC 4291 (mapped, compatible), RFC 6052 and
// RFC 8215 (NAT64), RFC 3056 (6to4), RFC 4380 (Teredo).
var v4Layouts = []v4Layout{
	{prefix: netip.MustParsePrefix("::ffff:0:0/96"), start: 96},
	{prefix: netip.MustParsePrefix("::/96"), start: 96},
	{prefix: netip.MustParsePrefix("64:ff9b::/96"), start: 96},
	{prefix: netip.MustParsePrefix("2002::/16"), start: 16},
	{prefix: netip.MustParsePrefix("2001::/32"), start: 32},                   // Teredo server
	{prefix: netip.MustParsePrefix("2001::/32"), start: 96, obfuscated: true}, // Teredo client
	// RFC 8215 local use: the RFC 6052 layouts of a /48, /56, /64 and /96
	// network-specific prefix inside 64:ff9b:1::/48.
	{prefix: localUseNAT64, start: 48, localUse: true},
	{prefix: localUseNAT64, start: 56, localUse: true},
	{prefix: localUseNAT64, start: 72, localUse: true},
	{prefix: localUseNAT64, start: 96, localUse: true},
}

var localUseNAT64 = netip.MustParsePrefix("64:ff9b:1::/48")

// octet returns the index in the IPv6 address of the IPv4 address's k-th
// octet.
func (l *v4Layout) octet(k int) int {
	i := l.start/8 + k
	if l.start < 64 && i >= 8 {
		i++ // the u octet
	}
	return i
}

// get reads the IPv4 address out of the IPv6 address b.
func (l *v4Layout) get(b *[16]byte) [4]byte {
	var v [4]byte
	for k := range v {
		v[k] = b[l.octet(k)]
		if l.obfuscated {
			v[k] ^= 0xff
		}
	}
	return v
}

// set writes the IPv4 address v into the IPv6 address b.
func (l *v4Layout) set(b *[16]byte, v [4]byte) {
	for k := range v {
		if l.obfuscated {
			v[k] ^= 0xff
		}
		b[l.octet(k)] = v[k]
	}
}

// carries reports whether the IPv6 prefix q lies in the layout's prefix.
func (l *v4Layout) carries(q netip.Prefix) bool {
	return q.Bits() >= l.prefix.Bits() && l.prefix.Contains(q.Addr())
}

// v4Prefix returns the IPv4 prefix that the IPv6 prefix q (an address is
// a /128) determines in this layout: the octets wholly or partly inside q.
// ok is false when q fixes none of the IPv4 bits.
func (l *v4Layout) v4Prefix(q netip.Prefix) (netip.Prefix, bool) {
	b := q.Masked().Addr().As16()
	bits := 0
	for k := 0; k < 4; k++ {
		at := l.octet(k) * 8
		if q.Bits() <= at {
			break
		}
		bits += min(q.Bits()-at, 8)
	}
	if bits == 0 {
		return netip.Prefix{}, false
	}
	return netip.PrefixFrom(netip.AddrFrom4(l.get(&b)), bits).Masked(), true
}

// embeddedOverlaps reports whether an IPv4 address or prefix that the IPv6
// prefix q (an address is a /128) carries overlaps one of v4. It does not
// allocate.
func embeddedOverlaps(q netip.Prefix, v4 []netip.Prefix) bool {
	if len(v4) == 0 || !q.Addr().Is6() {
		return false
	}
	for i := range v4Layouts {
		l := &v4Layouts[i]
		if !l.carries(q) {
			continue
		}
		p, ok := l.v4Prefix(q)
		if !ok {
			continue
		}
		if anyOverlaps(v4, p) {
			return true
		}
	}
	return false
}

// withEmbedded extends an address mapping to the IPv4 addresses inside
// IPv6 ones: each carried IPv4 address is mapped as IPv4 and written
// back, then the whole IPv6 address is mapped. Under truncation both
// prefixes hold (2002:a01:203:: with ipv4 24, ipv6 48 gives
// 2002:a01:200::); under Crypto-PAn the carried address is encrypted as
// IPv4 and then, with the rest, as IPv6, which stays prefix-preserving
// since both steps are. The local-use NAT64 layouts are left to the
// caller: the address does not say which one applies.
func withEmbedded(f func(netip.Addr) netip.Addr) func(netip.Addr) netip.Addr {
	return func(a netip.Addr) netip.Addr {
		if !a.Is6() {
			return f(a)
		}
		b := a.As16()
		q := netip.PrefixFrom(a, 128)
		for i := range v4Layouts {
			l := &v4Layouts[i]
			if l.localUse || !l.carries(q) {
				continue
			}
			l.set(&b, f(netip.AddrFrom4(l.get(&b))).As4())
		}
		return f(netip.AddrFrom16(b))
	}
}

// embeddedTruncator is truncator applied to embedded IPv4 addresses too
// (withEmbedded). In 64:ff9b:1::/48, where the IPv4 address may start at
// bit 48, 56, 72 or 96, no more than the /48 is kept.
func embeddedTruncator(v4, v6 int) func(netip.Addr) netip.Addr {
	f := withEmbedded(truncator(v4, v6))
	cut := truncator(v4, min(v6, localUseNAT64.Bits()))
	return func(a netip.Addr) netip.Addr {
		if a.Is6() && localUseNAT64.Contains(a) {
			return cut(a)
		}
		return f(a)
	}
}

// anyOverlaps reports whether q overlaps one of list. Both sides are
// masked, so two prefixes overlap when one holds the other's first
// address: cheaper than netip.Prefix.Overlaps, which matters in text with
// many addresses.
func anyOverlaps(list []netip.Prefix, q netip.Prefix) bool {
	for _, p := range list {
		if p.Contains(q.Addr()) || q.Contains(p.Addr()) {
			return true
		}
	}
	return false
}
