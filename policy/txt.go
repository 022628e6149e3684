package policy

import (
	"strings"

	"github.com/cofswitch/cofswitch/cof"
)

// typeSPF is the old SPF rrtype, text like TXT.
const typeSPF cof.Type = 99

// isText reports whether a type's rdata is character strings.
func isText(t cof.Type) bool { return t == cof.TypeTXT || t == typeSPF }

// joinedText returns the character strings of a TXT rdata joined, as SPF
// (RFC 7208 §3.3) and DKIM read them: "v=spf1 ip4:10.0" ".0.0/8" is
// "v=spf1 ip4:10.0.0.0/8". Escapes are kept as written. ok is false when
// the rdata is one string or none, so the caller has read it already.
func joinedText(s string) (joined string, ok bool) {
	var b strings.Builder
	strs, in, esc := 0, false, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case esc:
			b.WriteByte(c)
			esc = false
		case in && c == '\\':
			b.WriteByte(c)
			esc = true
		case c == '"':
			if !in {
				strs++
			}
			in = !in
		case in:
			b.WriteByte(c)
		}
	}
	return b.String(), strs > 1
}

// textNames calls yield with each word of a TXT rdata that reads as a
// domain name of at least two labels (SPF's a:, mx:, include:, exists:,
// "host=printer.corp"), lower case, without a trailing dot, until yield
// returns true, and reports whether it did. The strings are read joined.
func textNames(s string, yield func(string) bool) bool {
	if j, ok := joinedText(s); ok {
		s = j
	}
	isNameChar := func(c byte) bool {
		return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.'
	}
	for i := 0; i < len(s); {
		if !isNameChar(s[i]) {
			i++
			continue
		}
		j := i
		for j < len(s) && isNameChar(s[j]) {
			j++
		}
		w := strings.Trim(s[i:j], ".")
		i = j
		if !strings.Contains(w, ".") {
			continue
		}
		if yield(strings.ToLower(w)) {
			return true
		}
	}
	return false
}
