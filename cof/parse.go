package cof

import (
	"net/netip"
	"strconv"
)

// Range limits of numeric fields.
const (
	// MaxTime is the latest time accepted, 9999-12-31T23:59:59Z: beyond it
	// calendar formatting in clients breaks and milliseconds near overflow.
	MaxTime = 253402300799
	// MaxCount is the largest count accepted, 2^53-1, the largest integer
	// every JSON reader represents exactly.
	MaxCount = 1<<53 - 1
	// MaxSensorIDBytes bounds sensor_id, which ends up in subjects and keys.
	MaxSensorIDBytes = 256
)

// key indexes the known fields, for duplicate detection.
type key uint16

const (
	kRRName key = 1 << iota
	kRRType
	kRData
	kTimeFirst
	kTimeLast
	kTimeFirstMS
	kTimeLastMS
	kZoneTimeFirst
	kZoneTimeLast
	kCount
	kBailiwick
	kSensorID
	kOrigin
)

type span struct{ start, end int }

type extraSpan struct{ name, key, value span }

// Parser parses and normalises COF lines. It amortises allocations across
// calls: a parsed record costs about one allocation, for its strings. The
// zero value is ready to use with the default limits. A Parser is not safe
// for concurrent use.
type Parser struct {
	maxLine int

	buf   []byte // the strings of the record being built
	tmp   []byte // decoded escapes awaiting normalisation
	keyb  []byte // the decoded key being dispatched
	rdata []span
	extra []extraSpan
	slab  []string     // RData slices handed out in chunks
	fslab []Field      // Extra slices handed out in chunks
	aslab []netip.Addr // Addrs slices handed out in chunks

	seen                          key
	rrname, bailiwick, sensor, or span
	tf, tl, tfms, tlms, ztf, ztl  timeVal
}

// timeVal is a parsed time field: whole units and, for seconds that were
// written with a fraction, the milliseconds.
type timeVal struct {
	v       int64
	ms      int64
	hasFrac bool
}

// NewParser returns a Parser; it takes the WithMaxLineBytes option.
func NewParser(opts ...Option) (*Parser, error) {
	o, err := buildOptions(opts)
	if err != nil {
		return nil, err
	}
	return &Parser{maxLine: o.maxLineBytes}, nil
}

// Parse parses one COF line (without its line end) into r, validating and
// normalising it. On error r is left zero and the error is an *Error.
// The record does not refer to line, which the caller may reuse.
func (p *Parser) Parse(line []byte, r *Record) error {
	*r = Record{}
	maxLine := p.maxLine
	if maxLine == 0 {
		maxLine = DefaultMaxLineBytes
	}
	if len(line) > maxLine {
		return lineTooLong(len(line), maxLine)
	}
	if err := p.parseObject(line, r); err != nil {
		*r = Record{}
		return err
	}
	if err := p.finish(r); err != nil {
		*r = Record{}
		return err
	}
	return nil
}

func lineTooLong(n, limit int) *Error {
	return &Error{Reason: "line of " + strconv.Itoa(n) + " bytes exceeds the limit of " + strconv.Itoa(limit), Err: ErrLineTooLong}
}

// Parse parses one COF line with a fresh Parser and the default limits.
func Parse(line []byte) (Record, error) {
	var p Parser
	var r Record
	err := p.Parse(line, &r)
	return r, err
}

func (p *Parser) reset() {
	p.buf, p.rdata, p.extra = p.buf[:0], p.rdata[:0], p.extra[:0]
	p.seen = 0
	p.rrname, p.bailiwick, p.sensor, p.or = span{}, span{}, span{}, span{}
	p.tf, p.tl, p.tfms, p.tlms, p.ztf, p.ztl = timeVal{}, timeVal{}, timeVal{}, timeVal{}, timeVal{}, timeVal{}
}

// parseObject walks the members of the line's single JSON object.
func (p *Parser) parseObject(line []byte, r *Record) *Error {
	p.reset()
	s := scanner{data: line}
	s.skipWS()
	if s.peek() != '{' {
		if s.pos >= len(line) {
			return &Error{Reason: "empty line", Err: ErrSyntax}
		}
		kind := s.kind()
		if err := s.skipValue(0); err != nil {
			return err
		}
		return &Error{Reason: "line holds a JSON " + kind + ", not an object", Err: ErrSyntax}
	}
	s.pos++
	s.skipWS()
	if s.peek() == '}' {
		s.pos++
	} else {
		for {
			s.skipWS()
			if err := p.member(&s, r); err != nil {
				return err
			}
			s.skipWS()
			c := s.peek()
			s.pos++
			if c == '}' {
				break
			}
			if c != ',' {
				s.pos--
				return s.syntax("expected ',' or '}'")
			}
		}
	}
	s.skipWS()
	if s.pos != len(line) {
		return s.syntax("data after the JSON object")
	}
	return nil
}

