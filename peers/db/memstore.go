package db

import (
	"context"
	"fmt"
	"hash/maphash"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/google/btree"

	"github.com/cofswitch/cofswitch/cof"
)

// MemStore is the embedded store. Each rrset lives in a slot; four ordered
// indexes (name, reversed name, rdata value, address) hold small entries
// pointing at slots, so a merge swaps the slot's rrset and touches no index.
//
// Why not go-memdb, which the design first named: measured here, memdb's
// immutable radix trees cost about 450 bytes per index entry (423 bytes
// per row with one index, 2,267 with the five this store needs), four
// times the 500 MB per million rrsets the store must stay under. B-trees
// of 32-byte entries cost a tenth of that.
type MemStore struct {
	mu      sync.RWMutex // one writer; readers share
	seed    maphash.Seed
	sets    map[uint64]*slot // by hash of the rrset's key; collisions chain
	byName  *btree.BTreeG[entry]
	byRev   *btree.BTreeG[entry]
	byData  *btree.BTreeG[entry]
	byIP    *btree.BTreeG[ipEntry]
	applied map[string]*appliedSet
	nextID  uint64
	size    atomic.Int64 // rrsets held: read without the lock (metrics)

	// quota bounds the rrsets one sensor may create (0: none), so that
	// one sensor's feed cannot take the whole memory; see SetSensorQuota.
	quota    int
	created  map[string]int    // rrsets created, by the sensor that created them
	refused  map[string]uint64 // new rrsets refused over the quota, by sensor
	onRefuse func(sensor string)
}

// slot holds the current version of one rrset. Versions are immutable:
// a reader keeps the one it got while a merge installs the next.
type slot struct {
	id   uint64
	cur  atomic.Pointer[RRset]
	next *slot // another rrset whose key hashes alike
}

type entry struct {
	v string
	s *slot
}

type ipEntry struct {
	a netip.Addr
	s *slot
}

func entryLess(a, b entry) bool {
	if c := strings.Compare(a.v, b.v); c != 0 {
		return c < 0
	}
	return a.s.id < b.s.id
}

func ipLess(a, b ipEntry) bool {
	if c := a.a.Compare(b.a); c != 0 {
		return c < 0
	}
	return a.s.id < b.s.id
}

// NewMemStore returns an empty embedded store.
func NewMemStore() (*MemStore, error) {
	return &MemStore{
		seed:    maphash.MakeSeed(),
		sets:    map[uint64]*slot{},
		byName:  btree.NewG(32, entryLess),
		byRev:   btree.NewG(32, entryLess),
		byData:  btree.NewG(32, entryLess),
		byIP:    btree.NewG(32, ipLess),
		applied: map[string]*appliedSet{},
		created: map[string]int{},
		refused: map[string]uint64{},
	}, nil
}

// DefaultSensorQuota is the rrsets one sensor may create in the embedded
// store by default: about 900 MiB of memory at 460 bytes an rrset.
const DefaultSensorQuota = 2_000_000

// SetSensorQuota bounds the rrsets each sensor may create in the store
// (0: no bound): past it, a record of that sensor that would make a new
// rrset is refused and counted (Refused); records that merge into existing
// rrsets are still merged. onRefuse, if set, is told the first time each
// sensor is refused. An rrset counts against the sensor whose record made
// it (after a reload from a snapshot, against the first of its sensors).
func (m *MemStore) SetSensorQuota(max int, onRefuse func(sensor string)) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.quota, m.onRefuse = max, onRefuse
}

// Refused returns the new rrsets refused over the quota, by sensor.
func (m *MemStore) Refused() map[string]uint64 {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return maps.Clone(m.refused)
}

// Apply merges a batch under the write lock, with its sequence.
func (m *MemStore) Apply(_ context.Context, stream string, seq uint64, recs []*cof.Record) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	// Sequence 0 is not a stream position (imports): never skipped.
	var as *appliedSet
	if seq != 0 {
		if as = m.applied[stream]; as == nil {
			as = &appliedSet{above: map[uint64]bool{}}
			m.applied[stream] = as
		}
		if as.has(seq) {
			return false, nil
		}
	}
	for _, rec := range recs {
		s := FromRecord(rec)
		h := m.hash(s)
		if sl := m.find(h, s); sl != nil {
			merged := *sl.cur.Load()
			merged.Sensors = append([]string(nil), merged.Sensors...)
			merged.Merge(s)
			sl.cur.Store(&merged)
			continue
		}
		if m.quota > 0 && m.created[rec.SensorID] >= m.quota {
			if m.refused[rec.SensorID]++; m.refused[rec.SensorID] == 1 && m.onRefuse != nil {
				m.onRefuse(rec.SensorID)
			}
			continue
		}
		m.created[rec.SensorID]++
		m.insertHashed(h, s)
	}
	if as != nil {
		as.add(seq)
	}
	return true, nil
}

