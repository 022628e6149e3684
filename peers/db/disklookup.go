package db

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/cockroachdb/pebble/v2"
)

// collector applies a query's filters, offset and limit to candidates.
// It keeps nothing for what it skips: an offset costs a walk of the index,
// not memory, so a huge offset cannot make a lookup hold every match.
type collector struct {
	q       *Query
	limit   int
	skipped int
	out     []*RRset
}

// skipping reports whether the walk is still before the offset: a match
// is then only counted (see peekMatch), not read.
func (c *collector) skipping() bool { return c.skipped < c.q.Offset }

// take considers an rrset met for the first time in the walk; it returns
// false once the limit is reached.
func (c *collector) take(s *RRset) bool {
	if !c.q.match(s) {
		return true
	}
	if c.skipped < c.q.Offset {
		c.skipped++
		return true
	}
	c.out = append(c.out, s)
	return len(c.out) < c.limit
}

// Lookup answers a query by a range scan: of the rrsets themselves for an
// owner name or a left-hand wildcard on one (their keys sort by reversed
// name), of an index otherwise. An rrset that an index lists under
// several matching values is taken at the first of them in index order,
// so that it is answered once and offsets stay exact without remembering
// what was seen.
func (d *DiskStore) Lookup(ctx context.Context, q Query) ([]*RRset, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c := &collector{q: &q, limit: q.Limit}
	if c.limit <= 0 {
		c.limit = DefaultLimit
	}
	l := &diskLookup{d: d, c: c, ctx: ctx, budget: examineBudget(ctx)}
	switch {
	case q.Name != "":
		kind, lit, ok := ParseNameQuery(q.Name)
		if !ok {
			return nil, fmt.Errorf("%w: %q is no DNS name", ErrBadQuery, q.Name)
		}
		q.Bailiwick = canonicalOr(q.Bailiwick)
		switch kind {
		case 'L':
			p := appendEscaped([]byte{spaceRRset}, reverseName(lit)+".")
			l.rrsets(p)
		case 'R':
			l.index(spaceName, lit+".", always)
		default:
			l.rrsets(nameScan(lit, q.Type))
		}
	case q.RData != "":
		rq := ParseRDataQuery(q.RData)
		switch {
		case !rq.Addr.IsValid() && rq.Name == "" && rq.Value == "":
			return nil, fmt.Errorf("%w: %q is a wildcard on no name", ErrBadQuery, q.RData)
		case rq.Addr.IsValid():
			l.addrs(rq.Addr, rq.Addr)
		default:
			l.rdata(rq)
		}
	case q.IPFrom.IsValid() && q.IPTo.IsValid():
		l.addrs(q.IPFrom.Unmap(), q.IPTo.Unmap())
	default:
		return nil, fmt.Errorf("%w: give a name, an rdata value or an address range", ErrBadQuery)
	}
	if l.err != nil {
		return nil, l.err
	}
	return c.out, nil
}

// canonicalOr returns the canonical form of a name, or the name itself
// when it is none (it then matches nothing).
func canonicalOr(name string) string {
	if name == "" {
		return ""
	}
	if _, lit, ok := ParseNameQuery(name); ok {
		return lit
	}
	return name
}

// diskLookup is one query's walk; the first error stops it.
type diskLookup struct {
	d       *DiskStore
	c       *collector
	ctx     context.Context
	err     error
	done    bool
	pending [][]byte            // primary keys met and not yet read (see drain)
	big     map[string]struct{} // rrsets with more values than an entry lists, met
	seen    int                 // index entries and rrsets examined (MaxExamined)
	budget  *atomic.Int64       // the request's (WithExamineBudget), if any
}

