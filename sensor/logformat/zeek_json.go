package logformat

import (
	"github.com/cofswitch/cofswitch/cof"
)

// zeekJSON parses dns.log written as JSON (LogAscii::use_json): one object
// per line with the same field names, "ts" a number or, with ISO 8601
// timestamps, a string, and "answers" an array. The 4-tuple may be flat
// ("id.resp_p") or nested ("id": {"resp_p": 53}).
type zeekJSON struct {
	base
	s      jscan
	errors bool
	vals   [numZFields][]byte
	bufs   [numZFields][]byte // copies behind vals
	tsText bool
	resp   zeekResponse
}

func newZeekJSON(o options) (Parser, error) {
	return &zeekJSON{base: base{name: "zeek-json", display: "zeek dns.log json"}, errors: o.errors}, nil
}

func (p *zeekJSON) Parse(line []byte, emit func(*cof.Record)) error {
	if err := p.start(line); err != nil {
		return err
	}
	if len(trimSpace(line)) == 0 {
		p.skip(SkipNotAnswer)
		return nil
	}
	if err := p.scan(line); err != nil {
		return p.fail(err)
	}
	v := &p.vals
	skip, err := p.zeekCheck(v, p.errors)
	if err != nil {
		return p.fail(err)
	}
	if skip {
		return nil
	}
	r := &p.resp
	r.query = zeekUnescape(r.query[:0], v[zQuery])
	var reason string
	if p.tsText {
		r.when, reason = parseTimestamp(v[zTS], nil)
	} else {
		r.when, reason = epochSeconds(v[zTS])
	}
	if reason != "" {
		return p.fail(p.errorf(ErrBadTime, "ts", reason))
	}
	if r.qtype, err = p.zeekQType(v); err != nil {
		return p.fail(err)
	}
	return p.flush(emit, p.zeekMap(r))
}

// scan reads the object: the fields the mapping needs into vals, the
// answers into resp. A null reads as unset.
func (p *zeekJSON) scan(line []byte) *Error {
	s := &p.s
	s.reset(line)
	for i := range p.vals {
		p.vals[i] = nil
	}
	p.resp.reset()
	p.tsText = false
	if s.begin('{') {
		for s.more('}') {
			k := s.key()
			if string(k) == "id" && s.peek() == '{' {
				p.nestedID(s)
				continue
			}
			p.value(s, zeekField(k))
		}
	}
	s.end()
	if s.bad {
		return p.errorf(ErrSyntax, "", s.reason)
	}
	return nil
}

// present marks a field that is set: answers, which are read into the
// response, and empty strings.
var present = []byte{1}

// value reads the value of field f, or skips it.
func (p *zeekJSON) value(s *jscan, f zfield) {
	switch {
	case f == zNone:
		s.skip()
		return
	case p.vals[f] != nil:
		s.fail("duplicate key")
		return
	case s.literal("null"):
		return
	case f == zAnswers:
		if s.begin('[') {
			for s.more(']') {
				p.resp.addAnswer(s.str())
			}
		}
		p.vals[f] = present[:min(len(p.resp.answers), 1)]
		return
	}
	var raw []byte
	if c := s.peek(); c == '"' {
		raw = s.str()
		p.tsText = p.tsText || f == zTS
	} else {
		raw = s.num()
	}
	p.bufs[f] = append(p.bufs[f][:0], raw...)
	p.vals[f] = p.bufs[f]
	if len(raw) == 0 {
		p.vals[f] = present[:0]
	}
}

// nestedID reads an "id" object and keeps its resp_p.
func (p *zeekJSON) nestedID(s *jscan) {
	if !s.begin('{') {
		return
	}
	for s.more('}') {
		if string(s.key()) == "resp_p" {
			p.value(s, zRespPort)
		} else {
			s.skip()
		}
	}
}

// zeekField is zeekFieldNames as a switch, which is faster on the JSON
// form's every key.
func zeekField(k []byte) zfield {
	switch string(k) {
	case "ts":
		return zTS
	case "id.resp_p":
		return zRespPort
	case "query":
		return zQuery
	case "qclass":
		return zQClass
	case "qtype":
		return zQType
	case "qtype_name":
		return zQTypeName
	case "rcode":
		return zRcode
	case "rcode_name":
		return zRcodeName
	case "answers":
		return zAnswers
	}
	return zNone
}
