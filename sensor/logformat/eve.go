package logformat

import (
	"bytes"

	"github.com/cofswitch/cofswitch/cof"
)

// eve parses Suricata EVE JSON lines and maps the answers of its dns
// events. It reads the three versions of the dns event:
//
//   - version 1 (Suricata 3 and 4, or "version: 1"): one event per answer,
//     with "type":"answer" and the answer's rrname, rrtype and rdata in
//     the dns object itself;
//   - version 2 (Suricata 5 to 7): one event per response, "type":"answer",
//     the question in rrname and rrtype, and the answers in "answers"
//     (detailed: rrname, rrtype, ttl, rdata, or soa, srv, sshfp objects)
//     and/or "grouped" (rrtype -> list of rdata);
//   - version 3 (Suricata 8): "type":"response", the questions in
//     "queries", answers as in version 2.
//
// Query events ("query", "request"), events of other types and lines that
// do not mention "dns" at all are skipped; the last unread, for speed,
// since an EVE file holds every event type.
//
// Suricata writes the timestamp and event_type before the dns object, and
// type and rcode before the answers, so the answers are mapped as they are
// read; in any other order the parser comes back to them.
type eve struct {
	base
	s, d             jscan // the line, and a part of it read again
	errors           bool
	a                eveAnswer // the answer being read
	query            []byte    // the question's name, owner of grouped answers
	key              []byte    // the grouped list being read
	evType           []byte
	stamp            []byte
	typ              []byte
	rcode            []byte
	seen             uint8 // eveStamp | eveType | ...
	when             int64
	dns              jspan // the dns object, when it was not read in place
	answers, grouped jspan
	first            *Error // the first error of an answer
	// the last owner normalised in this line, and its raw form
	lastRaw   []byte
	lastOwner span
	lastOK    bool
}

// What an eve line has shown so far.
const (
	eveStamp   uint8 = 1 << iota // timestamp read
	eveDNS                       // dns object found
	eveTyp                       // dns.type read
	eveRcode                     // dns.rcode read
	eveChecked                   // type, rcode and time checked: answers can be mapped
	eveMapped                    // the answers were mapped in place
)

// jspan is where a JSON value lies in the line.
type jspan struct {
	start, end int
	ok         bool
}

var dnsKey = []byte(`"dns"`)

func newEVE(o options) (Parser, error) {
	return &eve{base: base{name: "eve", display: "suricata eve"}, errors: o.errors}, nil
}

func (p *eve) Parse(line []byte, emit func(*cof.Record)) error {
	if err := p.start(line); err != nil {
		return err
	}
	if !bytes.Contains(line, dnsKey) {
		p.skip(SkipNotAnswer)
		return nil
	}
	p.reset()
	skip, err := p.read(line)
	switch {
	case err != nil:
		return p.fail(err)
	case skip:
		return nil
	}
	switch {
	case p.seen&eveMapped != 0:
	case p.answers.ok:
		p.detailed(&p.d, line[p.answers.start:p.answers.end], p.answers.start)
	case p.grouped.ok:
		p.groupedAnswers(line[p.grouped.start:p.grouped.end])
	case p.a.has&(ansRData|ansObject) != 0: // version 1: the answer is the dns object
		p.note(p.answer("dns", -1))
	default:
		p.skip(SkipEmpty)
	}
	if p.d.bad {
		return p.fail(p.errorf(ErrSyntax, "dns", p.d.reason))
	}
	return p.flush(emit, p.first)
}

func (p *eve) reset() {
	p.evType, p.stamp, p.typ, p.rcode, p.query = p.evType[:0], p.stamp[:0], p.typ[:0], p.rcode[:0], p.query[:0]
	p.seen, p.first, p.lastOK = 0, nil, false
	p.dns, p.answers, p.grouped = jspan{}, jspan{}, jspan{}
	p.a.reset()
}

// note keeps the first error of an answer.
func (p *eve) note(err *Error) {
	if err != nil && p.first == nil {
		p.first = err
	}
}

// read reads the event and decides whether it is skipped.
func (p *eve) read(line []byte) (skip bool, err *Error) {
	if err := p.scanTop(line); err != nil {
		return false, err
	}
	if string(p.evType) != "dns" {
		p.skip(SkipNotAnswer)
		return true, nil
	}
	if p.seen&eveDNS == 0 {
		return false, p.errorf(ErrMissingField, "dns", "missing")
	}
	if p.dns.ok { // the dns object came before event_type or timestamp
		s := &p.d
		s.reset(line[p.dns.start:p.dns.end])
		p.scanDNS(s, p.dns.start)
		if s.end(); s.bad {
			return false, p.errorf(ErrSyntax, "dns", s.reason)
		}
	}
	if p.seen&eveStamp == 0 {
		return false, p.errorf(ErrMissingField, "timestamp", "missing")
	}
	if p.seen&eveChecked == 0 {
		return p.check()
	}
	return false, nil
}