// tick counts one entry examined; false ends the walk: past the store's
// MaxExamined,
// or when the caller gave up (checked every 1,024 entries, so that a
// walk that takes nothing still stops when the client leaves).
func (l *diskLookup) tick() bool {
	l.seen++
	if l.budget != nil && l.budget.Add(-1) < 0 {
		l.err = fmt.Errorf("%w: the request examined more entries than its budget: narrow it (a deeper zone, an rrtype, time fences)", ErrBadQuery)
		return false
	}
	if l.seen > l.d.maxExamined {
		l.err = fmt.Errorf("%w: the query examined more than %d entries: narrow it (a deeper zone, an rrtype, time fences)", ErrBadQuery, l.d.maxExamined)
		return false
	}
	if l.seen%1024 == 0 && l.cancelled() {
		return false
	}
	return true
}

// walk calls visit with each key and value in [lo, hi) until visit
// returns false, the walk is done or fails, or tick stops it (the entry
// bound, a client that left). Keys and values are valid within visit.
func (l *diskLookup) walk(lo, hi []byte, visit func(k, v []byte) bool) {
	if l.err != nil || l.done {
		return
	}
	if l.d.db == nil {
		l.err = errClosed
		return
	}
	it, err := l.d.db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		l.err = fmt.Errorf("pdnsdb: disk store: %w", err)
		return
	}
	for it.First(); it.Valid() && l.tick() && visit(it.Key(), it.Value()); it.Next() {
	}
	if err := it.Close(); err != nil && l.err == nil {
		l.err = fmt.Errorf("pdnsdb: disk store: %w", err)
	}
}

// entry splits an index entry's key, failing the walk when it is none.
func (l *diskLookup) entry(k []byte) (v, pk []byte, ok bool) {
	if v, pk, ok = splitIndexKey(k); !ok {
		l.err = fmt.Errorf("pdnsdb: disk store: malformed index key %q", k)
	}
	return v, pk, ok
}

// rrsets walks the rrsets whose keys begin with p.
func (l *diskLookup) rrsets(p []byte) {
	l.walk(p, prefixEnd(p), func(k, v []byte) bool {
		if l.c.skipping() {
			if peekMatch(l.c.q, k, v) {
				l.c.skipped++
			}
			return true
		}
		s, err := rrsetOf(k, v)
		if err != nil {
			l.err = err
			return false
		}
		if !l.c.take(s) || l.cancelled() {
			l.done = true
			return false
		}
		return true
	})
}

func (l *diskLookup) cancelled() bool {
	if err := l.ctx.Err(); err != nil {
		l.err = err
		return true
	}
	return false
}

// rrsetOf decodes an rrset from its key and value.
func rrsetOf(k, v []byte) (*RRset, error) {
	name, t, ok := parseRRsetKey(k)
	if !ok {
		return nil, fmt.Errorf("pdnsdb: disk store: malformed key %q", k)
	}
	s := &RRset{RRName: name, RRType: t}
	if err := decodeValue(v, s); err != nil {
		return nil, fmt.Errorf("pdnsdb: disk store: rrset %s/%v: %w", name, t, err)
	}
	return s, nil
}

// get reads the rrset an index entry points at.
func (l *diskLookup) get(pk []byte) *RRset {
	v, closer, err := l.d.db.Get(pk)
	if err != nil {
		if errors.Is(err, pebble.ErrNotFound) {
			err = fmt.Errorf("pdnsdb: disk store: an index entry points at no rrset (%q)", pk)
		}
		l.err = err
		return nil
	}
	defer closer.Close()
	s, err := rrsetOf(pk, v)
	if err != nil {
		l.err = err
	}
	return s
}

// first decides, from an index entry's value (v) and what the entry
// holds (ixval: the rrset's other values, when it has several), whether
// the walk takes the rrset there.
type first func(v, ixval []byte) bool

func always(_, _ []byte) bool { return true }

// firstOfBig decides for an entry of an rrset with more values than an
// entry lists (bigEntry): the walk takes it at the first entry it meets,
// remembering it (at most one key per maxListed+1 entries examined).
func (l *diskLookup) firstOfBig(pk []byte) bool {
	if l.big == nil {
		l.big = map[string]struct{}{}
	}
	if _, ok := l.big[string(pk)]; ok {
		return false
	}
	l.big[string(pk)] = struct{}{}
	return true
}

