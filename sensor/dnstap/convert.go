package dnstap

import (
	"bytes"
	"slices"
	"sync"

	tap "github.com/dnstap/golang-dnstap"
	"github.com/miekg/dns"

	"github.com/cofswitch/cofswitch/cof"
)

// Converter turns dnstap messages into COF records. It is safe for
// concurrent use: inputs call their handler from one goroutine per
// connection, and all of them may share one Converter.
type Converter struct {
	o    options
	log  *rateLog
	pool sync.Pool // *scratch
}

// NewConverter returns a Converter. Options: WithAuthority, WithAdditional,
// WithClientResponses, WithRRSIG, WithStats, WithLogger.
func NewConverter(opts ...Option) (*Converter, error) {
	o, err := buildOptions(opts)
	if err != nil {
		return nil, err
	}
	c := &Converter{o: o, log: newRateLog(&o, "dnstap: malformed DNS messages skipped")}
	c.pool.New = func() any { return &scratch{} }
	return c, nil
}

// Stats returns the counters the Converter adds to.
func (c *Converter) Stats() *Stats { return c.o.stats }

// Flush logs the malformed input counted since the last log line.
func (c *Converter) Flush() { c.log.flush() }

// ConvertFrame unmarshals one Frame Streams data frame (a protobuf
// dnstap.Dnstap message) and converts it, as Convert does.
func (c *Converter) ConvertFrame(frame []byte, emit func(r *cof.Record)) error {
	var m Message
	if err := m.Unmarshal(frame); err != nil {
		c.bad(ReasonProtobuf)
		return err
	}
	return c.Convert(&m, emit)
}

// Convert calls emit once per record that m gives: one per RRset (owner,
// type, class IN) of the answer section, and of the authority and
// additional sections when the options say so. The record is valid during
// the call only; copy *r to keep it (its strings and RData may be kept).
//
// A message that gives nothing (a query, a negative answer, the TC bit
// set) is counted in the Stats and Convert returns nil. A malformed one is
// counted, logged at most once per 10 s with the counts, and Convert
// returns an *Error; nothing is emitted for it.
func (c *Converter) Convert(m *Message, emit func(r *cof.Record)) error {
	st := c.o.stats
	st.message(m.Type)
	if r := c.accept(m.Type); r != 0 {
		st.count(r)
		return nil
	}
	if len(m.ResponseMessage) == 0 {
		st.count(SkipNoResponse)
		return nil
	}
	t, ok := recordTime(m)
	if !ok {
		return c.bad(ReasonTime)
	}
	h, ok := parseHeader(m.ResponseMessage)
	switch {
	case !ok:
		return c.bad(ReasonDNSHeader)
	case !h.response():
		st.count(SkipNotResponse)
		return nil
	case h.opcode() != dns.OpcodeQuery:
		st.count(SkipOpcode)
		return nil
	case h.rcode() != dns.RcodeSuccess:
		st.rcodes[h.rcode()].Add(1)
		st.count(SkipRcode)
		return nil
	case h.truncated():
		st.count(SkipTruncated)
		return nil
	}
	sc := c.pool.Get().(*scratch)
	defer c.pool.Put(sc)
	sc.reset()
	if len(m.QueryZone) > 0 {
		var end int
		var r Reason
		if sc.buf, end, r = appendName(sc.buf, m.QueryZone, 0); r != 0 || end != len(m.QueryZone) {
			return c.bad(ReasonQueryZone)
		}
		sc.zone = span{0, len(sc.buf)}
	}
	if r := sc.walk(m.ResponseMessage, h, &c.o); r != 0 {
		return c.bad(r)
	}
	n := sc.emit(t, emit, st)
	if n == 0 {
		st.count(SkipEmpty)
	}
	st.records.Add(uint64(n))
	return nil
}

// accept says whether a message type is converted, or why not.
func (c *Converter) accept(t tap.Message_Type) Reason {
	switch t {
	case tap.Message_RESOLVER_RESPONSE, tap.Message_AUTH_RESPONSE:
		return 0
	case tap.Message_CLIENT_RESPONSE, tap.Message_FORWARDER_RESPONSE:
		if c.o.clientResponses {
			return 0
		}
	case tap.Message_AUTH_QUERY, tap.Message_RESOLVER_QUERY, tap.Message_CLIENT_QUERY,
		tap.Message_FORWARDER_QUERY, tap.Message_STUB_QUERY, tap.Message_TOOL_QUERY,
		tap.Message_UPDATE_QUERY:
		return SkipQuery
	}
	return SkipType
}

