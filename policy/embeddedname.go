package policy

import (
	"bytes"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/cofswitch/cofswitch/cof"
)

// Addresses written into names and text: host-192-168-1-5.example.com,
// 10.1.2.3.nip.io, ip-0a010203.example.net, fe80--1.sslip.io, and TXT
// strings such as "v=spf1 ip4:10.0.0.0/8 -all". Everything here reads
// strings in place and allocates nothing, so that a filter can run it on
// every record.

// recordEmbeds calls yield with each address or prefix that r's names
// (owner, bailiwick, the names in its rdata) or rdata text embed, until
// yield returns true, and reports whether it did. A and AAAA data are
// addresses, not text: the CIDR filters and address transforms see them.
// With skipOwner the owner name is not read.
func recordEmbeds(r *cof.Record, skipOwner bool, yield func(netip.Prefix) bool) bool {
	if !skipOwner && nameEmbeds(r.RRName, yield) || r.Bailiwick != "" && nameEmbeds(r.Bailiwick, yield) {
		return true
	}
	if r.RRType == cof.TypeA || r.RRType == cof.TypeAAAA {
		return false
	}
	found, parsed := false, true
	eachRDataName(r, func(n string) bool {
		found = nameEmbeds(n, yield)
		return !found
	}, &parsed)
	if found || parsed && onlyNames(r.RRType) {
		return found
	}
	for _, d := range r.RData {
		if textEmbeds(d, yield) {
			return true
		}
		// Strings split in two hide an address from the per-string read.
		if j, ok := joinedText(d); ok && isText(r.RRType) && textEmbeds(j, yield) {
			return true
		}
	}
	return false
}

// onlyNames: types whose rdata is one name, which nameEmbeds reads; as text
// it would misread a reverse name (5.1.168.192.in-addr.arpa is not
// 5.1.168.192).
func onlyNames(t cof.Type) bool {
	switch t {
	case cof.TypeCNAME, cof.TypeDNAME, cof.TypeNS, cof.TypePTR:
		return true
	}
	return false
}

// eachRDataName calls yield with each domain name in r's rdata (see
// rdataNames: the names of every type that carries them, in canonical
// form), until yield returns false. Rdata that does not parse as its type
// sets *parsed to false: the caller then reads it as text.
func eachRDataName(r *cof.Record, yield func(string) bool, parsed *bool) {
	if !cof.CarriesNames(r.RRType) {
		return
	}
	var nb [8]cof.NameSpan
	var cb [512]byte
	for _, d := range r.RData {
		names, canon, ok := cof.AppendRDataNames(nb[:0], cb[:0], r.RRType, d)
		if !ok {
			*parsed = false
			continue
		}
		for _, n := range names {
			// Every embedded form has a digit: skip the conversion (and
			// its allocation) for names without one.
			if c := canon[n.CStart:n.CEnd]; bytes.ContainsAny(c, "0123456789") && !yield(string(c)) {
				return
			}
		}
	}
}

// nameEmbeds calls yield with the addresses a domain name embeds, until
// yield returns true, and reports whether it did. A name under
// in-addr.arpa or ip6.arpa stands for the prefix its numeric labels give
// (_dns-sd._udp.0.1.168.192.in-addr.arpa for 192.168.1.0/24) and is read
// no other way. Any other name is read for
//   - four decimal labels or dash-separated parts in a row (10.1.2.3.nip.io,
//     ip-10-1-2-3.ec2.internal), as written and, when dotted, reversed
//     (5.1.168.192.example.com);
//   - a label or dash-separated part of 8 hex digits, with at least one
//     digit and one letter, as an IPv4 address (ip-0a010203.example.net):
//     words like "deadbeef" and numbers like "20240115" are not read;
//   - a label that is an IPv6 address with '-' for ':' (fe80--1.sslip.io).
func nameEmbeds(name string, yield func(netip.Prefix) bool) bool {
	name = strings.TrimSuffix(name, ".")
	if isReverseName(name) {
		p, ok := reverseNameTail(name)
		return ok && yield(p)
	}
	if !mayEmbed(name) {
		return false
	}
	return decimalEmbeds(name, yield) || hexEmbeds(name, yield) || dashed6Embeds(name, yield)
}

