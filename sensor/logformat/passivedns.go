package logformat

import (
	"bytes"
	"strconv"
	"time"

	"github.com/cofswitch/cofswitch/cof"
)

// passivedns field letters, as its -f flag takes them. passivedns prints
// the fields it is given in one fixed order whatever the order of the
// letters, one timestamp column first: so do we.
const (
	defaultFields    = "SMcsCQTAtn"
	defaultDelimiter = "||"
)

// column is one column of a passivedns log line.
type column uint8

const (
	colTime column = iota
	colHostname
	colClient
	colClientMAC
	colServer
	colServerMAC
	colProto
	colClass
	colQuery
	colQueryLen
	colType
	colAnswer
	colAnswerLen
	colTTL
	colCount
	numColumns
)

// columnLetters gives the -f letter of each column after the time, in
// print order.
var columnLetters = [numColumns]byte{0, 'h', 'c', 'w', 's', 'W', 'p', 'C', 'Q', 'L', 'T', 'A', 'l', 't', 'n'}

// timeForm is how the timestamp column is written.
type timeForm uint8

const (
	timeYMD    timeForm = iota // H: "2011-12-02 19:18:44.408856", local time
	timeSecUS                  // S and M: "1322849924.408856"
	timeSecond                 // S: "1322849924"
)

// layout is a parsed field spec: the columns in print order.
type layout struct {
	cols   []column
	time   timeForm
	answer int  // index of colAnswer in cols
	count  bool // the n column is there
}

// parseFieldSpec reads -f letters: H S M for the timestamp, then h c w s
// W p C Q L T A l t n. Q, T, A and a timestamp with a date (H or S) are
// required, since a record needs them.
func parseFieldSpec(spec string) (layout, error) {
	var has [numColumns]bool
	var h, s, m bool
	for i := 0; i < len(spec); i++ {
		switch c := spec[i]; c {
		case 'H':
			h = true
		case 'S':
			s = true
		case 'M':
			m = true
		default:
			k := bytes.IndexByte(columnLetters[1:], c)
			if k < 0 {
				return layout{}, optionErr("passivedns field letter " + quote([]byte{c}) + " unknown (want H S M h c w s W p C Q L T A l t n)")
			}
			has[k+1] = true
		}
	}
	if !has[colQuery] || !has[colType] || !has[colAnswer] {
		return layout{}, optionErr("passivedns fields " + quote([]byte(spec)) + " lack Q, T or A")
	}
	var l layout
	switch {
	case h:
		l.time = timeYMD
	case s && m:
		l.time = timeSecUS
	case s:
		l.time = timeSecond
	default:
		return layout{}, optionErr("passivedns fields " + quote([]byte(spec)) + " lack a timestamp with a date (H or S)")
	}
	l.count = has[colCount]
	l.cols = append(l.cols, colTime)
	for c := colHostname; c < numColumns; c++ {
		if has[c] {
			if c == colAnswer {
				l.answer = len(l.cols)
			}
			l.cols = append(l.cols, c)
		}
	}
	return l, nil
}

// passiveDNS parses gamelinux/passivedns log lines.
type passiveDNS struct {
	base
	layout layout
	delim  []byte
	loc    *time.Location
	vals   [numColumns][]byte // by column
}

func newPassiveDNS(o options) (Parser, error) {
	spec, delim := o.fields, o.delimiter
	if spec == "" {
		spec = defaultFields
	}
	if delim == "" {
		delim = defaultDelimiter
	}
	l, err := parseFieldSpec(spec)
	if err != nil {
		return nil, err
	}
	return &passiveDNS{base: base{name: "passivedns", display: "passivedns"}, layout: l, delim: []byte(delim), loc: location(o)}, nil
}

func location(o options) *time.Location {
	if o.loc != nil {
		return o.loc
	}
	return time.Local
}

