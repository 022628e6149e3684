package cof

import "strconv"

// The value of each known field, read, checked and normalised: the
// per-field half of Parser (parse.go holds the object, the record's
// strings and the checks that need the whole record).

// once marks a known key as seen and reports a repeat.
func (p *Parser) once(k key, field string) *Error {
	if p.seen&k != 0 {
		return fieldErr(ErrDuplicateKey, field, "key appears more than once")
	}
	p.seen |= k
	return nil
}

// optionalNull consumes a null given for an optional field, which is read
// as absent: many producers write null rather than omit the key.
func optionalNull(s *scanner) bool {
	if s.peek() == 'n' && s.literal("null") == nil {
		return true
	}
	return false
}

func typeErr(s *scanner, field, want string) *Error {
	return fieldErr(ErrType, field, "want "+want+", got "+s.kind())
}

// stringValue reads a string value and returns it decoded; the result is
// valid until the next call.
func (p *Parser) stringValue(s *scanner, field string) ([]byte, *Error) {
	raw, esc, err := s.str()
	if err != nil {
		return nil, err
	}
	if !esc {
		return raw, nil
	}
	var ok bool
	if p.tmp, ok = unescape(p.tmp[:0], raw); !ok {
		return nil, fieldErr(ErrBadField, field, "string holds a lone UTF-16 surrogate")
	}
	return p.tmp, nil
}

func (p *Parser) nameField(s *scanner, k key, field string, dst *span, optional bool) *Error {
	if err := p.once(k, field); err != nil {
		return err
	}
	if optional && optionalNull(s) {
		return nil
	}
	if s.peek() != '"' {
		return typeErr(s, field, "string")
	}
	v, err := p.stringValue(s, field)
	if err != nil {
		return err
	}
	start := len(p.buf)
	var reason string
	if p.buf, reason = appendName(p.buf, v); reason != "" {
		return fieldErr(ErrBadName, field, reason+": "+quote(v))
	}
	*dst = span{start, len(p.buf)}
	return nil
}

func (p *Parser) textField(s *scanner, k key, field string, dst *span) *Error {
	if err := p.once(k, field); err != nil {
		return err
	}
	if optionalNull(s) {
		return nil
	}
	if s.peek() != '"' {
		return typeErr(s, field, "string")
	}
	v, err := p.stringValue(s, field)
	if err != nil {
		return err
	}
	switch {
	case len(v) == 0:
		return fieldErr(ErrBadField, field, "empty string")
	case k == kSensorID && len(v) > MaxSensorIDBytes:
		return fieldErr(ErrBadField, field, "longer than "+strconv.Itoa(MaxSensorIDBytes)+" bytes")
	case k == kSensorID && hasControl(v):
		return fieldErr(ErrBadField, field, "control character in "+quote(v))
	}
	start := len(p.buf)
	p.buf = append(p.buf, v...)
	*dst = span{start, len(p.buf)}
	return nil
}

func hasControl(b []byte) bool {
	for _, c := range b {
		if c < 0x20 || c == 0x7f {
			return true
		}
	}
	return false
}

func (p *Parser) rrtype(s *scanner, r *Record) *Error {
	if err := p.once(kRRType, KeyRRType); err != nil {
		return err
	}
	switch c := s.peek(); {
	case c == '"':
		v, err := p.stringValue(s, KeyRRType)
		if err != nil {
			return err
		}
		t, ok := ParseType(string(v))
		if !ok {
			return fieldErr(ErrBadRRType, KeyRRType, "unknown type "+quote(v))
		}
		r.RRType = t
		return nil
	case c == '-' || isDigit(c):
		num, err := s.number()
		if err != nil {
			return err
		}
		d := parseDecimal(num)
		n, ok := d.integer(5)
		if d.negative() || d.fractionNonZero() || !ok || n == 0 || n > 65535 {
			return fieldErr(ErrBadRRType, KeyRRType, "type number "+string(num)+" is not in 1..65535")
		}
		r.RRType = Type(n)
		return nil
	}
	return typeErr(s, KeyRRType, "string or number")
}