// mayEmbed: every form but a dashed IPv6 address without digits
// (fdab--cafe) has a digit. One pass, so names like www.example.com cost
// little.
func mayEmbed(name string) bool {
	for i := 0; i < len(name); i++ {
		if c := name[i]; '0' <= c && c <= '9' || c == '-' && i+1 < len(name) && name[i+1] == '-' {
			return true
		}
	}
	return false
}

func isReverseName(name string) bool {
	return hasSuffixFold(name, ".in-addr.arpa") || hasSuffixFold(name, ".ip6.arpa")
}

func hasSuffixFold(s, suffix string) bool {
	return len(s) >= len(suffix) && strings.EqualFold(s[len(s)-len(suffix):], suffix)
}

// reverseNameTail reads the reverse name as parseReverse does, dropping
// leading labels that are not part of the address (DNS-SD's
// _dns-sd._udp, RFC 2317's 0-25).
func reverseNameTail(name string) (netip.Prefix, bool) {
	if strings.ContainsFunc(name, func(r rune) bool { return 'A' <= r && r <= 'Z' }) {
		name = strings.ToLower(name) // rare: rdata as sent, in upper case
	}
	full := name
	for {
		if p, ok := parseReverse(name); ok {
			if host, ok := classlessHost(full, name, p); ok {
				return host, true
			}
			return p, true
		}
		i := strings.IndexByte(name, '.')
		if i < 0 || isReverseZoneApex(name) {
			return netip.Prefix{}, false
		}
		name = name[i+1:]
	}
}

// classlessHost reads an RFC 2317 name, HOST.RANGE.C.B.A.in-addr.arpa
// (RANGE as 0-25, 0/25 or 128-26), as the host's address A.B.C.HOST/32:
// its first label is the last octet, which the tail's /24 alone would
// hide. tail is the part of full that parseReverse read as p.
func classlessHost(full, tail string, p netip.Prefix) (netip.Prefix, bool) {
	if !p.Addr().Is4() || p.Bits() != 24 {
		return netip.Prefix{}, false
	}
	head := strings.TrimSuffix(full[:len(full)-len(tail)], ".")
	host, rng, ok := strings.Cut(head, ".")
	if !ok || strings.Contains(rng, ".") || !isClasslessRange(rng) {
		return netip.Prefix{}, false
	}
	v, err := strconv.ParseUint(host, 10, 8)
	if err != nil {
		return netip.Prefix{}, false
	}
	b := p.Addr().As4()
	b[3] = byte(v)
	return netip.PrefixFrom(netip.AddrFrom4(b), 32), true
}

// isClasslessRange: digits, one '-' or '/', digits (RFC 2317's 0-25,
// 0/25; also the 128-26 some zones use).
func isClasslessRange(s string) bool {
	i := strings.IndexAny(s, "-/")
	if i <= 0 || i == len(s)-1 {
		return false
	}
	for j := 0; j < len(s); j++ {
		if j != i && (s[j] < '0' || s[j] > '9') {
			return false
		}
	}
	return true
}

func isReverseZoneApex(name string) bool { return name == "in-addr.arpa" || name == "ip6.arpa" }

// isSep separates the parts of a name that an address is written in.
func isSep(c byte) bool { return c == '.' || c == '-' }