// appliedSet is the set of sequences of one stream already applied: all
// up to floor, and those above it in above. A delivery can be lost in
// transit while later ones arrive, so "the highest applied" would skip the
// lost one when it is redelivered; the set does not.
type appliedSet struct {
	floor uint64
	above map[uint64]bool
}

func (a *appliedSet) has(seq uint64) bool { return seq <= a.floor || a.above[seq] }

func (a *appliedSet) add(seq uint64) {
	a.above[seq] = true
	for a.above[a.floor+1] {
		delete(a.above, a.floor+1)
		a.floor++
	}
}

// raise marks every sequence up to floor as done: the consumer's ack floor
// says so (it also passes over messages the stream no longer holds, which
// would otherwise stay holes in the set).
func (a *appliedSet) raise(floor uint64) {
	if floor <= a.floor {
		return
	}
	a.floor = floor
	for s := range a.above {
		if s <= floor {
			delete(a.above, s)
		}
	}
	for a.above[a.floor+1] {
		delete(a.above, a.floor+1)
		a.floor++
	}
}

// AdvanceApplied tells the store that every sequence of stream up to
// floor is done (the consumer's ack floor).
func (m *MemStore) AdvanceApplied(_ context.Context, stream string, floor uint64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	as := m.applied[stream]
	if as == nil {
		as = &appliedSet{above: map[uint64]bool{}}
		m.applied[stream] = as
	}
	as.raise(floor)
	return nil
}

// insert adds a new rrset (from a snapshot); the caller holds the lock or
// owns the store.
func (m *MemStore) insert(s *RRset) {
	if len(s.Sensors) > 0 {
		m.created[s.Sensors[0]]++
	}
	m.insertHashed(m.hash(s), s)
}

func (m *MemStore) insertHashed(h uint64, s *RRset) {
	m.nextID++
	sl := &slot{id: m.nextID, next: m.sets[h]}
	sl.cur.Store(s)
	m.sets[h] = sl
	m.size.Add(1)
	m.index(sl, s)
}

// hash identifies an rrset's key without building the key string: the
// primary index costs 8 bytes an rrset, not a copy of its data.
func (m *MemStore) hash(s *RRset) uint64 {
	var h maphash.Hash
	h.SetSeed(m.seed)
	h.WriteString(s.RRName)
	h.WriteByte(0)
	var t [2]byte
	t[0], t[1] = byte(s.RRType>>8), byte(s.RRType)
	h.Write(t[:])
	for _, r := range s.RData {
		h.WriteByte(0)
		h.WriteString(r)
	}
	return h.Sum64()
}

// find returns the slot of the rrset with s's key, if any.
func (m *MemStore) find(h uint64, s *RRset) *slot {
	for sl := m.sets[h]; sl != nil; sl = sl.next {
		c := sl.cur.Load()
		if c.RRName == s.RRName && c.RRType == s.RRType && slices.Equal(c.RData, s.RData) {
			return sl
		}
	}
	return nil
}

// index adds a new rrset's entries. Addresses of A and AAAA data go to the
// address index only (an exact rdata lookup of an address uses it).
func (m *MemStore) index(sl *slot, s *RRset) {
	m.byName.ReplaceOrInsert(entry{s.RRName, sl})
	m.byRev.ReplaceOrInsert(entry{reverseName(s.RRName), sl})
	for _, v := range s.RData {
		if s.RRType == cof.TypeA || s.RRType == cof.TypeAAAA {
			if a, err := netip.ParseAddr(v); err == nil {
				m.byIP.ReplaceOrInsert(ipEntry{a, sl})
				continue
			}
		}
		m.byData.ReplaceOrInsert(entry{v, sl})
	}
}

