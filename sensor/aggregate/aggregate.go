// Package aggregate merges identical passive DNS observations on the
// sensor over a short window, so that a busy resolver's thousand answers
// for the same name leave the site as one record with a count.
//
// Two records are identical when they have the same rrname, rrtype,
// bailiwick, sensor_id and set of rdata (order and repeats do not
// matter). The merged record keeps the first record's other fields and
// rdata order, has time_first and time_last the earliest and latest of
// the records (and their milliseconds and zone times likewise), and a
// count that is the sum of theirs, a record without a count counting 1.
//
// A window opens when a key is first added and ends Window later, by the
// clock the caller passes: Flush(now) emits the records whose window has
// ended, in the order their keys were first added, and FlushAll emits the
// rest at close. Memory is bounded: at MaxKeys distinct keys, adding a
// new one first emits the oldest early (Stats.Early counts them).
package aggregate

import (
	"errors"
	"slices"
	"strconv"
	"time"

	"github.com/cofswitch/cofswitch/cof"
)

// Defaults of New.
const (
	DefaultWindow  = 60 * time.Second
	DefaultMaxKeys = 100_000
)

// ErrInvalidOption reports an option with an unusable value.
var ErrInvalidOption = errors.New("aggregate: invalid option")

// Option configures an Aggregator.
type Option func(*Aggregator) error

// WithWindow sets how long a key gathers observations (default 60 s).
func WithWindow(d time.Duration) Option {
	return func(a *Aggregator) error {
		if d <= 0 {
			return optionErr("window must be positive, not " + d.String())
		}
		a.window = d
		return nil
	}
}

// WithMaxKeys bounds the distinct keys held at once (default 100,000).
func WithMaxKeys(n int) Option {
	return func(a *Aggregator) error {
		if n < 1 {
			return optionErr("max keys must be at least 1, not " + strconv.Itoa(n))
		}
		a.maxKeys = n
		return nil
	}
}

func optionErr(reason string) error {
	return errors.Join(ErrInvalidOption, errors.New(reason))
}

// Stats counts what an Aggregator has done.
type Stats struct {
	In    int64 // records added
	Out   int64 // records emitted
	Early int64 // records emitted before their window ended, to make room
	Keys  int   // distinct keys held now
}

// Reduction is In/Out, how many observations each emitted record stands
// for; 0 before anything was emitted.
func (s Stats) Reduction() float64 {
	if s.Out == 0 {
		return 0
	}
	return float64(s.In) / float64(s.Out)
}

// Aggregator merges identical records over a window. It is not safe for
// concurrent use.
type Aggregator struct {
	window  time.Duration
	maxKeys int
	emit    func(*cof.Record)

	keys       map[string]*entry
	head, tail *entry // in the order keys were added: the oldest first
	free       *entry // entries to reuse
	stats      Stats
	kb         []byte   // the key being built
	sorted     []string // rdata being sorted for a key
}

// entry is one key's merged record.
type entry struct {
	key    string
	rec    cof.Record
	rdata  []string // backs rec.RData, a copy of the first record's
	opened int64    // UnixNano when the key was added
	next   *entry
}

// New returns an Aggregator that hands its merged records to emit, which
// may keep a copy of the record but not the pointer. Options: WithWindow,
// WithMaxKeys.
func New(emit func(*cof.Record), opts ...Option) (*Aggregator, error) {
	if emit == nil {
		return nil, optionErr("nil emit")
	}
	a := &Aggregator{window: DefaultWindow, maxKeys: DefaultMaxKeys, emit: emit}
	for _, opt := range opts {
		if err := opt(a); err != nil {
			return nil, err
		}
	}
	a.keys = make(map[string]*entry, min(a.maxKeys, 1024))
	return a, nil
}

// Stats returns the counts so far.
func (a *Aggregator) Stats() Stats {
	s := a.stats
	s.Keys = len(a.keys)
	return s
}

