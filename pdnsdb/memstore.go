package pdnsdb

import (
	"context"
	"fmt"
	"net/netip"
	"sync"

	"github.com/hashicorp/go-memdb"

	"github.com/cofswitch/cofswitch/cof"
)

// row is an rrset as the memdb store holds it, with its index keys.
// Rows are immutable once inserted: a merge inserts a new row.
type row struct {
	ID    string
	Name  string
	Rev   string   // reversed name, for left-hand wildcards
	RData []string // rdata values, for inverse lookups
	IPs   []string // ipKey of A/AAAA data, for ranges
	RRset *RRset
}

type appliedRow struct {
	Stream string
	Seq    uint64
}

var memSchema = &memdb.DBSchema{Tables: map[string]*memdb.TableSchema{
	"rrset": {Name: "rrset", Indexes: map[string]*memdb.IndexSchema{
		"id":    {Name: "id", Unique: true, Indexer: &memdb.StringFieldIndex{Field: "ID"}},
		"name":  {Name: "name", Indexer: &memdb.StringFieldIndex{Field: "Name"}},
		"rev":   {Name: "rev", Indexer: &memdb.StringFieldIndex{Field: "Rev"}},
		"rdata": {Name: "rdata", AllowMissing: true, Indexer: &memdb.StringSliceFieldIndex{Field: "RData"}},
		"ip":    {Name: "ip", AllowMissing: true, Indexer: &memdb.StringSliceFieldIndex{Field: "IPs"}},
	}},
	"applied": {Name: "applied", Indexes: map[string]*memdb.IndexSchema{
		"id": {Name: "id", Unique: true, Indexer: &memdb.StringFieldIndex{Field: "Stream"}},
	}},
}}

// MemStore is the embedded store: go-memdb tables indexed by name,
// reversed name, each rdata value and each address.
type MemStore struct {
	mu sync.Mutex // one writer at a time; readers never wait
	db *memdb.MemDB
}

// NewMemStore returns an empty embedded store.
func NewMemStore() (*MemStore, error) {
	db, err := memdb.NewMemDB(memSchema)
	if err != nil {
		return nil, fmt.Errorf("pdnsdb: %w", err)
	}
	return &MemStore{db: db}, nil
}

func newRow(s *RRset) *row {
	r := &row{ID: s.Key(), Name: s.RRName, Rev: reverseName(s.RRName), RData: s.RData, RRset: s}
	if s.RRType == cof.TypeA || s.RRType == cof.TypeAAAA {
		for _, v := range s.RData {
			if a, err := netip.ParseAddr(v); err == nil {
				r.IPs = append(r.IPs, ipKey(a))
			}
		}
	}
	return r
}

// Apply merges a batch in one transaction with its sequence.
func (m *MemStore) Apply(_ context.Context, stream string, seq uint64, recs []*cof.Record) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	txn := m.db.Txn(true)
	defer txn.Abort()
	if raw, _ := txn.First("applied", "id", stream); raw != nil && raw.(*appliedRow).Seq >= seq {
		return false, nil
	}
	for _, rec := range recs {
		s := FromRecord(rec)
		if raw, err := txn.First("rrset", "id", s.Key()); err != nil {
			return false, err
		} else if raw != nil {
			merged := *raw.(*row).RRset
			merged.Sensors = append([]string(nil), merged.Sensors...)
			merged.Merge(s)
			s = &merged
		}
		if err := txn.Insert("rrset", newRow(s)); err != nil {
			return false, err
		}
	}
	if err := txn.Insert("applied", &appliedRow{Stream: stream, Seq: seq}); err != nil {
		return false, err
	}
	txn.Commit()
	return true, nil
}

// Applied returns the last applied sequence of stream.
func (m *MemStore) Applied(_ context.Context, stream string) (uint64, error) {
	raw, err := m.db.Txn(false).First("applied", "id", stream)
	if err != nil || raw == nil {
		return 0, err
	}
	return raw.(*appliedRow).Seq, nil
}

// Lookup answers a query from the index it names.
func (m *MemStore) Lookup(_ context.Context, q Query) ([]*RRset, error) {
	txn := m.db.Txn(false)
	limit := q.Limit
	if limit <= 0 {
		limit = DefaultLimit
	}
	var out []*RRset
	skipped := 0
	seen := map[string]bool{}
	take := func(r *row) bool { // false: enough
		if seen[r.ID] || !q.match(r.RRset) {
			return true
		}
		seen[r.ID] = true
		if skipped < q.Offset {
			skipped++
			return true
		}
		out = append(out, r.RRset)
		return len(out) < limit
	}
	scan := func(index string, args ...any) error {
		it, err := txn.Get("rrset", index, args...)
		if err != nil {
			return err
		}
		for raw := it.Next(); raw != nil; raw = it.Next() {
			if !take(raw.(*row)) {
				break
			}
		}
		return nil
	}
	switch {
	case q.Name != "":
		kind, lit := wildcard(q.Name)
		switch kind {
		case 'L':
			return out, scan("rev_prefix", reverseName(lit)+".")
		case 'R':
			return out, scan("name_prefix", lit+".")
		}
		return out, scan("name", lit)
	case q.RData != "":
		kind, lit := wildcard(q.RData)
		switch kind {
		case 'R':
			return out, scan("rdata_prefix", lit+".")
		case 'L':
			// Inverse left-hand wildcards need a reversed-rdata index;
			// until then, they are refused rather than scanned.
			return nil, fmt.Errorf("%w: left-hand wildcards on rdata are not supported", ErrBadQuery)
		}
		return out, scan("rdata", lit)
	case q.IPFrom.IsValid() && q.IPTo.IsValid():
		lo, hi := ipKey(q.IPFrom), ipKey(q.IPTo)
		it, err := txn.LowerBound("rrset", "ip", lo)
		if err != nil {
			return nil, err
		}
		for raw := it.Next(); raw != nil; raw = it.Next() {
			r := raw.(*row)
			in, beyond := false, true
			for _, k := range r.IPs {
				if k >= lo && k <= hi {
					in = true
				}
				if k < hi {
					beyond = false
				}
			}
			if in && !take(r) {
				break
			}
			if !in && beyond && minKey(r.IPs) > hi {
				break
			}
		}
		return out, nil
	}
	return nil, fmt.Errorf("%w: give a name, an rdata value or an address range", ErrBadQuery)
}

func minKey(keys []string) string {
	m := keys[0]
	for _, k := range keys[1:] {
		m = min(m, k)
	}
	return m
}

// Len returns the number of rrsets held.
func (m *MemStore) Len() int {
	it, err := m.db.Txn(false).Get("rrset", "id")
	if err != nil {
		return 0
	}
	n := 0
	for raw := it.Next(); raw != nil; raw = it.Next() {
		n++
	}
	return n
}

// Close releases nothing: the store lives in memory.
func (m *MemStore) Close() error { return nil }
