package cof

import (
	"strconv"

	"golang.org/x/net/idna"
)

// Name limits from RFC 1035 §2.3.4, in presentation form without the
// trailing dot: a name of 255 octets on the wire is at most 253 here.
const (
	maxLabelOctets = 63
	maxNameOctets  = 253
)

// idnaProfile converts U-labels to A-labels with the lookup mapping of
// UTS #46 (so "Bücher" and "bücher" agree), but without the STD3 rules that
// would refuse underscores, which are common in real DNS (_dmarc, SRV).
var idnaProfile = idna.New(
	idna.MapForLookup(),
	idna.StrictDomainName(false),
	idna.Transitional(false),
	idna.BidiRule(),
)

// appendName validates a DNS name in presentation form and appends its
// canonical form to dst: no trailing dot, U-labels as A-labels, and each
// octet in the one form appendOctet gives it. The root is ".". Lengths
// count octets, so "\046" or "\." is one octet.
func appendName(dst, name []byte) ([]byte, string) {
	out, reason, nonASCII := appendASCIIName(dst, name)
	if nonASCII {
		return appendIDN(dst, name)
	}
	return out, reason
}

// appendASCIIName is appendName for names without non-ASCII bytes; it
// reports nonASCII (and appends nothing) when it meets one. Kept apart
// from appendIDN, which calls it, so that no call is recursive: escape
// analysis would then move every caller's stack buffer to the heap.
func appendASCIIName(dst, name []byte) (_ []byte, reason string, nonASCII bool) {
	if len(name) == 1 && name[0] == '.' {
		return append(dst, '.'), "", false
	}
	if len(name) == 0 {
		return dst, "empty name", false
	}
	if n := len(name); name[n-1] == '.' && !escapedAt(name, n-1) {
		name = name[:n-1]
	}
	start := len(dst)
	label, total, labels := 0, 0, 1
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c == '.':
			if label == 0 {
				return dst[:start], "empty label", false
			}
			labels++
			label = 0
			dst = append(dst, '.')
			continue
		case c == '\\':
			if i+1 >= len(name) {
				return dst[:start], "dangling backslash at end of name", false
			}
			e := name[i+1]
			switch {
			case isDigit(e):
				if i+3 >= len(name) || !isDigit(name[i+2]) || !isDigit(name[i+3]) {
					return dst[:start], "bad \\DDD escape", false
				}
				v := int(e-'0')*100 + int(name[i+2]-'0')*10 + int(name[i+3]-'0')
				if v > 255 {
					return dst[:start], "\\DDD escape above 255", false
				}
				dst = appendOctet(dst, byte(v))
				i += 3
			case e >= 0x80:
				return dst[:start], "", true
			default:
				dst = appendOctet(dst, e)
				i++
			}
		case c <= ' ' || c == 0x7f:
			dst = appendOctet(dst, c)
		case c >= 0x80:
			return dst[:start], "", true
		default:
			dst = append(dst, lower(c))
		}
		label++
		total++
		if label > maxLabelOctets {
			return dst[:start], "label longer than 63 octets", false
		}
	}
	if label == 0 {
		return dst[:start], "empty label", false
	}
	if total+labels-1 > maxNameOctets {
		return dst[:start], "name longer than 253 octets", false
	}
	return dst, "", false
}

// appendIDN is the slow path for names with non-ASCII labels: each such
// label is converted to its A-label, then the whole name is checked again.
func appendIDN(dst, name []byte) ([]byte, string) {
	var ascii []byte
	rest := name
	for len(rest) > 0 {
		end := indexDot(rest)
		label := rest[:end]
		if hasNonASCII(label) {
			if indexByte(label, '\\') >= 0 {
				return dst, "label mixes escapes and non-ASCII characters"
			}
			a, err := idnaProfile.ToASCII(string(label))
			if err != nil || a == "" || hasNonASCII([]byte(a)) {
				return dst, "invalid internationalised label " + strconv.Quote(string(label))
			}
			ascii = append(ascii, a...)
		} else {
			ascii = append(ascii, label...)
		}
		if end < len(rest) {
			ascii = append(ascii, '.')
			rest = rest[end+1:]
		} else {
			rest = nil
		}
	}
	out, reason, _ := appendASCIIName(dst, ascii)
	return out, reason
}

// indexDot finds the first unescaped '.' or returns len(b).
func indexDot(b []byte) int {
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '.':
			return i
		}
	}
	return len(b)
}

// escapedAt reports whether the byte at i is preceded by an odd number of
// backslashes.
func escapedAt(b []byte, i int) bool {
	n := 0
	for j := i - 1; j >= 0 && b[j] == '\\'; j-- {
		n++
	}
	return n%2 == 1
}

func hasNonASCII(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 {
			return true
		}
	}
	return false
}

func indexByte(b []byte, c byte) int {
	for i := range b {
		if b[i] == c {
			return i
		}
	}
	return -1
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + ('a' - 'A')
	}
	return c
}

// appendOctet writes one label octet in its one canonical presentation:
// letters in lower case, '.' and '\\' escaped with a backslash, other
// printable ASCII as itself, everything else as \DDD. So "A\065b", "aab"
// and "\097ab" all become "aab".
func appendOctet(dst []byte, c byte) []byte {
	switch {
	case c == '.' || c == '\\':
		return append(dst, '\\', c)
	case c <= ' ' || c >= 0x7f:
		return append(dst, '\\', '0'+c/100, '0'+c/10%10, '0'+c%10)
	}
	return append(dst, lower(c))
}

// AppendName validates a DNS name in presentation form and appends its
// canonical form to dst, as Parse normalises rrname and bailiwick: lower
// case, no trailing dot (the root stays "."), U-labels as A-labels, escapes
// in one spelling. On error dst is returned unchanged with an *Error that
// wraps ErrBadName and gives the reason. Input formats other than COF use
// it so that the names they produce are the ones Parse would produce.
func AppendName(dst, name []byte) ([]byte, error) {
	out, reason := appendName(dst, name)
	if reason != "" {
		return dst, &Error{Reason: reason, Err: ErrBadName}
	}
	return out, nil
}