func (p *passiveDNS) Parse(line []byte, emit func(*cof.Record)) error {
	if err := p.start(line); err != nil {
		return err
	}
	if len(trimSpace(line)) == 0 || line[0] == '#' {
		p.skip(SkipNotAnswer)
		return nil
	}
	if err := p.split(line); err != nil {
		return p.fail(err)
	}
	v := pdnsValues{class: p.vals[colClass], query: p.vals[colQuery], rrtype: p.vals[colType], answer: p.vals[colAnswer]}
	if p.layout.count {
		v.count, v.hasCount = p.vals[colCount], true
	}
	var reason string
	switch ts := p.vals[colTime]; p.layout.time {
	case timeYMD:
		v.when, reason = parseTimestamp(ts, p.loc)
	default:
		if p.layout.time == timeSecond && bytes.IndexByte(ts, '.') >= 0 {
			reason = "not a time in whole seconds: " + quote(ts)
		} else {
			v.when, reason = epochSeconds(ts)
		}
	}
	if reason != "" {
		return p.fail(p.errorf(ErrBadTime, "timestamp", reason))
	}
	return p.flush(emit, p.pdnsRecord(&v))
}

// split cuts a line into its columns. The answer may hold the delimiter
// (a TXT string), so the columns before it are cut from the left and
// those after it from the right.
func (p *passiveDNS) split(line []byte) *Error {
	cols, a := p.layout.cols, p.layout.answer
	rest := line
	for i := 0; i < a; i++ {
		j := bytes.Index(rest, p.delim)
		if j < 0 {
			return p.errorf(ErrSyntax, "", "want "+strconv.Itoa(len(cols))+" fields separated by "+quote(p.delim))
		}
		p.vals[cols[i]] = rest[:j]
		rest = rest[j+len(p.delim):]
	}
	for i := len(cols) - 1; i > a; i-- {
		j := bytes.LastIndex(rest, p.delim)
		if j < 0 {
			return p.errorf(ErrSyntax, "", "want "+strconv.Itoa(len(cols))+" fields separated by "+quote(p.delim))
		}
		p.vals[cols[i]] = rest[j+len(p.delim):]
		rest = rest[:j]
	}
	p.vals[colAnswer] = rest
	return nil
}

// pdnsValues are the fields of one passivedns answer, from either form.
type pdnsValues struct {
	when                 int64
	class, query, rrtype []byte
	answer, count        []byte
	hasCount             bool
}

// rcodeAnswers are what passivedns writes in the answer column of the
// lines it logs for error responses (-X flags f s x o r y e t a z).
var rcodeAnswers = [...]string{"FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMPL", "REFUSED",
	"YXDOMAIN", "YXRRSET", "NXRRSET", "NOTAUTH", "NOTZONE"}

func isRcodeAnswer(a []byte) bool {
	for _, r := range rcodeAnswers {
		if string(a) == r {
			return true
		}
	}
	return bytes.HasPrefix(a, []byte("UNKNOWN-ERROR-"))
}

// record maps one passivedns answer. The query column is the owner of the
// answer: passivedns follows CNAME chains and logs each answer under its
// own owner. Error lines carry no answer, only the rcode: they are always
// skipped.
func (p *base) pdnsRecord(v *pdnsValues) *Error {
	if isRcodeAnswer(v.answer) {
		p.skip(SkipRcode)
		return nil
	}
	if v.class != nil && string(v.class) != "IN" {
		p.skip(SkipClass)
		return nil
	}
	t, ok := parseType(v.rrtype)
	if !ok {
		return p.errorf(ErrBadRRType, "type", "unknown type "+quote(v.rrtype))
	}
	rec := pending{rrtype: t, time: v.when}
	if v.hasCount {
		n, ok := parseUint(v.count, cof.MaxCount)
		if !ok || n == 0 {
			return p.errorf(ErrBadCount, "count", "not a positive integer: "+quote(v.count))
		}
		rec.count = int64(n)
	}
	var err error
	if rec.owner, err = p.b.name(v.query); err != nil {
		return p.answerErr(err, "query")
	}
	if rec.rdata, rec.addr, err = p.b.rdata(t, v.answer); err != nil {
		return p.answerErr(err, "answer")
	}
	p.b.add(rec)
	return nil
}
