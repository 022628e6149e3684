package logformat

import (
	"bytes"
	"strconv"
	"unicode/utf8"
)

// maxDepth bounds the nesting of JSON values, so that a hostile line
// cannot make skipping a value expensive or deep.
const maxDepth = 64

// jscan is a pull scanner over one JSON line, for the JSON formats. It
// allocates nothing once warm: strings come back as slices of the line,
// or of a scratch buffer when they hold escapes. The first syntax error
// sticks: every later call fails, so that a parser can check once.
//
//	s.reset(line)
//	if s.begin('{') {
//		for s.more('}') {
//			switch string(s.key()) { case "x": v := s.str() ...; default: s.skip() }
//		}
//	}
//	if s.bad { ... s.reason ... }
type jscan struct {
	data   []byte
	pos    int
	depth  int
	first  bool   // the container just opened has had no element yet
	tmp    []byte // unescaped string, valid until the next str or key
	esc    bool   // the last string read is in tmp
	bad    bool
	reason string
}

func (s *jscan) reset(data []byte) {
	s.data, s.pos, s.depth, s.first, s.bad, s.reason = data, 0, 0, false, false, ""
}

// fail records the first syntax error.
func (s *jscan) fail(reason string) {
	if !s.bad {
		s.bad = true
		s.reason = reason + " at byte " + strconv.Itoa(s.pos)
	}
}