// Applied returns the last applied sequence of stream.
func (m *MemStore) Applied(_ context.Context, stream string) (uint64, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if as := m.applied[stream]; as != nil {
		return as.floor, nil
	}
	return 0, nil
}

// collector applies a query's filters, offset and limit to candidates.
// It keeps nothing for what it skips: an offset costs a walk of the index,
// not memory, so a huge offset cannot make a lookup hold every match.
type collector struct {
	q       *Query
	limit   int
	skipped int
	out     []*RRset
}

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

// Lookup answers a query from the index it names. The name indexes hold
// one entry per rrset; the rdata and address indexes one per value, so a
// walk over them takes an rrset only at its first value in index order
// (firstData, firstAddr) instead of remembering the rrsets it has seen.
func (m *MemStore) Lookup(_ context.Context, q Query) ([]*RRset, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	c := &collector{q: &q, limit: q.Limit}
	if c.limit <= 0 {
		c.limit = DefaultLimit
	}
	exact := func(t *btree.BTreeG[entry], v string) {
		t.AscendGreaterOrEqual(entry{v, &slot{}}, func(e entry) bool {
			return e.v == v && c.take(e.s.cur.Load())
		})
	}
	prefix := func(t *btree.BTreeG[entry], p string, data bool) {
		t.AscendGreaterOrEqual(entry{p, &slot{}}, func(e entry) bool {
			if !strings.HasPrefix(e.v, p) {
				return false
			}
			s := e.s.cur.Load()
			return (data && !firstData(s, e.v, p)) || c.take(s)
		})
	}
	switch {
	case q.Name != "":
		switch kind, lit := wildcard(q.Name); kind {
		case 'L':
			prefix(m.byRev, reverseName(lit)+".", false)
		case 'R':
			prefix(m.byName, lit+".", false)
		default:
			exact(m.byName, lit)
		}
	case q.RData != "":
		kind, lit := wildcard(q.RData)
		switch {
		case kind == 'R':
			prefix(m.byData, lit+".", true)
		case kind == 'L':
			return nil, fmt.Errorf("%w: left-hand wildcards on rdata are not supported", ErrBadQuery)
		default:
			if a, err := netip.ParseAddr(lit); err == nil {
				m.ipRange(a, a, c)
			} else {
				exact(m.byData, lit)
			}
		}
	case q.IPFrom.IsValid() && q.IPTo.IsValid():
		m.ipRange(q.IPFrom, q.IPTo, c)
	default:
		return nil, fmt.Errorf("%w: give a name, an rdata value or an address range", ErrBadQuery)
	}
	return c.out, nil
}

func (m *MemStore) ipRange(from, to netip.Addr, c *collector) {
	m.byIP.AscendGreaterOrEqual(ipEntry{from, &slot{}}, func(e ipEntry) bool {
		if e.a.Compare(to) > 0 {
			return false
		}
		s := e.s.cur.Load()
		return !firstAddr(s, e.a, from, to) || c.take(s)
	})
}

// dataIndexed reports whether value v of s is in the rdata index (an
// address of A and AAAA data is in the address index instead).
func dataIndexed(s *RRset, v string) bool {
	if s.RRType != cof.TypeA && s.RRType != cof.TypeAAAA {
		return true
	}
	_, err := netip.ParseAddr(v)
	return err != nil
}

// firstData reports whether v is the smallest of s's indexed rdata values
// with prefix p: where a prefix walk of the rdata index meets s first.
func firstData(s *RRset, v, p string) bool {
	if len(s.RData) == 1 {
		return true
	}
	for _, r := range s.RData {
		if r < v && strings.HasPrefix(r, p) && dataIndexed(s, r) {
			return false
		}
	}
	return true
}

// firstAddr reports whether a is the smallest of s's addresses within
// [from, to]: where a walk of the address index meets s first.
func firstAddr(s *RRset, a, from, to netip.Addr) bool {
	if len(s.RData) == 1 {
		return true
	}
	for _, r := range s.RData {
		b, err := netip.ParseAddr(r)
		if err == nil && b.Less(a) && b.Compare(from) >= 0 {
			return false
		}
	}
	return true
}

// Len returns the number of rrsets held. It takes no lock, so a scrape
// never waits behind a merge or a snapshot.
func (m *MemStore) Len() int { return int(m.size.Load()) }

// Close releases nothing: the store lives in memory.
func (m *MemStore) Close() error { return nil }
