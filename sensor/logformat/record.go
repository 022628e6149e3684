package logformat

import (
	"net/netip"

	"github.com/cofswitch/cofswitch/cof"
)

// span locates a string in a batch's buffer.
type span struct{ start, end int }

// pending is one record of the line being read, waiting for the line to
// be read whole before it is emitted.
type pending struct {
	owner, rdata span
	rrtype       cof.Type
	addr         netip.Addr // for A and AAAA
	time         int64
	count        int64 // 0: the format has no count
}

// batch collects the records of one line. Their strings are built in one
// buffer and become one Go string when the line is done, so that a line
// costs one allocation however many records it holds; RData and Addrs
// slices come from chunks shared across lines.
type batch struct {
	buf   []byte
	recs  []pending
	slab  []string
	aslab []netip.Addr
	rec   cof.Record
}

func (b *batch) reset() {
	b.buf, b.recs = b.buf[:0], b.recs[:0]
}

// name appends the canonical form of an owner name and returns where it
// lies; the error is an *Error without format and field.
func (b *batch) name(raw []byte) (span, error) {
	start := len(b.buf)
	out, err := appendRDataName(b.buf, raw)
	if err != nil {
		return span{}, err
	}
	b.buf = out
	return span{start, len(b.buf)}, nil
}

// rdata appends the canonical rdata of type t and returns where it lies.
func (b *batch) rdata(t cof.Type, raw []byte) (span, netip.Addr, error) {
	start := len(b.buf)
	out, addr, err := appendRData(b.buf, t, raw)
	if err != nil {
		return span{}, addr, err
	}
	b.buf = out
	return span{start, len(b.buf)}, addr, nil
}

// add queues a record.
func (b *batch) add(p pending) { b.recs = append(b.recs, p) }

// emit hands the line's records to emit, in the order they were added,
// and returns how many there were. The *cof.Record is reused; its strings
// and slices are not, so emit may keep a copy of the struct.
func (b *batch) emit(emit func(*cof.Record)) int {
	if len(b.recs) == 0 {
		return 0
	}
	str := string(b.buf)
	for i := range b.recs {
		p := &b.recs[i]
		r := &b.rec
		*r = cof.Record{
			RRName:    str[p.owner.start:p.owner.end],
			RRType:    p.rrtype,
			TimeFirst: p.time,
			TimeLast:  p.time,
		}
		r.RData = b.takeStrings()
		r.RData[0] = str[p.rdata.start:p.rdata.end]
		if p.addr.IsValid() {
			r.Addrs = b.takeAddrs()
			r.Addrs[0] = p.addr
		}
		if p.count > 0 {
			r.Count, r.Has = p.count, cof.HasCount
		}
		emit(r)
	}
	n := len(b.recs)
	b.reset()
	return n
}

// takeStrings hands out a one-element slice from a shared chunk, capped
// so that an append by the receiver copies instead of overwriting.
func (b *batch) takeStrings() []string {
	if len(b.slab) == cap(b.slab) {
		b.slab = make([]string, 0, 256)
	}
	l := len(b.slab)
	b.slab = b.slab[:l+1]
	return b.slab[l : l+1 : l+1]
}

func (b *batch) takeAddrs() []netip.Addr {
	if len(b.aslab) == cap(b.aslab) {
		b.aslab = make([]netip.Addr, 0, 256)
	}
	l := len(b.aslab)
	b.aslab = b.aslab[:l+1]
	return b.aslab[l : l+1 : l+1]
}
