package policy

import (
	"net/netip"
	"strings"
)

// textEmbeds calls yield with each IPv4 or IPv6 address written in s (TXT
// strings, SVCB hints, NAPTR expressions), until yield returns true, and
// reports whether it did: "ip4:10.0.0.0/8", "host=192.168.1.5",
// "ip6:fd00::/8". An address is a maximal run of characters that can
// stand in one; a dotted run must be exactly four decimal octets
// ("1.2.3.4.5" is none), and an IPv6 run may follow a word and a colon
// ("ip6:2001:db8::1").
func textEmbeds(s string, yield func(netip.Prefix) bool) bool {
	for i := 0; i < len(s); {
		if !isAddrChar(s[i]) {
			i++
			continue
		}
		j, maybe := i, false
		for j < len(s) && isAddrChar(s[j]) {
			maybe = maybe || s[j] <= ':' // a digit or a colon; dots too, harmlessly
			j++
		}
		if !maybe { // letters a-f only, as the "e" in "include"
			i = j
			continue
		}
		bits := suffixBits(s[j:])
		if dottedEmbeds(s[i:j], bits, yield) || colonEmbeds(s[i:j], bits, yield) {
			return true
		}
		i = j
	}
	return false
}

func isAddrChar(c byte) bool { return addrChars[c] }

// addrChars holds the characters an IPv4 or IPv6 address is written with.
var addrChars = func() (t [256]bool) {
	for _, c := range []byte("0123456789abcdefABCDEF.:") {
		t[c] = true
	}
	return t
}()

// suffixBits reads the "/24" after an address ("ip4:192.0.2.0/24" in SPF
// stands for the network, not a host); -1 when there is none.
func suffixBits(rest string) int {
	if len(rest) < 2 || rest[0] != '/' {
		return -1
	}
	v := 0
	for i := 1; i < len(rest) && i <= 3 && '0' <= rest[i] && rest[i] <= '9'; i++ {
		v = v*10 + int(rest[i]-'0')
	}
	if rest[1] < '0' || rest[1] > '9' {
		return -1
	}
	return v
}

// prefixOf is a with the text's prefix length when one followed it and
// fits, else the address alone.
func prefixOf(a netip.Addr, bits int) netip.Prefix {
	if bits < 0 || bits > a.BitLen() {
		bits = a.BitLen()
	}
	return netip.PrefixFrom(a, bits).Masked()
}

// dottedEmbeds reads the runs of digits and dots in run as IPv4 addresses;
// the one ending the run takes the prefix length bits.
func dottedEmbeds(run string, bits int, yield func(netip.Prefix) bool) bool {
	for i := 0; i < len(run); {
		if !isDigitOrDot(run[i]) {
			i++
			continue
		}
		j := i
		for j < len(run) && isDigitOrDot(run[j]) {
			j++
		}
		b := bits
		if j < len(run) {
			b = -1
		}
		if a, ok := parseDotted4(strings.Trim(run[i:j], ".")); ok && yield(prefixOf(a, b)) {
			return true
		}
		i = j
	}
	return false
}

func isDigitOrDot(c byte) bool { return c == '.' || '0' <= c && c <= '9' }

// colonEmbeds reads run as an IPv6 address, and failing that what follows
// its first colon: "6:2001:db8::" (from "ip6:2001:db8::") is read both as
// 6:2001:db8:: and as 2001:db8::.
func colonEmbeds(run string, bits int, yield func(netip.Prefix) bool) bool {
	run = strings.TrimRight(run, ".")
	first := strings.IndexByte(run, ':')
	if first < 0 {
		return false
	}
	if a, ok := parse6(run, ':'); ok && yield(prefixOf(a, bits)) {
		return true
	}
	if rest := run[first+1:]; rest != "" && rest[0] != ':' {
		if a, ok := parse6(rest, ':'); ok && yield(prefixOf(a, bits)) {
			return true
		}
	}
	return false
}

// parseDotted4 reads a.b.c.d, each 0..255 without leading zeros.
func parseDotted4(s string) (netip.Addr, bool) {
	var b [4]byte
	for k := range b {
		end := strings.IndexByte(s, '.')
		if k == 3 {
			end = len(s)
		} else if end < 0 {
			return netip.Addr{}, false
		}
		v, ok := decimalOctet(s[:end])
		if !ok {
			return netip.Addr{}, false
		}
		b[k] = v
		s = s[min(end+1, len(s)):]
	}
	return netip.AddrFrom4(b), true
}

// parse6 reads an IPv6 address whose groups are separated by sep: ':' as
// usual, or '-' as sslip.io writes one in a label. A doubled sep stands
// for a run of zero groups, at most once; with ':', the last 32 bits may
// be a dotted IPv4 address. No zones. It does not allocate.
func parse6(s string, sep byte) (netip.Addr, bool) {
	var g [8]uint16
	n, gap := 0, -1
	if len(s) >= 2 && s[0] == sep && s[1] == sep {
		gap, s = 0, s[2:]
	}
	for s != "" {
		if sep == ':' && n <= 6 {
			if a, ok := parseDotted4(s); ok {
				b := a.As4()
				g[n], g[n+1] = uint16(b[0])<<8|uint16(b[1]), uint16(b[2])<<8|uint16(b[3])
				n += 2
				break
			}
		}
		v, k := 0, 0
		for k < len(s) && k < 5 && hexDigit(s[k]) >= 0 {
			v, k = v<<4|hexDigit(s[k]), k+1
		}
		if k == 0 || k > 4 || n == 8 {
			return netip.Addr{}, false
		}
		g[n], n, s = uint16(v), n+1, s[k:]
		if s == "" {
			break
		}
		if s[0] != sep || len(s) == 1 {
			return netip.Addr{}, false
		}
		if s = s[1:]; s[0] == sep {
			if gap >= 0 {
				return netip.Addr{}, false
			}
			gap, s = n, s[1:]
		}
	}
	return expand6(g, n, gap)
}

// expand6 places n groups, the zero run standing at gap (-1: none).
func expand6(g [8]uint16, n, gap int) (netip.Addr, bool) {
	if gap < 0 && n != 8 || gap >= 0 && n > 7 {
		return netip.Addr{}, false
	}
	var b [16]byte
	for i := 0; i < n; i++ {
		at := i
		if gap >= 0 && i >= gap {
			at = 8 - n + i
		}
		b[2*at], b[2*at+1] = byte(g[i]>>8), byte(g[i])
	}
	return netip.AddrFrom16(b), true
}
