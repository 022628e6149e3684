package cof

import (
	"strconv"
	"unicode/utf8"
)

// maxDepth bounds the nesting of unknown JSON values, so that a hostile
// line of brackets cannot drive the parser arbitrarily deep.
const maxDepth = 64

// scanner is a strict RFC 8259 reader over one line. It validates as it
// goes and never allocates; strings are returned as raw byte ranges of the
// input and decoded on demand.
type scanner struct {
	data []byte
	pos  int
}

func (s *scanner) syntax(reason string) *Error {
	return &Error{Reason: "invalid JSON at byte " + strconv.Itoa(s.pos+1) + ": " + reason, Err: ErrSyntax}
}

func (s *scanner) skipWS() {
	for s.pos < len(s.data) {
		switch s.data[s.pos] {
		case ' ', '\t', '\r', '\n':
			s.pos++
		default:
			return
		}
	}
}

// peek returns the next byte, or 0 at the end.
func (s *scanner) peek() byte {
	if s.pos < len(s.data) {
		return s.data[s.pos]
	}
	return 0
}

// str reads a JSON string whose opening quote is at s.pos. It returns the
// content between the quotes and whether it holds escapes to decode.
func (s *scanner) str() (raw []byte, escaped bool, err *Error) {
	if s.peek() != '"' {
		return nil, false, s.syntax("expected string")
	}
	s.pos++
	start := s.pos
	for s.pos < len(s.data) {
		c := s.data[s.pos]
		switch {
		case c == '"':
			raw = s.data[start:s.pos]
			s.pos++
			return raw, escaped, nil
		case c == '\\':
			escaped = true
			if err := s.escape(); err != nil {
				return nil, false, err
			}
		case c < 0x20:
			return nil, false, s.syntax("control character in string")
		case c < utf8.RuneSelf:
			s.pos++
		default:
			r, n := utf8.DecodeRune(s.data[s.pos:])
			if r == utf8.RuneError && n <= 1 {
				return nil, false, s.syntax("invalid UTF-8 in string")
			}
			s.pos += n
		}
	}
	return nil, false, s.syntax("unterminated string")
}

// escape validates one escape sequence starting at the backslash.
func (s *scanner) escape() *Error {
	if s.pos+1 >= len(s.data) {
		return s.syntax("unterminated escape")
	}
	switch s.data[s.pos+1] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		s.pos += 2
		return nil
	case 'u':
		if s.pos+6 > len(s.data) {
			return s.syntax("short \\u escape")
		}
		for _, h := range s.data[s.pos+2 : s.pos+6] {
			if hexVal(h) < 0 {
				return s.syntax("bad hex digit in \\u escape")
			}
		}
		s.pos += 6
		return nil
	}
	return s.syntax("unknown escape")
}

func hexVal(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'a' <= c && c <= 'f':
		return int(c-'a') + 10
	case 'A' <= c && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// unescape appends the decoded form of a validated raw string to dst. A lone
// UTF-16 surrogate cannot be represented in UTF-8 and is reported.
func unescape(dst, raw []byte) ([]byte, bool) {
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if c != '\\' {
			dst = append(dst, c)
			continue
		}
		i++
		switch raw[i] {
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r := hex4(raw[i+1:])
			i += 4
			if r >= 0xD800 && r < 0xDC00 {
				if i+6 < len(raw) && raw[i+1] == '\\' && raw[i+2] == 'u' {
					r2 := hex4(raw[i+3:])
					if r2 >= 0xDC00 && r2 < 0xE000 {
						r = (r-0xD800)<<10 + (r2 - 0xDC00) + 0x10000
						i += 6
						dst = utf8.AppendRune(dst, r)
						continue
					}
				}
				return dst, false
			}
			if r >= 0xDC00 && r < 0xE000 {
				return dst, false
			}
			dst = utf8.AppendRune(dst, r)
		default: // '"', '\\', '/'
			dst = append(dst, raw[i])
		}
	}
	return dst, true
}

