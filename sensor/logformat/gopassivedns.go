package logformat

import (
	"github.com/cofswitch/cofswitch/cof"
)

// goPassiveDNS parses the JSON lines of Phillipmartin/gopassivedns: one
// line per answer, with the question (q, qtype), the answer (a, atype,
// ttl), the rcode as a number, the time as Go's Time.String in UTC
// (tstamp), and the query id, addresses and ports of the exchange.
//
// It writes the rdata of A, AAAA, CNAME, MX, NS, PTR, SOA and SRV in
// presentation form, that of TXT in wire form (length octets included),
// that of other types as raw wire bytes, which are skipped (unmapped).
//
// The lines give the question's name, not each answer's owner: after a
// CNAME the owner of the next answers is the CNAME's target. The parser
// follows the chain across the lines of one response, recognised by
// query id, question, addresses and client port, in a small ring of
// recent responses; the addresses are used for that and never emitted.
type goPassiveDNS struct {
	base
	s     jscan
	chain chainRing
	// copies of the fields, since the scanner reuses its buffer
	q, qtype, a, atype, rcode, stamp, id, src, dst, sport []byte
}

func newGoPassiveDNS(o options) (Parser, error) {
	return &goPassiveDNS{base: base{name: "gopassivedns", display: "gopassivedns"}}, nil
}

// Keys the gopassivedns parser reads, as bits for duplicate detection.
const (
	gpQ = 1 << iota
	gpQType
	gpA
	gpAType
	gpRcode
	gpStamp
	gpID
	gpSrc
	gpDst
	gpSport
)

func (p *goPassiveDNS) Parse(line []byte, emit func(*cof.Record)) error {
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
	if seen&gpRcode != 0 && string(p.rcode) != "0" {
		p.skip(SkipRcode) // gopassivedns logs no answer for these, only the rcode
		return nil
	}
	for _, k := range [...]struct {
		bit  int
		name string
	}{{gpQ, "q"}, {gpA, "a"}, {gpAType, "atype"}, {gpStamp, "tstamp"}} {
		if seen&k.bit == 0 {
			return p.fail(p.errorf(ErrMissingField, k.name, "missing"))
		}
	}
	when, reason := parseTimestamp(p.stamp, nil)
	if reason != "" {
		return p.fail(p.errorf(ErrBadTime, "tstamp", reason))
	}
	return p.flush(emit, p.answer(when))
}

// answer maps the line's answer, following the response's CNAME chain.
func (p *goPassiveDNS) answer(when int64) *Error {
	t, ok := parseType(p.atype)
	if !ok {
		return p.errorf(ErrBadRRType, "atype", "unknown type "+quote(p.atype))
	}
	key := hashFields(p.id, p.q, p.qtype, p.src, p.dst, p.sport)
	owner := p.q
	if o, ok := p.chain.get(key); ok {
		owner = o
	}
	rec := pending{rrtype: t, time: when}
	var err error
	if rec.owner, err = p.b.name(owner); err != nil {
		return p.answerErr(err, "q")
	}
	switch t {
	case cof.TypeA, cof.TypeAAAA, cof.TypeCNAME, cof.TypeMX, cof.TypeNS, cof.TypePTR, cof.TypeSOA, cof.TypeSRV:
		if rec.rdata, rec.addr, err = p.b.rdata(t, p.a); err != nil {
			return p.answerErr(err, "a")
		}
	case cof.TypeTXT, 99: // SPF: gopassivedns logs its wire bytes, the same form
		start := len(p.b.buf)
		switch {
		case isWireStrings(p.a):
			p.b.buf = appendTXTWire(p.b.buf, p.a)
		case len(p.a) > 0 && p.a[0] >= 0x20 && p.a[0] < 0x7f:
			p.b.buf = appendTXTRaw(p.b.buf, p.a)
		default: // wire form whose length octets JSON encoding mangled
			return p.answerErr(errUnmapped, "a")
		}
		rec.rdata = span{start, len(p.b.buf)}
	default: // gopassivedns logs the wire bytes of other types' rdata
		return p.answerErr(errUnmapped, "a")
	}
	if t == cof.TypeCNAME {
		p.chain.set(key, p.b.buf[rec.rdata.start:rec.rdata.end])
	}
	p.b.add(rec)
	return nil
}

// scan reads the object and copies the fields it needs.
func (p *goPassiveDNS) scan(line []byte) (int, *Error) {
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
			case "q":
				take(gpQ, &p.q, s.str())
			case "qtype":
				take(gpQType, &p.qtype, s.str())
			case "a":
				take(gpA, &p.a, s.str())
			case "atype":
				take(gpAType, &p.atype, s.str())
			case "rcode":
				take(gpRcode, &p.rcode, s.num())
			case "tstamp":
				take(gpStamp, &p.stamp, s.str())
			case "query_id":
				take(gpID, &p.id, s.num())
			case "src":
				take(gpSrc, &p.src, s.str())
			case "dst":
				take(gpDst, &p.dst, s.str())
			case "sport":
				take(gpSport, &p.sport, s.str())
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