// Add merges r into its key's record, opening the key's window at now if
// it is new. r's strings are kept; its RData slice is copied.
func (a *Aggregator) Add(r *cof.Record, now time.Time) {
	a.stats.In++
	a.kb = a.appendKey(a.kb[:0], r)
	if e, ok := a.keys[string(a.kb)]; ok {
		merge(&e.rec, r)
		return
	}
	if len(a.keys) >= a.maxKeys {
		a.stats.Early++
		a.pop()
	}
	e := a.newEntry()
	e.key = string(a.kb)
	e.rdata = append([]string(nil), r.RData...)
	e.rec = *r
	e.rec.RData = e.rdata[:len(e.rdata):len(e.rdata)]
	if r.Has&cof.HasCount == 0 {
		e.rec.Count, e.rec.Has = 1, e.rec.Has|cof.HasCount
	}
	e.opened = now.UnixNano()
	a.keys[e.key] = e
	if a.tail == nil {
		a.head = e
	} else {
		a.tail.next = e
	}
	a.tail = e
}

// Flush emits, oldest first, the records whose window has ended by now,
// and returns how many.
func (a *Aggregator) Flush(now time.Time) int {
	limit := now.UnixNano() - int64(a.window)
	n := 0
	for a.head != nil && a.head.opened <= limit {
		a.pop()
		n++
	}
	return n
}

// FlushAll emits every record held, oldest first, and returns how many.
func (a *Aggregator) FlushAll() int {
	n := 0
	for a.head != nil {
		a.pop()
		n++
	}
	return n
}

// pop emits the oldest record and recycles its entry.
func (a *Aggregator) pop() {
	e := a.head
	a.head = e.next
	if a.head == nil {
		a.tail = nil
	}
	delete(a.keys, e.key)
	a.stats.Out++
	a.emit(&e.rec)
	// The emitted record's RData may be kept by emit: it is not reused.
	e.rec, e.rdata, e.key, e.next = cof.Record{}, nil, "", a.free
	a.free = e
}

func (a *Aggregator) newEntry() *entry {
	if e := a.free; e != nil {
		a.free = e.next
		e.next = nil
		return e
	}
	return &entry{}
}

// appendKey writes what makes two records the same observation: the
// names (which cof keeps free of raw NUL bytes) separated by NUL, the
// type, and the sorted distinct rdata, each prefixed by its length.
func (a *Aggregator) appendKey(dst []byte, r *cof.Record) []byte {
	dst = append(dst, r.RRName...)
	dst = append(dst, 0, byte(r.RRType>>8), byte(r.RRType))
	dst = append(dst, r.Bailiwick...)
	dst = append(dst, 0)
	dst = append(dst, r.SensorID...)
	dst = append(dst, 0)
	rdata := r.RData
	if len(rdata) > 1 {
		a.sorted = append(a.sorted[:0], rdata...)
		slices.Sort(a.sorted)
		rdata = slices.Compact(a.sorted)
	}
	for _, v := range rdata {
		dst = strconv.AppendUint(dst, uint64(len(v)), 10)
		dst = append(dst, ':')
		dst = append(dst, v...)
	}
	return dst
}

// merge adds r's observation to m.
func merge(m, r *cof.Record) {
	n := int64(1)
	if r.Has&cof.HasCount != 0 {
		n = r.Count
	}
	m.Count = min(m.Count+n, cof.MaxCount)
	switch {
	case r.TimeFirst < m.TimeFirst:
		m.TimeFirst, m.TimeFirstMS = r.TimeFirst, r.TimeFirstMS
		m.Has = m.Has&^cof.HasTimeFirstMS | r.Has&cof.HasTimeFirstMS
	case r.TimeFirst == m.TimeFirst && r.Has&m.Has&cof.HasTimeFirstMS != 0:
		m.TimeFirstMS = min(m.TimeFirstMS, r.TimeFirstMS)
	}
	switch {
	case r.TimeLast > m.TimeLast:
		m.TimeLast, m.TimeLastMS = r.TimeLast, r.TimeLastMS
		m.Has = m.Has&^cof.HasTimeLastMS | r.Has&cof.HasTimeLastMS
	case r.TimeLast == m.TimeLast && r.Has&m.Has&cof.HasTimeLastMS != 0:
		m.TimeLastMS = max(m.TimeLastMS, r.TimeLastMS)
	}
	switch {
	case r.Has&m.Has&cof.HasZoneTimes != 0:
		m.ZoneTimeFirst = min(m.ZoneTimeFirst, r.ZoneTimeFirst)
		m.ZoneTimeLast = max(m.ZoneTimeLast, r.ZoneTimeLast)
	case r.Has&cof.HasZoneTimes != 0:
		m.ZoneTimeFirst, m.ZoneTimeLast = r.ZoneTimeFirst, r.ZoneTimeLast
		m.Has |= cof.HasZoneTimes
	}
}