func hex4(b []byte) rune {
	return rune(hexVal(b[0])<<12 | hexVal(b[1])<<8 | hexVal(b[2])<<4 | hexVal(b[3]))
}

// number reads a JSON number and returns its text.
func (s *scanner) number() ([]byte, *Error) {
	start := s.pos
	if s.peek() == '-' {
		s.pos++
	}
	switch c := s.peek(); {
	case c == '0':
		s.pos++
	case '1' <= c && c <= '9':
		s.digits()
	default:
		return nil, s.syntax("bad number")
	}
	if s.peek() == '.' {
		s.pos++
		if n := s.digits(); n == 0 {
			return nil, s.syntax("bad number: no digits after '.'")
		}
	}
	if c := s.peek(); c == 'e' || c == 'E' {
		s.pos++
		if c := s.peek(); c == '+' || c == '-' {
			s.pos++
		}
		if n := s.digits(); n == 0 {
			return nil, s.syntax("bad number: no digits in exponent")
		}
	}
	return s.data[start:s.pos], nil
}

func (s *scanner) digits() int {
	start := s.pos
	for s.pos < len(s.data) && '0' <= s.data[s.pos] && s.data[s.pos] <= '9' {
		s.pos++
	}
	return s.pos - start
}

// literal consumes true, false or null.
func (s *scanner) literal(word string) *Error {
	if len(s.data)-s.pos < len(word) || string(s.data[s.pos:s.pos+len(word)]) != word {
		return s.syntax("unexpected character")
	}
	s.pos += len(word)
	return nil
}

// skipValue validates and steps over any JSON value.
func (s *scanner) skipValue(depth int) *Error {
	if depth > maxDepth {
		return s.syntax("nesting deeper than " + strconv.Itoa(maxDepth))
	}
	switch c := s.peek(); c {
	case '"':
		_, _, err := s.str()
		return err
	case '{':
		s.pos++
		s.skipWS()
		if s.peek() == '}' {
			s.pos++
			return nil
		}
		for {
			s.skipWS()
			if _, _, err := s.str(); err != nil {
				return err
			}
			s.skipWS()
			if s.peek() != ':' {
				return s.syntax("expected ':'")
			}
			s.pos++
			s.skipWS()
			if err := s.skipValue(depth + 1); err != nil {
				return err
			}
			s.skipWS()
			switch s.peek() {
			case ',':
				s.pos++
			case '}':
				s.pos++
				return nil
			default:
				return s.syntax("expected ',' or '}'")
			}
		}
	case '[':
		s.pos++
		s.skipWS()
		if s.peek() == ']' {
			s.pos++
			return nil
		}
		for {
			s.skipWS()
			if err := s.skipValue(depth + 1); err != nil {
				return err
			}
			s.skipWS()
			switch s.peek() {
			case ',':
				s.pos++
			case ']':
				s.pos++
				return nil
			default:
				return s.syntax("expected ',' or ']'")
			}
		}
	case 't':
		return s.literal("true")
	case 'f':
		return s.literal("false")
	case 'n':
		return s.literal("null")
	case 0:
		if s.pos >= len(s.data) {
			return s.syntax("unexpected end of line")
		}
	}
	if c := s.peek(); c == '-' || ('0' <= c && c <= '9') {
		_, err := s.number()
		return err
	}
	return s.syntax("unexpected character")
}

// kind names the JSON type of the value starting at s.pos, for errors.
func (s *scanner) kind() string {
	switch c := s.peek(); {
	case c == '"':
		return "string"
	case c == '{':
		return "object"
	case c == '[':
		return "array"
	case c == 't' || c == 'f':
		return "boolean"
	case c == 'n':
		return "null"
	case c == '-' || ('0' <= c && c <= '9'):
		return "number"
	}
	return "invalid value"
}
