package logformat

import (
	"time"

	"github.com/cofswitch/cofswitch/cof"
)

// passiveDNSJSON parses the JSON lines passivedns writes with -j (and its
// NXDOMAIN log with -J): the same fields as the text log, named
// timestamp, timestamp_s, timestamp_ms (microseconds, despite the name),
// hostname, client, server, proto, class, query, query_len, type,
// answer, answer_len, ttl and count.
type passiveDNSJSON struct {
	base
	s   jscan
	loc *time.Location
	// copies of the fields, since the scanner reuses its buffer
	class, query, rrtype, answer, count, stamp, stampS []byte
}

func newPassiveDNSJSON(o options) (Parser, error) {
	return &passiveDNSJSON{base: base{name: "passivedns-json", display: "passivedns json"}, loc: location(o)}, nil
}

// Keys the passivedns JSON parser reads, as bits for duplicate detection.
const (
	pjClass = 1 << iota
	pjQuery
	pjType
	pjAnswer
	pjCount
	pjStamp
	pjStampS
)

func (p *passiveDNSJSON) Parse(line []byte, emit func(*cof.Record)) error {
	if err := p.start(line); err != nil {
		return err
	}
	if len(trimSpace(line)) == 0 {
		p.skip(SkipNotAnswer)
		return nil
	}
	seen, err := p.scan(line)
	if err != nil {
		return p.fail(err)
	}
	for _, k := range [...]struct {
		bit  int
		name string
	}{{pjQuery, "query"}, {pjType, "type"}, {pjAnswer, "answer"}} {
		if seen&k.bit == 0 {
			return p.fail(p.errorf(ErrMissingField, k.name, "missing"))
		}
	}
	v := pdnsValues{query: p.query, rrtype: p.rrtype, answer: p.answer, count: p.count, hasCount: seen&pjCount != 0}
	if seen&pjClass != 0 {
		v.class = p.class
	}
	var reason, field string
	switch {
	case seen&pjStampS != 0:
		field = "timestamp_s"
		v.when, reason = epochSeconds(p.stampS)
	case seen&pjStamp != 0:
		field = "timestamp"
		v.when, reason = parseTimestamp(p.stamp, p.loc)
	default:
		return p.fail(p.errorf(ErrMissingField, "timestamp_s", "missing, and no timestamp either"))
	}
	if reason != "" {
		return p.fail(p.errorf(ErrBadTime, field, reason))
	}
	return p.flush(emit, p.pdnsRecord(&v))
}

// scan reads the object and copies the fields it needs.
func (p *passiveDNSJSON) scan(line []byte) (int, *Error) {
	s := &p.s
	s.reset(line)
	seen := 0
	take := func(bit int, dst *[]byte, v []byte) {
		if seen&bit != 0 {
			s.fail("duplicate key")
		}
		seen |= bit
		*dst = append((*dst)[:0], v...)
	}
	if s.begin('{') {
		for s.more('}') {
			switch string(s.key()) {
			case "class":
				take(pjClass, &p.class, s.str())
			case "query":
				take(pjQuery, &p.query, s.str())
			case "type":
				take(pjType, &p.rrtype, s.str())
			case "answer":
				take(pjAnswer, &p.answer, s.str())
			case "count":
				take(pjCount, &p.count, s.num())
			case "timestamp":
				take(pjStamp, &p.stamp, s.str())
			case "timestamp_s":
				take(pjStampS, &p.stampS, s.num())
			default:
				s.skip()
			}
		}
	}
	s.end()
	if s.bad {
		return 0, p.errorf(ErrSyntax, "", s.reason)
	}
	return seen, nil
}