func (c *Converter) bad(r Reason) error {
	c.o.stats.count(r)
	c.log.note(r)
	return malformed(r, "")
}

// recTime is when a record was seen.
type recTime struct {
	sec, ms int64
	hasMS   bool
}

// recordTime takes the response time, else the query time; milliseconds
// are kept when the nanoseconds were given.
func recordTime(m *Message) (recTime, bool) {
	t := m.ResponseTime
	if !t.HasSec {
		t = m.QueryTime
	}
	if !t.HasSec || t.Sec > cof.MaxTime {
		return recTime{}, false
	}
	rt := recTime{sec: int64(t.Sec)}
	if t.HasNsec && t.Nsec < 1e9 {
		rt.ms, rt.hasMS = rt.sec*1000+int64(t.Nsec/1e6), true
	}
	return rt, true
}

// span is a part of scratch.buf.
type span struct{ start, end int }

// rrData is one RR kept: its owner and rdata in scratch.buf.
type rrData struct {
	owner, rdata span
	typ          uint16
}

// rrGroup is one RRset: a run of scratch.order, and the place of its first
// RR in the message.
type rrGroup struct{ from, to, first int }

// scratch is the working memory of one conversion, reused across
// messages: every name and rdata of a message is written once into buf.
type scratch struct {
	buf    []byte
	zone   span
	rrs    []rrData
	order  []int
	groups []rrGroup
	rec    cof.Record
}

func (sc *scratch) reset() {
	sc.buf, sc.rrs = sc.buf[:0], sc.rrs[:0]
	sc.zone = span{}
}

func (sc *scratch) bytes(s span) []byte { return sc.buf[s.start:s.end] }

// walk reads the question section and the sections to convert, keeping
// the RRs that pass the filters.
func (sc *scratch) walk(msg []byte, h header, o *options) Reason {
	off := headerLen
	var r Reason
	for i := 0; i < h.qd; i++ {
		if off, r = skipName(msg, off); r != 0 {
			return r
		}
		if off += 4; off > len(msg) {
			return ReasonDNSTruncated
		}
	}
	sections := [3]struct {
		n    int
		keep bool
	}{{h.an, true}, {h.ns, o.authority}, {h.ar, o.additional}}
	last := 0
	switch {
	case o.additional:
		last = 2
	case o.authority:
		last = 1
	}
	for s := 0; s <= last; s++ {
		for i := 0; i < sections[s].n; i++ {
			if off, r = sc.readRR(msg, off, sections[s].keep, o); r != 0 {
				return r
			}
		}
	}
	return 0
}

// readRR reads the RR at off and keeps it unless a filter says no.
func (sc *scratch) readRR(msg []byte, off int, keep bool, o *options) (int, Reason) {
	var r Reason
	if !keep {
		if off, r = skipName(msg, off); r != 0 {
			return 0, r
		}
		h, r := readRR(msg, off)
		return h.rdEnd, r
	}
	ownerStart := len(sc.buf)
	if sc.buf, off, r = appendName(sc.buf, msg, off); r != 0 {
		return 0, r
	}
	owner := span{ownerStart, len(sc.buf)}
	h, r := readRR(msg, off)
	if r != 0 {
		return 0, r
	}
	skip := rrFilter(h, o)
	if skip == 0 && sc.zone.end > 0 && !inZone(sc.bytes(owner), sc.bytes(sc.zone)) {
		skip = SkipRRBailiwick
	}
	if skip != 0 {
		o.stats.count(skip)
		sc.buf = sc.buf[:ownerStart]
		return h.rdEnd, 0
	}
	rdStart := len(sc.buf)
	if sc.buf, r = appendRData(sc.buf, msg, h); r != 0 {
		return 0, r
	}
	sc.rrs = append(sc.rrs, rrData{owner: owner, rdata: span{rdStart, len(sc.buf)}, typ: h.typ})
	return h.rdEnd, 0
}