func (p *Parser) rdataField(s *scanner) *Error {
	if err := p.once(kRData, KeyRData); err != nil {
		return err
	}
	switch s.peek() {
	case '"':
		return p.rdataValue(s, KeyRData)
	case '[':
	default:
		return typeErr(s, KeyRData, "string or array of strings")
	}
	s.pos++
	s.skipWS()
	if s.peek() == ']' {
		return fieldErr(ErrBadRData, KeyRData, "empty array")
	}
	for i := 0; ; i++ {
		s.skipWS()
		var field string
		if i < len(rdataFields) {
			field = rdataFields[i]
		} else {
			field = "rdata[" + strconv.Itoa(i) + "]"
		}
		if s.peek() != '"' {
			return typeErr(s, field, "string")
		}
		if err := p.rdataValue(s, field); err != nil {
			return err
		}
		s.skipWS()
		c := s.peek()
		s.pos++
		if c == ']' {
			return nil
		}
		if c != ',' {
			s.pos--
			return s.syntax("expected ',' or ']'")
		}
	}
}

// rdataFields avoids building the field name for the common small arrays.
var rdataFields = [...]string{"rdata[0]", "rdata[1]", "rdata[2]", "rdata[3]"}

func (p *Parser) rdataValue(s *scanner, field string) *Error {
	v, err := p.stringValue(s, field)
	if err != nil {
		return err
	}
	if len(v) == 0 {
		return fieldErr(ErrBadRData, field, "empty string")
	}
	start := len(p.buf)
	p.buf = append(p.buf, v...)
	p.rdata = append(p.rdata, span{start, len(p.buf)})
	return nil
}

// timeField reads a time. For time_first and time_last a fraction is kept
// as milliseconds; for the other time fields (dropFrac) it is truncated.
func (p *Parser) timeField(s *scanner, k key, field string, dst *timeVal, limit uint64, dropFrac bool) *Error {
	if err := p.once(k, field); err != nil {
		return err
	}
	num, d, err := numberValue(s, field)
	if err != nil {
		return err
	}
	if d.negative() {
		return fieldErr(ErrBadTime, field, "negative time "+string(num))
	}
	v, ok := d.integer(15)
	if !ok || v > limit {
		return fieldErr(ErrBadTime, field, string(num)+" is beyond 9999-12-31")
	}
	*dst = timeVal{v: int64(v)}
	if !dropFrac && d.hasFraction() {
		dst.hasFrac = true
		dst.ms = d.millis()
	}
	return nil
}

func isNumberStart(c byte) bool { return c == '-' || isDigit(c) }

// numberValue reads a value that must be a JSON number.
func numberValue(s *scanner, field string) ([]byte, decimal, *Error) {
	if !isNumberStart(s.peek()) {
		return nil, decimal{}, typeErr(s, field, "number")
	}
	num, err := s.number()
	if err != nil {
		return nil, decimal{}, err
	}
	return num, parseDecimal(num), nil
}

func (p *Parser) count(s *scanner, r *Record) *Error {
	if err := p.once(kCount, KeyCount); err != nil {
		return err
	}
	if optionalNull(s) {
		return nil
	}
	num, d, err := numberValue(s, KeyCount)
	if err != nil {
		return err
	}
	switch v, ok := d.integer(16); {
	case d.negative():
		return fieldErr(ErrBadCount, KeyCount, "negative count "+string(num))
	case d.fractionNonZero():
		return fieldErr(ErrBadCount, KeyCount, "count "+string(num)+" is not an integer")
	case !ok || v > MaxCount:
		return fieldErr(ErrBadCount, KeyCount, "count "+string(num)+" exceeds 2^53-1")
	default:
		r.Count = int64(v)
		r.Has |= HasCount
	}
	return nil
}

// unknown keeps an additional field byte-exact.
func (p *Parser) unknown(s *scanner, name, rawKey []byte) *Error {
	for _, e := range p.extra {
		if string(p.buf[e.name.start:e.name.end]) == string(name) {
			return fieldErr(ErrDuplicateKey, string(name), "key appears more than once")
		}
	}
	valStart := s.pos
	if err := s.skipValue(0); err != nil {
		return err
	}
	var e extraSpan
	e.name.start = len(p.buf)
	p.buf = append(p.buf, name...)
	e.name.end = len(p.buf)
	e.key.start = len(p.buf)
	p.buf = append(p.buf, rawKey...)
	e.key.end = len(p.buf)
	e.value.start = len(p.buf)
	p.buf = append(p.buf, s.data[valStart:s.pos]...)
	e.value.end = len(p.buf)
	p.extra = append(p.extra, e)
	return nil
}

// quote renders an offending value for an error message, shortened so a
// hostile line cannot make log lines huge.
func quote(v []byte) string {
	const max = 80
	if len(v) > max {
		return strconv.Quote(string(v[:max])) + "..."
	}
	return strconv.Quote(string(v))
}

// sub returns the part of str that sp covers.
func sub(str string, sp span) string { return str[sp.start:sp.end] }