// member reads one "key": value pair and stores the value.
func (p *Parser) member(s *scanner, r *Record) *Error {
	keyStart := s.pos
	raw, esc, err := s.str()
	if err != nil {
		return err
	}
	keyEnd := s.pos
	name := raw
	if esc {
		var ok bool
		if p.keyb, ok = unescape(p.keyb[:0], raw); !ok {
			return &Error{Reason: "key holds a lone UTF-16 surrogate", Err: ErrSyntax}
		}
		name = p.keyb
	}
	s.skipWS()
	if s.peek() != ':' {
		return s.syntax("expected ':' after key")
	}
	s.pos++
	s.skipWS()
	switch string(name) {
	case KeyRRName:
		return p.nameField(s, kRRName, KeyRRName, &p.rrname, false)
	case KeyBailiwick:
		return p.nameField(s, kBailiwick, KeyBailiwick, &p.bailiwick, true)
	case KeyRRType:
		return p.rrtype(s, r)
	case KeyRData:
		return p.rdataField(s)
	case KeyTimeFirst:
		return p.timeField(s, kTimeFirst, KeyTimeFirst, &p.tf, MaxTime, false)
	case KeyTimeLast:
		return p.timeField(s, kTimeLast, KeyTimeLast, &p.tl, MaxTime, false)
	case KeyTimeFirstMS:
		return p.timeField(s, kTimeFirstMS, KeyTimeFirstMS, &p.tfms, MaxTime*1000+999, true)
	case KeyTimeLastMS:
		return p.timeField(s, kTimeLastMS, KeyTimeLastMS, &p.tlms, MaxTime*1000+999, true)
	case KeyZoneTimeFirst:
		return p.timeField(s, kZoneTimeFirst, KeyZoneTimeFirst, &p.ztf, MaxTime, true)
	case KeyZoneTimeLast:
		return p.timeField(s, kZoneTimeLast, KeyZoneTimeLast, &p.ztl, MaxTime, true)
	case KeyCount:
		return p.count(s, r)
	case KeySensorID:
		return p.textField(s, kSensorID, KeySensorID, &p.sensor)
	case KeyOrigin:
		return p.textField(s, kOrigin, KeyOrigin, &p.or)
	}
	return p.unknown(s, name, s.data[keyStart:keyEnd])
}

// finish checks what needs the whole object, then builds the record's
// strings with one allocation.
func (p *Parser) finish(r *Record) *Error {
	switch {
	case p.seen&kRRName == 0:
		return fieldErr(ErrMissingField, KeyRRName, "missing")
	case p.seen&kRRType == 0:
		return fieldErr(ErrMissingField, KeyRRType, "missing")
	case p.seen&kRData == 0:
		return fieldErr(ErrMissingField, KeyRData, "missing")
	}
	if err := p.times(r); err != nil {
		return err
	}
	str := string(p.buf)
	r.RRName = sub(str, p.rrname)
	r.Bailiwick = sub(str, p.bailiwick)
	r.SensorID = sub(str, p.sensor)
	r.Origin = sub(str, p.or)
	r.RData = p.takeStrings(len(p.rdata))
	for i, sp := range p.rdata {
		r.RData[i] = sub(str, sp)
	}
	if err := p.checkAddrs(r); err != nil {
		return err
	}
	if len(p.extra) > 0 {
		r.Extra = p.takeFields(len(p.extra))
		for i, e := range p.extra {
			r.Extra[i] = Field{Name: sub(str, e.name), Key: sub(str, e.key), Value: sub(str, e.value)}
		}
	}
	return nil
}

// takeStrings hands out n strings from a shared chunk, capped so that an
// append by the caller copies instead of overwriting a neighbour.
func (p *Parser) takeStrings(n int) []string {
	if cap(p.slab)-len(p.slab) < n {
		p.slab = make([]string, 0, max(512, n))
	}
	l := len(p.slab)
	p.slab = p.slab[:l+n]
	return p.slab[l : l+n : l+n]
}

func (p *Parser) takeFields(n int) []Field {
	if cap(p.fslab)-len(p.fslab) < n {
		p.fslab = make([]Field, 0, max(64, n))
	}
	l := len(p.fslab)
	p.fslab = p.fslab[:l+n]
	return p.fslab[l : l+n : l+n]
}

func (p *Parser) takeAddrs(n int) []netip.Addr {
	if cap(p.aslab)-len(p.aslab) < n {
		p.aslab = make([]netip.Addr, 0, max(256, n))
	}
	l := len(p.aslab)
	p.aslab = p.aslab[:l+n]
	return p.aslab[l : l+n : l+n]
}

// checkAddrs validates A and AAAA data, keeps the addresses in r.Addrs
// and writes AAAA in the RFC 5952 form, so that equal addresses compare
// equal downstream.
func (p *Parser) checkAddrs(r *Record) *Error {
	r.Addrs = nil
	if r.RRType != TypeA && r.RRType != TypeAAAA {
		return nil
	}
	addrs := p.takeAddrs(len(r.RData))
	for i, v := range r.RData {
		a, err := netip.ParseAddr(v)
		if r.RRType == TypeA {
			if err != nil || !a.Is4() {
				return fieldErr(ErrBadRData, rdataKey(r, i), quote([]byte(v))+" is not an IPv4 address")
			}
			addrs[i] = a
			continue // ParseAddr accepts only the canonical dotted quad
		}
		if err != nil || !a.Is6() || a.Zone() != "" {
			return fieldErr(ErrBadRData, rdataKey(r, i), quote([]byte(v))+" is not an IPv6 address")
		}
		addrs[i] = a
		var b [64]byte
		if c := a.AppendTo(b[:0]); string(c) != v {
			r.RData[i] = string(c)
		}
	}
	r.Addrs = addrs
	return nil
}

func rdataKey(r *Record, i int) string {
	if len(r.RData) == 1 {
		return KeyRData
	}
	return "rdata[" + strconv.Itoa(i) + "]"
}