func (s *jscan) ws() {
	if s.pos < len(s.data) && s.data[s.pos] > ' ' {
		return // compact JSON: the common case
	}
	for s.pos < len(s.data) {
		switch s.data[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

// peek returns the next byte after white space, 0 at the end or after an
// error.
func (s *jscan) peek() byte {
	s.ws()
	if s.bad || s.pos >= len(s.data) {
		return 0
	}
	return s.data[s.pos]
}

// begin opens an object ('{') or an array ('[').
func (s *jscan) begin(open byte) bool {
	if s.peek() != open {
		if open == '{' {
			s.fail("expected an object")
		} else {
			s.fail("expected an array")
		}
		return false
	}
	if s.depth++; s.depth > maxDepth {
		s.fail("nesting deeper than 64")
		return false
	}
	s.pos++
	s.first = true
	return true
}

// more reports whether the open container has another element, and
// consumes the separator before it or the closing byte after the last.
func (s *jscan) more(close byte) bool {
	c := s.peek()
	switch {
	case s.bad:
		return false
	case c == 0:
		s.fail("unexpected end of line")
		return false
	case c == close:
		s.pos++
		s.depth--
		s.first = false
		return false
	case s.first:
		s.first = false
		return true
	case c == ',':
		s.pos++
		if n := s.peek(); n == close || n == ',' {
			s.fail("expected a value")
			return false
		}
		return true
	}
	s.fail("expected ',' or '" + string(close) + "'")
	return false
}

// key reads an object member's key and the colon after it.
func (s *jscan) key() []byte {
	k := s.str()
	if s.pos < len(s.data) && s.data[s.pos] == ':' {
		s.pos++ // compact JSON: the colon right after the key
		return k
	}
	if s.peek() != ':' {
		s.fail("expected ':'")
		return nil
	}
	s.pos++
	return k
}

// str reads a string; the result is valid until the next str or key.
func (s *jscan) str() []byte {
	if s.peek() != '"' {
		s.fail("expected a string")
		return nil
	}
	s.pos++
	start := s.pos
	for i, c := range s.data[start:] { // a local slice: one load per byte
		if !special[c] {
			continue
		}
		i += start
		switch c {
		case '"':
			s.pos = i + 1
			s.esc = false
			return s.data[start:i]
		case '\\':
			s.pos = i
			return s.escaped(start)
		}
		s.pos = i
		s.fail("control character in string")
		return nil
	}
	s.pos = len(s.data)
	s.fail("unterminated string")
	return nil
}

// special marks the bytes that end the plain run of a string: the quote,
// the backslash and the control characters.
var special = func() (t [256]bool) {
	for c := 0; c < 0x20; c++ {
		t[c] = true
	}
	t['"'], t['\\'] = true, true
	return t
}()

// skipStr passes over a string without decoding or checking it, for
// values the parser does not read.
func (s *jscan) skipStr() {
	s.pos++ // the opening quote
	for {
		end := bytes.IndexByte(s.data[s.pos:], '"')
		if end < 0 {
			s.fail("unterminated string")
			return
		}
		q := s.pos + end
		n := 0
		for j := q - 1; j >= s.pos && s.data[j] == '\\'; j-- {
			n++
		}
		s.pos = q + 1
		if n%2 == 0 {
			return
		}
	}
}

// stable reads a string that stays valid while the line does: a slice of
// the line, or, when it held escapes, a copy in buf.
func (s *jscan) stable(buf *[]byte) []byte {
	v := s.str()
	if s.esc {
		*buf = append((*buf)[:0], v...)
		return *buf
	}
	return v
}

// escaped finishes a string that holds escapes, decoding it into tmp.
func (s *jscan) escaped(start int) []byte {
	s.esc = true
	s.tmp = append(s.tmp[:0], s.data[start:s.pos]...)
	for s.pos < len(s.data) {
		c := s.data[s.pos]
		switch {
		case c == '"':
			s.pos++
			return s.tmp
		case c < 0x20:
			s.fail("control character in string")
			return nil
		case c != '\\':
			s.tmp = append(s.tmp, c)
			s.pos++
			continue
		}
		if s.pos+1 >= len(s.data) {
			break
		}
		e := s.data[s.pos+1]
		s.pos += 2
		switch e {
		case '"', '\\', '/':
			s.tmp = append(s.tmp, e)
		case 'b':
			s.tmp = append(s.tmp, '\b')
		case 'f':
			s.tmp = append(s.tmp, '\f')
		case 'n':
			s.tmp = append(s.tmp, '\n')
		case 'r':
			s.tmp = append(s.tmp, '\r')
		case 't':
			s.tmp = append(s.tmp, '\t')
		case 'u':
			if !s.unicode() {
				return nil
			}
		default:
			s.pos -= 2
			s.fail("bad escape")
			return nil
		}
	}
	s.fail("unterminated string")
	return nil
}

// unicode decodes \uXXXX (the "\u" consumed), with surrogate pairs; a
// lone surrogate becomes U+FFFD.
func (s *jscan) unicode() bool {
	r, ok := s.hex4()
	if !ok {
		return false
	}
	if 0xd800 <= r && r < 0xdc00 && s.pos+1 < len(s.data) && s.data[s.pos] == '\\' && s.data[s.pos+1] == 'u' {
		save := s.pos
		s.pos += 2
		lo, ok := s.hex4()
		if !ok {
			return false
		}
		if 0xdc00 <= lo && lo < 0xe000 {
			r = 0x10000 + (r-0xd800)<<10 + (lo - 0xdc00)
		} else {
			s.pos = save
		}
	}
	s.tmp = utf8.AppendRune(s.tmp, r) // surrogates become U+FFFD
	return true
}

func (s *jscan) hex4() (rune, bool) {
	if s.pos+4 > len(s.data) {
		s.fail("short \\u escape")
		return 0, false
	}
	var r rune
	for _, c := range s.data[s.pos : s.pos+4] {
		var v byte
		switch {
		case '0' <= c && c <= '9':
			v = c - '0'
		case 'a' <= c && c <= 'f':
			v = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			v = c - 'A' + 10
		default:
			s.fail("bad \\u escape")
			return 0, false
		}
		r = r<<4 | rune(v)
	}
	s.pos += 4
	return r, true
}

// num reads a number and returns its text, checked against the JSON
// grammar.
func (s *jscan) num() []byte {
	s.ws()
	start := s.pos
	if s.pos < len(s.data) && s.data[s.pos] == '-' {
		s.pos++
	}
	switch {
	case s.pos < len(s.data) && s.data[s.pos] == '0':
		s.pos++
	case s.digits() == 0:
		s.fail("expected a number")
		return nil
	}
	if s.pos < len(s.data) && s.data[s.pos] == '.' {
		s.pos++
		if s.digits() == 0 {
			s.fail("expected digits after '.'")
			return nil
		}
	}
	if s.pos < len(s.data) && (s.data[s.pos] == 'e' || s.data[s.pos] == 'E') {
		s.pos++
		if s.pos < len(s.data) && (s.data[s.pos] == '+' || s.data[s.pos] == '-') {
			s.pos++
		}
		if s.digits() == 0 {
			s.fail("expected digits in exponent")
			return nil
		}
	}
	return s.data[start:s.pos]
}

func (s *jscan) digits() int {
	n := 0
	for s.pos < len(s.data) && '0' <= s.data[s.pos] && s.data[s.pos] <= '9' {
		s.pos++
		n++
	}
	return n
}

// literal consumes true, false or null if it comes next.
func (s *jscan) literal(word string) bool {
	s.ws()
	if s.pos+len(word) <= len(s.data) && string(s.data[s.pos:s.pos+len(word)]) == word {
		s.pos += len(word)
		return true
	}
	return false
}

// boolean reads true or false.
func (s *jscan) boolean() bool {
	switch {
	case s.literal("true"):
		return true
	case s.literal("false"):
		return false
	}
	s.fail("expected true or false")
	return false
}

// skip consumes one value of any type.
func (s *jscan) skip() {
	switch s.peek() {
	case '{':
		if s.begin('{') {
			for s.more('}') {
				if s.peek() != '"' {
					s.fail("expected a string")
					return
				}
				s.skipStr()
				if s.peek() != ':' {
					s.fail("expected ':'")
					return
				}
				s.pos++
				s.skip()
			}
		}
	case '[':
		if s.begin('[') {
			for s.more(']') {
				s.skip()
			}
		}
	case '"':
		s.skipStr()
	case 't':
		if !s.literal("true") {
			s.fail("bad literal")
		}
	case 'f':
		if !s.literal("false") {
			s.fail("bad literal")
		}
	case 'n':
		if !s.literal("null") {
			s.fail("bad literal")
		}
	default:
		s.num()
	}
}

// span skips one value and returns where it lies in the line, so that
// a parser can come back to it once it knows how to read it.
func (s *jscan) span() (start, end int) {
	s.ws()
	start = s.pos
	s.skip()
	return start, s.pos
}

// end checks that nothing but white space follows the top-level value.
func (s *jscan) end() {
	if s.ws(); !s.bad && s.pos != len(s.data) {
		s.fail("data after the JSON object")
	}
}