// index walks the entries of space whose values begin with prefix.
func (l *diskLookup) index(space byte, prefix string, f first) {
	l.scan(appendEscaped([]byte{space}, prefix), f)
}

// exact walks the entries of space whose value is value.
func (l *diskLookup) exact(space byte, value string, f first) {
	l.scan(appendTerm(appendEscaped([]byte{space}, value)), f)
}

func (l *diskLookup) scan(p []byte, f first) {
	l.walk(p, prefixEnd(p), func(k, ixval []byte) bool {
		v, pk, ok := l.entry(k)
		switch {
		case !ok:
			return false
		case bytes.Equal(ixval, bigEntry):
			if !l.firstOfBig(pk) {
				return true
			}
		case !f(v, ixval):
			return true
		}
		return l.step(pk)
	})
	l.drain()
}

// step takes (or, before the offset, counts) the rrset an index entry
// points at; false ends the walk.
func (l *diskLookup) step(pk []byte) bool {
	if l.c.skipping() {
		if l.c.q.filtered() {
			v, closer, err := l.d.db.Get(pk)
			if err != nil {
				l.err = fmt.Errorf("pdnsdb: disk store: an index entry points at no rrset (%q): %w", pk, err)
				return false
			}
			ok := peekMatch(l.c.q, pk, v)
			closer.Close()
			if !ok {
				return true
			}
		}
		l.c.skipped++
		return true
	}
	l.pending = append(l.pending, bytes.Clone(pk))
	if len(l.pending) < fetchChunk {
		return true
	}
	return l.drain()
}

// fetchChunk is how many rrsets an index walk reads at once, and
// fetchWorkers how many reads run together: each rrset an index points
// at is a random read, which several goroutines overlap (a /24 at 10M
// rrsets: 6.9 ms one by one).
const (
	fetchChunk   = 32
	fetchWorkers = 4
)

// drain reads the rrsets pending and takes them in index order; false
// ends the walk.
func (l *diskLookup) drain() bool {
	if len(l.pending) == 0 || l.err != nil {
		return l.err == nil
	}
	sets := make([]*RRset, len(l.pending))
	errs := make([]error, len(l.pending))
	read := func(i int) {
		v, closer, err := l.d.db.Get(l.pending[i])
		if err != nil {
			errs[i] = fmt.Errorf("pdnsdb: disk store: an index entry points at no rrset (%q): %w", l.pending[i], err)
			return
		}
		sets[i], errs[i] = rrsetOf(l.pending[i], v)
		closer.Close()
	}
	if len(l.pending) == 1 {
		read(0)
	} else {
		var next atomic.Int64
		var wg sync.WaitGroup
		for range min(fetchWorkers, len(l.pending)) {
			wg.Go(func() {
				for i := int(next.Add(1) - 1); i < len(l.pending); i = int(next.Add(1) - 1) {
					read(i)
				}
			})
		}
		wg.Wait()
	}
	l.pending = l.pending[:0]
	for i, s := range sets {
		if errs[i] != nil {
			l.err = errs[i]
			return false
		}
		if !l.c.take(s) || l.cancelled() {
			l.done = true
			return false
		}
	}
	return true
}

// rdata answers an rdata query: the rrsets whose rdata names match, then
// those that hold the value verbatim and whose names did not match.
func (l *diskLookup) rdata(rq RDataQuery) {
	if rq.Name != "" {
		// Each name an rrset holds is one entry: take the rrset at the
		// smallest entry that matches.
		switch rq.NameKind {
		case 'L':
			l.index(spaceRName, reverseName(rq.Name)+".", func(v, ixval []byte) bool {
				return smallestMatch(v, ixval, reverseName, rq)
			})
		case 'R':
			l.index(spaceRNameFw, rq.Name+".", func(v, ixval []byte) bool {
				return smallestMatch(v, ixval, func(n string) string { return n }, rq)
			})
		default:
			l.exact(spaceRName, reverseName(rq.Name), always)
		}
	}
	if rq.Value != "" {
		l.value(rq)
	}
}

