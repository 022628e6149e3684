package logformat

import (
	"bytes"

	"github.com/cofswitch/cofswitch/cof"
)

// eveAnswer is one EVE answer as read: copies of its fields, and the
// presentation form built from an soa, srv or sshfp object.
type eveAnswer struct {
	rrname, rrtype, rdata []byte // slices of the line, or of the bufs
	bufs                  [3][]byte
	obj                   []byte // presentation built from an object
	kind, missing         string // the object's name, and a member it lacks
	has                   uint8
	fields                [7][]byte // an object's fields, in objectKeys order
}

// What an eveAnswer holds.
const (
	ansRRName uint8 = 1 << iota
	ansRRType
	ansRData
	ansObject
	ansTruncated
)

func (a *eveAnswer) reset() {
	a.rrname, a.rrtype, a.rdata, a.obj, a.has = nil, nil, nil, a.obj[:0], 0
	a.kind, a.missing = "", ""
}

// member reads one member of an answer object (or of a version 1 dns
// object); members it does not know are skipped.
func (a *eveAnswer) member(s *jscan, k []byte) {
	switch string(k) {
	case "rrname":
		a.rrname = a.take(s, ansRRName, &a.bufs[0])
	case "rrtype":
		a.rrtype = a.take(s, ansRRType, &a.bufs[1])
	case "rdata":
		a.rdata = a.take(s, ansRData, &a.bufs[2])
	case "soa", "srv", "sshfp":
		if a.has&ansObject != 0 {
			s.fail("duplicate rdata object")
		}
		a.has |= ansObject
		a.object(s, string(k))
	case "rrname_truncated", "rdata_truncated":
		if s.boolean() {
			a.has |= ansTruncated
		}
	default:
		s.skip()
	}
}

func (a *eveAnswer) take(s *jscan, bit uint8, buf *[]byte) []byte {
	if a.has&bit != 0 {
		s.fail("duplicate key")
	}
	a.has |= bit
	return s.stable(buf)
}

// objectKeys are the members of Suricata's rdata objects, in the order
// of the presentation form they are written in.
var objectKeys = map[string][]string{
	"soa":   {"mname", "rname", "serial", "refresh", "retry", "expire", "minimum"},
	"srv":   {"priority", "weight", "port", "name"},
	"sshfp": {"algo", "type", "fingerprint"},
}

// object reads an soa, srv or sshfp object into the presentation form of
// the rdata: "mname rname serial refresh retry expire minimum", "priority
// weight port target", "algorithm type fingerprint". A member that is
// missing is noted in a.missing.
func (a *eveAnswer) object(s *jscan, kind string) {
	keys := objectKeys[kind]
	a.kind = kind
	var got uint8
	if s.begin('{') {
		for s.more('}') {
			k := s.key()
			i := 0
			for i < len(keys) && keys[i] != string(k) {
				i++
			}
			if i == len(keys) {
				s.skip()
				continue
			}
			if got&(1<<i) != 0 {
				s.fail("duplicate key")
			}
			got |= 1 << i
			if s.peek() == '"' {
				a.fields[i] = append(a.fields[i][:0], s.str()...)
			} else {
				a.fields[i] = append(a.fields[i][:0], s.num()...)
			}
		}
	}
	a.obj = a.obj[:0]
	for i := range keys {
		if got&(1<<i) == 0 {
			a.missing = keys[i]
			return
		}
		if i > 0 {
			a.obj = append(a.obj, ' ')
		}
		v := a.fields[i]
		if kind == "sshfp" && keys[i] == "fingerprint" {
			for _, c := range v {
				if c != ':' {
					a.obj = append(a.obj, c)
				}
			}
			continue
		}
		a.obj = append(a.obj, v...)
	}
}

// path names a field of the i-th element of a list, or of the dns object
// itself when i < 0; built only for error messages.
func path(prefix string, i int, leaf string) string {
	if i >= 0 {
		prefix = index(prefix, i)
	}
	if leaf == "" {
		return prefix
	}
	return prefix + "." + leaf
}

// answer maps the answer in p.a, the i-th of the list at prefix.
func (p *eve) answer(prefix string, i int) *Error {
	a := &p.a
	switch {
	case a.has&ansTruncated != 0:
		p.skip(SkipPartial)
		return nil
	case a.has&ansRRName == 0:
		return p.errorf(ErrMissingField, path(prefix, i, "rrname"), "missing")
	case a.has&ansRRType == 0:
		return p.errorf(ErrMissingField, path(prefix, i, "rrtype"), "missing")
	}
	t, ok := parseType(a.rrtype)
	if !ok {
		return p.errorf(ErrBadRRType, path(prefix, i, "rrtype"), "unknown type "+quote(a.rrtype))
	}
	owner, err := p.owner(a.rrname)
	if err != nil {
		return p.answerErr(err, path(prefix, i, "rrname"))
	}
	switch {
	case a.missing != "":
		return p.errorf(ErrMissingField, path(prefix, i, a.kind+"."+a.missing), "missing")
	case a.has&ansObject != 0:
		err = p.rdata(owner, t, a.obj, false)
	case a.has&ansRData != 0:
		err = p.rdata(owner, t, a.rdata, true)
	default:
		err = errUnmapped // Suricata logs no rdata for this type
	}
	if err != nil {
		return p.answerErr(err, path(prefix, i, "rdata"))
	}
	return nil
}