// check decides, once type and rcode are known, whether the event's
// answers are wanted, and reads its time.
func (p *eve) check() (skip bool, err *Error) {
	switch string(p.typ) {
	case "answer", "response":
	default: // query, request, and version 1's authority events
		p.skip(SkipNotAnswer)
		return true, nil
	}
	if p.seen&eveRcode != 0 && string(p.rcode) != "NOERROR" && !p.errors {
		p.skip(SkipRcode) // an answer event without rcode is taken for NOERROR
		return true, nil
	}
	var reason string
	if p.when, reason = parseTimestamp(p.stamp, nil); reason != "" {
		return false, p.errorf(ErrBadTime, "timestamp", reason)
	}
	p.seen |= eveChecked
	return false, nil
}

// scanTop reads the event's top level: its type, its time and its dns
// object, read in place when the type and time came first.
func (p *eve) scanTop(line []byte) *Error {
	s := &p.s
	s.reset(line)
	if s.begin('{') {
		for s.more('}') {
			switch string(s.key()) {
			case "event_type":
				p.once(s, eveTyp<<4) // a bit of its own, above the dns bits
				p.evType = append(p.evType[:0], s.str()...)
			case "timestamp":
				p.once(s, eveStamp)
				p.stamp = append(p.stamp[:0], s.str()...)
			case "dns":
				p.once(s, eveDNS)
				if p.seen&(eveTyp<<4) != 0 && p.seen&eveStamp != 0 && string(p.evType) == "dns" {
					p.scanDNS(s, 0)
				} else {
					p.dns.start, p.dns.end = s.span()
					p.dns.ok = true
				}
			default:
				s.skip()
			}
		}
	}
	s.end()
	if s.bad {
		return p.errorf(ErrSyntax, "", s.reason)
	}
	return nil
}

// once fails the scan when a key comes twice.
func (p *eve) once(s *jscan, bit uint8) {
	if p.seen&bit != 0 {
		s.fail("duplicate key")
	}
	p.seen |= bit
}

// scanDNS reads the dns object on s, whose data starts at base in the
// line. The answers are mapped in place when the event is known to be
// wanted by then; else where they lie is noted.
func (p *eve) scanDNS(s *jscan, base int) {
	if !s.begin('{') {
		return
	}
	for s.more('}') {
		k := s.key()
		switch string(k) {
		case "type":
			p.once(s, eveTyp)
			p.typ = append(p.typ[:0], s.str()...)
		case "rcode":
			p.once(s, eveRcode)
			p.rcode = append(p.rcode[:0], s.str()...)
		case "answers":
			if p.answers.ok || p.seen&eveMapped != 0 {
				s.fail("duplicate key")
			}
			if p.ready() {
				p.detailed(s, nil, 0)
				p.seen |= eveMapped
			} else {
				p.answers = p.sub(s, base)
			}
		case "grouped":
			if p.grouped.ok {
				s.fail("duplicate key")
			}
			p.grouped = p.sub(s, base)
		case "queries":
			p.firstQuery(s)
		default:
			p.a.member(s, k)
		}
	}
	if len(p.query) == 0 && p.a.has&ansRRName != 0 {
		p.query = append(p.query, p.a.rrname...) // versions 1 and 2: the question is in the object
	}
}

// ready reports whether the answers can be mapped as they are read: the
// event is a DNS response whose type, rcode and time are known and fine.
// A skip or an error found here is found again by check after the scan.
func (p *eve) ready() bool {
	if p.seen&eveChecked != 0 {
		return true
	}
	if p.seen&(eveTyp|eveRcode|eveStamp) != eveTyp|eveRcode|eveStamp || string(p.evType) != "dns" {
		return false
	}
	if string(p.typ) != "answer" && string(p.typ) != "response" || string(p.rcode) != "NOERROR" && !p.errors {
		return false
	}
	var reason string
	if p.when, reason = parseTimestamp(p.stamp, nil); reason != "" {
		return false
	}
	p.seen |= eveChecked
	return true
}

// sub records where a member's value lies, relative to the line.
func (p *eve) sub(s *jscan, base int) jspan {
	start, end := s.span()
	return jspan{base + start, base + end, true}
}

// firstQuery reads version 3's queries array and keeps the first name.
func (p *eve) firstQuery(s *jscan) {
	if !s.begin('[') {
		return
	}
	for i := 0; s.more(']'); i++ {
		if i > 0 || !s.begin('{') {
			s.skip()
			continue
		}
		for s.more('}') {
			if string(s.key()) == "rrname" {
				p.query = append(p.query[:0], s.str()...)
			} else {
				s.skip()
			}
		}
	}
}