// decimalEmbeds finds four decimal octets in a row, parts separated by
// '.' or '-'.
func decimalEmbeds(name string, yield func(netip.Prefix) bool) bool {
	var oct [4]byte
	var dotted [4]bool // whether the separator before oct[k] is a dot
	n := 0
	for i := 0; i <= len(name); {
		j := i
		for j < len(name) && !isSep(name[j]) {
			j++
		}
		v, ok := decimalOctet(name[i:j])
		switch {
		case !ok:
			n = 0
			// A first octet glued to a word, as ISPs name hosts:
			// ip68-1-2-3 (Cox), host86-133-22-1 (BT).
			if w, ok := gluedOctet(name[i:j]); ok {
				oct[0], dotted[0], n = w, false, 1
			}
		case n == 4:
			copy(oct[:], oct[1:])
			copy(dotted[:], dotted[1:])
			n = 3
			fallthrough
		default:
			oct[n], dotted[n] = v, i > 0 && name[i-1] == '.'
			n++
		}
		if ok && n == 4 {
			if yield(netip.PrefixFrom(netip.AddrFrom4(oct), 32)) {
				return true
			}
			rev := [4]byte{oct[3], oct[2], oct[1], oct[0]}
			if dotted[1] && dotted[2] && dotted[3] && rev != oct && yield(netip.PrefixFrom(netip.AddrFrom4(rev), 32)) {
				return true
			}
		}
		i = j + 1
	}
	return false
}

// gluedOctet reads the octet that ends a word of letters: "ip68" is 68.
func gluedOctet(s string) (byte, bool) {
	k := len(s)
	for k > 0 && '0' <= s[k-1] && s[k-1] <= '9' {
		k--
	}
	if k == 0 || k == len(s) {
		return 0, false
	}
	for _, c := range []byte(s[:k]) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return 0, false
		}
	}
	return decimalOctet(s[k:])
}

// decimalOctet reads 0..255 without leading zeros.
func decimalOctet(s string) (byte, bool) {
	if len(s) == 0 || len(s) > 3 || len(s) > 1 && s[0] == '0' {
		return 0, false
	}
	v := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		v = v*10 + int(s[i]-'0')
	}
	return byte(v), v <= 255
}

// hexEmbeds finds parts of exactly 8 hex digits with a digit and a letter.
func hexEmbeds(name string, yield func(netip.Prefix) bool) bool {
	for i := 0; i < len(name); {
		j := i
		for j < len(name) && !isSep(name[j]) {
			j++
		}
		if a, ok := hex8(name[i:j]); ok && yield(netip.PrefixFrom(a, 32)) {
			return true
		}
		i = j + 1
	}
	return false
}

func hex8(s string) (netip.Addr, bool) {
	if len(s) != 8 {
		return netip.Addr{}, false
	}
	var b [4]byte
	digit, letter := false, false
	for i := 0; i < 8; i++ {
		v := hexDigit(s[i])
		if v < 0 {
			return netip.Addr{}, false
		}
		digit, letter = digit || v < 10, letter || v >= 10
		b[i/2] = b[i/2]<<4 | byte(v)
	}
	return netip.AddrFrom4(b), digit && letter
}

// hexDigit is hexNibble in either letter case.
func hexDigit(c byte) int {
	if 'A' <= c && c <= 'F' {
		c += 'a' - 'A'
	}
	return hexNibble(c)
}

// dashed6Embeds finds labels that are IPv6 addresses written with '-' for
// ':', as sslip.io reads them.
func dashed6Embeds(name string, yield func(netip.Prefix) bool) bool {
	for name != "" {
		label := name
		if i := strings.IndexByte(name, '.'); i >= 0 {
			label, name = name[:i], name[i+1:]
		} else {
			name = ""
		}
		if a, ok := parse6(label, '-'); ok && yield(netip.PrefixFrom(a, 128)) {
			return true
		}
	}
	return false
}

// compileEmbedded builds the embedded_cidrs criterion: a name or rdata
// text of the record embeds an address in the set, or a prefix
// overlapping it (see recordEmbeds).
func compileEmbedded(path string, list []string, errs *errList) func(*cof.Record) bool {
	c := compileCIDRs(path, list, errs)
	return func(r *cof.Record) bool {
		return recordEmbeds(r, false, func(p netip.Prefix) bool {
			if p.IsSingleIP() {
				return c.containsAddr(p.Addr())
			}
			list := c.v6
			if p.Addr().Is4() {
				list = c.v4
			}
			return anyOverlaps(list, p) || embeddedOverlaps(p, c.v4)
		})
	}
}