// owner normalises an owner name; Suricata writes the root as "". The
// answers of an RRset share their owner, so the last one is reused.
func (p *eve) owner(name []byte) (span, error) {
	if len(name) == 0 {
		name = rootName
	}
	if p.lastOK && bytes.Equal(name, p.lastRaw) {
		return p.lastOwner, nil
	}
	sp, err := p.b.name(name)
	if err == nil {
		p.lastRaw = append(p.lastRaw[:0], name...)
		p.lastOwner, p.lastOK = sp, true
	}
	return sp, err
}

var rootName = []byte(".")

// rdata maps one rdata of type t owned by owner. raw says that text is as
// Suricata logs a string rdata: TXT strings unquoted, one per answer. The
// error is for answerErr, which the caller gives the field.
func (p *eve) rdata(owner span, t cof.Type, text []byte, raw bool) error {
	rec := pending{owner: owner, rrtype: t, time: p.when}
	switch {
	case t == 10: // NULL: Suricata logs the raw bytes
		return errUnmapped
	case raw && (t == cof.TypeTXT || t == 99):
		start := len(p.b.buf)
		p.b.buf = appendTXTRaw(p.b.buf, text)
		rec.rdata = span{start, len(p.b.buf)}
	default:
		var err error
		if rec.rdata, rec.addr, err = p.b.rdata(t, text); err != nil {
			return err
		}
	}
	p.b.add(rec)
	return nil
}

// detailed maps the "answers" list of versions 2 and 3, on s when list
// is nil (in place), else on a new scan of list. An answer in error does
// not stop the others; the first error is noted.
func (p *eve) detailed(s *jscan, list []byte, _ int) {
	if list != nil {
		s.reset(list)
	}
	if !s.begin('[') {
		return
	}
	for i := 0; s.more(']'); i++ {
		p.a.reset()
		if s.begin('{') {
			for s.more('}') {
				p.a.member(s, s.key())
			}
		}
		if s.bad {
			return
		}
		p.note(p.answer("dns.answers", i))
	}
}

// groupedAnswers maps the "grouped" object (rrtype -> list of rdata),
// which gives no owner names. The CNAME list is read first, as a chain
// from the question's name: the first target is the question's alias,
// each next one the previous target's; the other answers are owned by
// the end of the chain (by the question's name when there is no CNAME).
// Suricata keeps the CNAMEs in answer order, and resolvers send a chain
// in order, so this gives the owners the detailed form would.
func (p *eve) groupedAnswers(obj []byte) {
	if len(p.query) == 0 {
		p.note(p.errorf(ErrMissingField, "dns.rrname", "missing: the owner of grouped answers is unknown"))
		return
	}
	owner, err := p.owner(p.query)
	if err != nil {
		p.note(p.answerErr(err, "dns.rrname"))
		return
	}
	s := &p.d
	for pass := 0; pass < 2; pass++ {
		s.reset(obj)
		if s.begin('{') {
			for s.more('}') {
				p.key = append(p.key[:0], s.key()...) // the scanner reuses its buffer
				if cname := string(p.key) == "CNAME"; cname != (pass == 0) {
					s.skip()
					continue
				}
				owner = p.groupedList(s, p.key, owner)
			}
		}
		if s.bad {
			return
		}
	}
}

// groupedList maps one list of the grouped object and returns the owner
// of what follows: the last target for the CNAME list, else owner.
func (p *eve) groupedList(s *jscan, key []byte, owner span) span {
	t, ok := parseType(key)
	if !ok {
		p.note(p.errorf(ErrBadRRType, "dns.grouped."+string(key), "unknown type "+quote(key)))
		s.skip()
		return owner
	}
	if !s.begin('[') {
		return owner
	}
	for i := 0; s.more(']'); i++ {
		raw := true
		var text []byte
		if s.peek() == '{' {
			p.a.reset()
			p.a.object(s, objectKind(t))
			text, raw = p.a.obj, false
			if p.a.missing != "" {
				p.note(p.errorf(ErrMissingField, index("dns.grouped."+string(key), i)+"."+p.a.missing, "missing"))
				continue
			}
		} else {
			text = s.str()
		}
		if s.bad {
			return owner
		}
		n := len(p.b.recs)
		if err := p.rdata(owner, t, text, raw); err != nil {
			p.note(p.answerErr(err, index("dns.grouped."+string(key), i)))
		}
		if t == cof.TypeCNAME && len(p.b.recs) > n {
			owner = p.b.recs[n].rdata // the next link of the chain
		}
	}
	return owner
}

// objectKind names the rdata object Suricata writes for a type.
func objectKind(t cof.Type) string {
	switch t {
	case cof.TypeSOA:
		return "soa"
	case cof.TypeSRV:
		return "srv"
	}
	return "sshfp"
}
