package logformat

import (
	"bytes"
	"strconv"

	"github.com/cofswitch/cofswitch/cof"
)

// zfield is a dns.log field the mapping reads.
type zfield uint8

const (
	zNone zfield = iota
	zTS
	zRespPort
	zQuery
	zQClass
	zQType
	zQTypeName
	zRcode
	zRcodeName
	zAnswers
	numZFields
)

// zeekFieldNames maps the names of the #fields header (and of the JSON
// form) to the fields the mapping reads.
var zeekFieldNames = map[string]zfield{
	"ts": zTS, "id.resp_p": zRespPort, "query": zQuery, "qclass": zQClass, "qtype": zQType,
	"qtype_name": zQTypeName, "rcode": zRcode, "rcode_name": zRcodeName, "answers": zAnswers,
}

// zeekDefaultFields is dns.log's column list (Zeek's DNS::Info), used
// until a #fields header says otherwise.
const zeekDefaultFields = "ts uid id.orig_h id.orig_p id.resp_h id.resp_p proto trans_id rtt query qclass qclass_name qtype qtype_name rcode rcode_name AA TC RD RA Z answers TTLs rejected"

// zeek parses Zeek's dns.log in its TSV form. The header lines set the
// separator (#separator, written \xHH), the set separator, the empty
// and unset markers and the columns (#fields); a header seen later in
// the stream, as after a rotation, replaces the earlier one.
type zeek struct {
	base
	errors       bool
	sep, setSep  []byte
	empty, unset []byte
	cols         []zfield
	tmp          []byte
	vals         [numZFields][]byte
	resp         zeekResponse
}

func newZeek(o options) (Parser, error) {
	p := &zeek{base: base{name: "zeek", display: "zeek dns.log"}, errors: o.errors}
	p.defaults()
	return p, nil
}

// defaults sets what a log without a header has; a #separator line, the
// first line of every header, starts again from them.
func (p *zeek) defaults() {
	p.sep = append(p.sep[:0], '\t')
	p.setSep = append(p.setSep[:0], ',')
	p.empty = append(p.empty[:0], "(empty)"...)
	p.unset = append(p.unset[:0], '-')
	p.setColumns([]byte(zeekDefaultFields), []byte(" "))
}

// setColumns reads a list of field names.
func (p *zeek) setColumns(list, sep []byte) {
	p.cols = p.cols[:0]
	for len(list) > 0 {
		name, rest, _ := bytes.Cut(list, sep)
		p.cols = append(p.cols, zeekFieldNames[string(name)])
		list = rest
	}
}

func (p *zeek) Parse(line []byte, emit func(*cof.Record)) error {
	if err := p.start(line); err != nil {
		return err
	}
	if len(line) > 0 && line[0] == '#' {
		p.header(line)
		p.skip(SkipNotAnswer)
		return nil
	}
	if len(trimSpace(line)) == 0 {
		p.skip(SkipNotAnswer)
		return nil
	}
	if err := p.split(line); err != nil {
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
	r.reset()
	r.query = zeekUnescape(r.query, v[zQuery])
	var reason string
	if r.when, reason = epochSeconds(v[zTS]); reason != "" {
		return p.fail(p.errorf(ErrBadTime, "ts", reason))
	}
	if r.qtype, err = p.zeekQType(v); err != nil {
		return p.fail(err)
	}
	for rest := v[zAnswers]; ; {
		a, more, found := bytes.Cut(rest, p.setSep)
		r.addAnswer(a)
		if !found {
			break
		}
		rest = more
	}
	return p.flush(emit, p.zeekMap(r))
}

// header reads a header line; lines it does not use (#path, #open,
// #types, #close) change nothing.
func (p *zeek) header(line []byte) {
	if v, ok := bytes.CutPrefix(line, []byte("#separator ")); ok {
		p.defaults()
		if sep := zeekUnescape(p.tmp[:0], v); len(sep) > 0 {
			p.sep, p.tmp = append(p.sep[:0], sep...), sep
		}
		return
	}
	name, v, ok := bytes.Cut(line[1:], p.sep)
	if !ok {
		return
	}
	switch string(name) {
	case "set_separator":
		if len(v) > 0 {
			p.setSep = append(p.setSep[:0], v...)
		}
	case "empty_field":
		p.empty = append(p.empty[:0], v...)
	case "unset_field":
		p.unset = append(p.unset[:0], v...)
	case "fields":
		p.setColumns(v, p.sep)
	}
}

// split cuts a line into its columns and keeps those the mapping reads;
// an unset value becomes nil and an empty one empty but not nil.
func (p *zeek) split(line []byte) *Error {
	for i := range p.vals {
		p.vals[i] = nil
	}
	rest := line
	for i, f := range p.cols {
		v, more, found := bytes.Cut(rest, p.sep)
		if !found && i < len(p.cols)-1 {
			return p.errorf(ErrSyntax, "", "want "+strconv.Itoa(len(p.cols))+" fields, as #fields says, found "+strconv.Itoa(i+1))
		}
		switch {
		case bytes.Equal(v, p.unset):
			v = nil
		case bytes.Equal(v, p.empty):
			v = v[:0]
		}
		p.vals[f] = v
		rest = more
		if found && i == len(p.cols)-1 {
			return p.errorf(ErrSyntax, "", "more fields than the "+strconv.Itoa(len(p.cols))+" #fields names")
		}
	}
	return nil
}

// zeekCheck decides whether a response is skipped: no response seen,
// a link-local service, an rcode other than NOERROR, a class other than
// IN, no answers. It checks the fields every mapping needs.
func (p *base) zeekCheck(v *[numZFields][]byte, errors bool) (skip bool, err *Error) {
	switch {
	case v[zRespPort] != nil && zeekLocalPort(v[zRespPort]):
		p.skip(SkipLocal)
		return true, nil
	case v[zRcode] == nil && v[zRcodeName] == nil:
		p.skip(SkipNotAnswer) // a query whose response Zeek did not see
		return true, nil
	case !errors && (v[zRcode] != nil && string(v[zRcode]) != "0" ||
		v[zRcode] == nil && string(v[zRcodeName]) != "NOERROR"):
		p.skip(SkipRcode)
		return true, nil
	case v[zQClass] != nil && string(v[zQClass]) != "1":
		p.skip(SkipClass)
		return true, nil
	case len(v[zAnswers]) == 0:
		p.skip(SkipEmpty)
		return true, nil
	case v[zQuery] == nil:
		return false, p.errorf(ErrMissingField, "query", "unset in a response with answers")
	case v[zTS] == nil:
		return false, p.errorf(ErrMissingField, "ts", "unset")
	}
	return false, nil
}

// zeekQType reads the question's type, by number or else by name; 0 when
// Zeek did not know it ("*" is ANY).
func (p *base) zeekQType(v *[numZFields][]byte) (cof.Type, *Error) {
	if q := v[zQType]; q != nil {
		n, ok := parseUint(q, 65535)
		if !ok {
			return 0, p.errorf(ErrBadRRType, "qtype", "not a type number: "+quote(q))
		}
		return cof.Type(n), nil
	}
	switch name := v[zQTypeName]; {
	case name == nil:
		return 0, nil
	case string(name) == "*":
		return 255, nil
	default:
		t, _ := parseType(name)
		return t, nil
	}
}