// rrFilter says why an RR is left out, or 0.
func rrFilter(h rrHeader, o *options) Reason {
	switch h.typ {
	case dns.TypeOPT, dns.TypeTSIG, dns.TypeTKEY, dns.TypeSIG:
		return SkipRRMeta
	case dns.TypeNone, dns.TypeIXFR, dns.TypeAXFR, dns.TypeMAILB, dns.TypeMAILA, dns.TypeANY:
		return SkipRRType
	case dns.TypeRRSIG:
		if !o.rrsig {
			return SkipRRSIG
		}
	}
	if h.class != dns.ClassINET {
		return SkipRRClass
	}
	return 0
}

// emit groups the kept RRs into RRsets, in the order their first RRs
// came, drops repeated rdata, and calls emit once per RRset. Within a
// record the rdata are sorted. It returns the number of records.
func (sc *scratch) emit(t recTime, emit func(*cof.Record), st *Stats) int {
	if len(sc.rrs) == 0 {
		return 0
	}
	sc.group(st)
	str := string(sc.buf) // one allocation holds every string of the message
	sub := func(s span) string { return str[s.start:s.end] }
	rdata := make([]string, 0, len(sc.order))
	n := 0
	for _, g := range sc.groups {
		first := sc.rrs[sc.order[g.from]]
		from, size := len(rdata), first.owner.end-first.owner.start
		for _, i := range sc.order[g.from:g.to] {
			rdata = append(rdata, sub(sc.rrs[i].rdata))
			size += sc.rrs[i].rdata.end - sc.rrs[i].rdata.start
		}
		if size > maxRecordRData {
			st.count(SkipRRSetTooLong)
			rdata = rdata[:from]
			continue
		}
		sc.rec = cof.Record{
			RRName:    sub(first.owner),
			RRType:    cof.Type(first.typ),
			RData:     rdata[from:len(rdata):len(rdata)],
			TimeFirst: t.sec,
			TimeLast:  t.sec,
			Count:     1,
			Has:       cof.HasCount,
		}
		if sc.zone.end > 0 {
			sc.rec.Bailiwick = sub(sc.zone)
		}
		if t.hasMS {
			sc.rec.TimeFirstMS, sc.rec.TimeLastMS = t.ms, t.ms
			sc.rec.Has |= cof.HasTimeFirstMS | cof.HasTimeLastMS
		}
		emit(&sc.rec)
		n++
	}
	return n
}

// group sorts the RRs by owner, type and rdata into sc.order, drops
// repeated rdata (counted), and lists the RRsets in sc.groups in the order
// of their first RR in the message.
func (sc *scratch) group(st *Stats) {
	sc.order = sc.order[:0]
	for i := range sc.rrs {
		sc.order = append(sc.order, i)
	}
	slices.SortStableFunc(sc.order, func(a, b int) int {
		ra, rb := &sc.rrs[a], &sc.rrs[b]
		if c := bytes.Compare(sc.bytes(ra.owner), sc.bytes(rb.owner)); c != 0 {
			return c
		}
		if ra.typ != rb.typ {
			return int(ra.typ) - int(rb.typ)
		}
		return bytes.Compare(sc.bytes(ra.rdata), sc.bytes(rb.rdata))
	})
	sc.groups = sc.groups[:0]
	kept := sc.order[:0]
	for _, i := range sc.order {
		r := &sc.rrs[i]
		if len(kept) > 0 {
			p := &sc.rrs[kept[len(kept)-1]]
			sameSet := p.typ == r.typ && bytes.Equal(sc.bytes(p.owner), sc.bytes(r.owner))
			if sameSet && bytes.Equal(sc.bytes(p.rdata), sc.bytes(r.rdata)) {
				st.count(SkipRRDuplicate)
				if g := &sc.groups[len(sc.groups)-1]; i < g.first {
					g.first = i
				}
				continue
			}
			if sameSet {
				kept = append(kept, i)
				g := &sc.groups[len(sc.groups)-1]
				g.to, g.first = len(kept), min(g.first, i)
				continue
			}
		}
		kept = append(kept, i)
		sc.groups = append(sc.groups, rrGroup{from: len(kept) - 1, to: len(kept), first: i})
	}
	sc.order = kept
	slices.SortFunc(sc.groups, func(a, b rrGroup) int { return a.first - b.first })
}