// embeddedWithholds returns the criteria that withhold, under truncate_ip
// or cryptopan, a record whose names or rdata text embed an address more
// precisely than the transform would let through: a name cannot be
// rewritten without becoming another name, so host-198-51-100-7.isp.example
// is withheld rather than delivered with the address the transform hides
// elsewhere. A PTR owner name is left out: the transform rewrites it.
func embeddedWithholds(t *TransformSpec) []criterion {
	var leaks func(netip.Prefix) bool
	var name string
	switch {
	case t.TruncateIP != nil:
		v4, v6 := t.TruncateIP.IPv4, t.TruncateIP.IPv6
		if v4 == 0 {
			v4 = 32
		}
		if v6 == 0 {
			v6 = 128
		}
		name, leaks = "transforms.truncate_ip", func(p netip.Prefix) bool { return finerThan(p, v4, v6) }
	case t.CryptoPAn != nil:
		name, leaks = "transforms.cryptopan", func(netip.Prefix) bool { return true }
	default:
		return nil
	}
	return []criterion{{name: name + ".embedded_address", rule: ruleOf(name + ".embedded_address"), match: func(r *cof.Record) bool {
		return recordEmbeds(r, ptrOwnerReadable(r), leaks)
	}, scan: func(s *Scratch, r *cof.Record) bool {
		return slices.ContainsFunc(s.embedded(r), leaks)
	}}}
}

// ptrOwnerReadable: a PTR owner is left to the transform only when the
// transform reads it (parseReverse): an RFC 2317 owner it cannot rewrite
// is judged like any other name.
func ptrOwnerReadable(r *cof.Record) bool {
	if r.RRType != cof.TypePTR {
		return false
	}
	_, ok := parseReverse(r.RRName)
	return ok
}

// embeddedMemo is every prefix a record's names and text embed, read once
// for all the policies that check them (two address transforms in one
// exchange read the same names), with what it was read from.
type embeddedMemo struct {
	valid           bool
	name, bailiwick string
	typ             cof.Type
	rdata           []string
	prefixes        []netip.Prefix
}

// embedded is every prefix r embeds (as recordEmbeds yields them),
// remembered in s for the next policy that asks of the same record. The
// memo is checked against r's contents, not its address: a reader
// reuses one Record for every line, and a caller need not say when the
// record changes. Strings are immutable, so the memo's copies of them
// stay what they were.
func (s *Scratch) embedded(r *cof.Record) []netip.Prefix {
	m := &s.emb
	if m.valid && m.typ == r.RRType && m.name == r.RRName && m.bailiwick == r.Bailiwick && slices.Equal(m.rdata, r.RData) {
		return m.prefixes
	}
	m.valid, m.typ, m.name, m.bailiwick = true, r.RRType, r.RRName, r.Bailiwick
	m.rdata = append(m.rdata[:0], r.RData...)
	m.prefixes = m.prefixes[:0]
	recordEmbeds(r, ptrOwnerReadable(r), func(p netip.Prefix) bool {
		m.prefixes = append(m.prefixes, p)
		return false
	})
	return m.prefixes
}

// finerThan reports whether p tells more than v4 (IPv4) or v6 (IPv6) bits,
// counting the IPv4 addresses an IPv6 prefix carries.
func finerThan(p netip.Prefix, v4, v6 int) bool {
	if p.Addr().Is4() {
		return p.Bits() > v4
	}
	if p.Bits() > v6 {
		return true
	}
	for i := range v4Layouts {
		l := &v4Layouts[i]
		if !l.carries(p) {
			continue
		}
		if e, ok := l.v4Prefix(p); ok && e.Bits() > v4 {
			return true
		}
	}
	return false
}
