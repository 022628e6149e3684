package policy

// maxNameOctets is the most octets of a name in presentation form
// without the trailing dot (RFC 1035 §2.3.4), as cof applies it.
const maxNameOctets = 253

// escapedAt reports whether s[i] follows an odd number of backslashes.
func escapedAt(s string, i int) bool {
	n := 0
	for j := i - 1; j >= 0 && s[j] == '\\'; j-- {
		n++
	}
	return n%2 == 1
}