// value walks the rrsets that hold rq.Value verbatim, less those the
// names phase gave (each is read to know).
func (l *diskLookup) value(rq RDataQuery) {
	p := appendTerm(appendEscaped([]byte{spaceValue}, rq.Value))
	l.walk(p, prefixEnd(p), func(k, _ []byte) bool {
		_, pk, ok := l.entry(k)
		if !ok {
			return false
		}
		s := l.get(bytes.Clone(pk))
		switch {
		case s == nil:
			return false
		case rq.Name != "" && slices.ContainsFunc(IndexedOf(s).Names, rq.NameMatches):
			return true
		case !l.c.take(s) || l.cancelled():
			l.done = true
			return false
		}
		return true
	})
}

// smallestMatch reports whether v (a name of an rrset as its index
// spells it) is the smallest of the rrset's names (ixval; none when it
// has only v) that match the query.
func smallestMatch(v, ixval []byte, spell func(string) string, rq RDataQuery) bool {
	r := &valueReader{b: ixval}
	for len(r.b) > 0 {
		n := r.str()
		if r.err != nil {
			return true
		}
		if rq.NameMatches(n) && spell(n) < string(v) {
			return false
		}
	}
	return true
}

// addrs walks the address index from from to to, taking each rrset at
// its smallest address in the range.
func (l *diskLookup) addrs(from, to netip.Addr) {
	f16, t16 := from.As16(), to.As16()
	l.walk(addrKey(nil, from, nil), prefixEnd(addrKey(nil, to, nil)), func(k, ixval []byte) bool {
		if len(k) < 17 {
			l.err = fmt.Errorf("pdnsdb: disk store: malformed address key %q", k)
			return false
		}
		switch pk := k[17:]; {
		case bytes.Equal(ixval, bigEntry):
			if !l.firstOfBig(pk) {
				return true
			}
		case !firstAddr(k[1:17], ixval, f16[:], t16[:]):
			return true
		}
		return l.step(k[17:])
	})
	l.drain()
}

// firstAddr reports whether a is the smallest of an rrset's addresses
// (all, 16 bytes each; none when a is its only one) within [from, to]:
// where a walk of the address index meets the rrset first.
func firstAddr(a, all, from, to []byte) bool {
	for ; len(all) >= 16; all = all[16:] {
		b := all[:16]
		if bytes.Compare(b, a) < 0 && bytes.Compare(b, from) >= 0 && bytes.Compare(b, to) <= 0 {
			return false
		}
	}
	return true
}

// filtered reports whether the query filters beyond its index walk.
func (q *Query) filtered() bool {
	return q.Type != 0 || q.Bailiwick != "" || q.TimeFirstBefore != 0 || q.TimeFirstAfter != 0 ||
		q.TimeLastBefore != 0 || q.TimeLastAfter != 0
}

// peekMatch applies the query's filters (match) to an rrset's key and
// value without decoding its strings, so that walking to an offset
// allocates nothing. A value it cannot read matches: the walk then reads
// it in full and reports the error.
func peekMatch(q *Query, pk, v []byte) bool {
	if !q.filtered() {
		return true
	}
	if q.Type != 0 && keyType(pk) != q.Type {
		return false
	}
	if len(v) == 0 {
		return true
	}
	r := &valueReader{b: v[1:]}
	flags := r.uvarint()
	s := RRset{RRType: keyType(pk)}
	s.TimeFirst, s.TimeLast = r.varint(), r.varint()
	if flags&flagZoneTimes != 0 {
		r.varint()
		r.varint()
	}
	r.varint()
	n := r.uvarint()
	if r.err != nil || n > uint64(len(r.b)) {
		return true
	}
	if q.Bailiwick != "" && string(r.b[:n]) != q.Bailiwick {
		return false
	}
	bw := q.Bailiwick
	q.Bailiwick = ""
	ok := q.match(&s)
	q.Bailiwick = bw
	return ok
}
