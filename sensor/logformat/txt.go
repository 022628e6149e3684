package logformat

// maxCharString is the longest character string (RFC 1035 §3.3).
const maxCharString = 255

// appendTXT reads TXT (or SPF) rdata in presentation form, one or more
// character strings, quoted or not, with \X and \DDD escapes (what ldns
// and so passivedns print), and writes the canonical form: each string
// quoted, separated by one space, escaped by appendCharString.
func appendTXT(dst, text []byte) ([]byte, error) {
	start := len(dst)
	var raw [maxCharString + 4]byte
	for n := 0; ; n++ {
		text = trimSpace(text)
		if len(text) == 0 {
			if n == 0 {
				return dst, rdataErr(ErrBadRData, "empty")
			}
			return dst, nil
		}
		s, rest, reason := readCharString(raw[:0], text)
		if reason != "" {
			return dst[:start], rdataErr(ErrBadRData, reason+": "+quote(text))
		}
		if n > 0 {
			dst = append(dst, ' ')
		}
		dst = appendCharString(dst, s)
		text = rest
	}
}

// readCharString reads one character string from the start of text into
// dst and returns it with what follows it.
func readCharString(dst, text []byte) (s, rest []byte, reason string) {
	quoted := text[0] == '"'
	i := 0
	if quoted {
		i = 1
	}
	for ; i < len(text); i++ {
		c := text[i]
		switch {
		case quoted && c == '"':
			return dst, text[i+1:], ""
		case !quoted && isSpace(c):
			return dst, text[i:], ""
		case c == '\\':
			if i+1 >= len(text) {
				return nil, nil, "dangling backslash"
			}
			if isDigit(text[i+1]) {
				if i+3 >= len(text) || !isDigit(text[i+2]) || !isDigit(text[i+3]) {
					return nil, nil, "bad \\DDD escape"
				}
				v := int(text[i+1]-'0')*100 + int(text[i+2]-'0')*10 + int(text[i+3]-'0')
				if v > 255 {
					return nil, nil, "\\DDD escape above 255"
				}
				c = byte(v)
				i += 3
			} else {
				c = text[i+1]
				i++
			}
		}
		if len(dst) == maxCharString {
			return nil, nil, "character string longer than 255 bytes"
		}
		dst = append(dst, c)
	}
	if quoted {
		return nil, nil, "unterminated quoted string"
	}
	return dst, nil, ""
}

// appendTXTRaw writes raw bytes (a TXT string as Suricata and gopassivedns
// log it) as quoted character strings, cut every 255 bytes.
func appendTXTRaw(dst, raw []byte) []byte {
	for n := 0; n == 0 || len(raw) > 0; n++ {
		if n > 0 {
			dst = append(dst, ' ')
		}
		k := min(len(raw), maxCharString)
		dst = appendCharString(dst, raw[:k])
		raw = raw[k:]
	}
	return dst
}

// appendCharString writes one character string quoted, with '"' and '\'
// escaped by a backslash and every byte outside printable ASCII as \DDD,
// so the result is ASCII and reads back to the same bytes.
func appendCharString(dst, s []byte) []byte {
	dst = append(dst, '"')
	for _, c := range s {
		switch {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
		case c < 0x20 || c >= 0x7f:
			dst = append(dst, '\\', '0'+c/100, '0'+c/10%10, '0'+c%10)
		default:
			dst = append(dst, c)
		}
	}
	return append(dst, '"')
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// isWireStrings reports whether raw is a sequence of length-prefixed
// character strings (wire form) that uses every byte.
func isWireStrings(raw []byte) bool {
	if len(raw) == 0 {
		return false
	}
	for i := 0; i < len(raw); {
		i += 1 + int(raw[i])
		if i > len(raw) {
			return false
		}
	}
	return true
}

// appendTXTWire writes character strings in wire form (length octets
// included) as presentation.
func appendTXTWire(dst, raw []byte) []byte {
	for n := 0; len(raw) > 0; n++ {
		l := int(raw[0])
		if n > 0 {
			dst = append(dst, ' ')
		}
		dst = appendCharString(dst, raw[1:1+l])
		raw = raw[1+l:]
	}
	return dst
}
