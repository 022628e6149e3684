package routing

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/hashicorp/go-memdb"
)

// Sensor is a registered publisher of records.
type Sensor struct {
	ID           string
	Organisation string
	// Relays lists the other sensor_ids this sensor may publish records
	// for (a collector forwarding for its own sensors).
	Relays []string
	// Rate is the sensor's input quota in bytes a second as published;
	// 0: none.
	Rate int64
	// NKey is the sensor's public nkey (U...): its batches' signatures
	// are verified against it. Empty: none registered.
	NKey string
	// RequireSignature refuses the sensor's unsigned batches.
	RequireSignature bool
}

// Peer is a registered recipient organisation's feed.
type Peer struct {
	ID           string
	Organisation string
}

// Subscription is one entry of a peer's subscriptions: the records of the
// sensors whose sensor_id matches one of Sensors, under the named Policy.
type Subscription struct {
	Peer    string
	Index   int      // position among the peer's subscriptions; the first match wins
	Sensors []string // exact ids or patterns where '*' matches any run of bytes
	Policy  string
	// TLP is the label carried on what is delivered through this
	// subscription, as written in the header ("TLP:AMBER"), or "".
	TLP string
}

// Route is where one record goes: a peer, and the subscription that
// decided it (so its policy applies).
type Route struct {
	Peer         string
	Subscription *Subscription
}

// patternRow is one (subscription, pattern) pair in the database. Exact
// patterns are indexed by value, wildcard ones by their literal prefix, so
// a lookup costs one probe per prefix of the sensor id, not a scan.
type patternRow struct {
	Key     string
	Exact   string
	Prefix  string
	Pattern string
	Sub     *Subscription
}

var schema = &memdb.DBSchema{Tables: map[string]*memdb.TableSchema{
	"sensor": {Name: "sensor", Indexes: map[string]*memdb.IndexSchema{
		"id":     {Name: "id", Unique: true, Indexer: &memdb.StringFieldIndex{Field: "ID"}},
		"relays": {Name: "relays", AllowMissing: true, Indexer: &memdb.StringSliceFieldIndex{Field: "Relays"}},
	}},
	"peer": {Name: "peer", Indexes: map[string]*memdb.IndexSchema{
		"id": {Name: "id", Unique: true, Indexer: &memdb.StringFieldIndex{Field: "ID"}},
	}},
	"pattern": {Name: "pattern", Indexes: map[string]*memdb.IndexSchema{
		"id":     {Name: "id", Unique: true, Indexer: &memdb.StringFieldIndex{Field: "Key"}},
		"exact":  {Name: "exact", AllowMissing: true, Indexer: &memdb.StringFieldIndex{Field: "Exact"}},
		"prefix": {Name: "prefix", AllowMissing: true, Indexer: &memdb.StringFieldIndex{Field: "Prefix"}},
	}},
}}

// Table is an immutable routing table. Build a new one to change it and
// swap the pointer: readers of the old one finish undisturbed.
type Table struct {
	db    *memdb.MemDB
	cache sync.Map // sensor_id -> []Route
	// wildcard rows have an empty prefix; kept apart because memdb does
	// not index empty strings.
	matchAll []*patternRow
}

// Build validates and indexes a registry. Ids must be unique, every
// subscription must name a known peer, and patterns must not be empty.
func Build(sensors []Sensor, peers []Peer, subs []Subscription) (*Table, error) {
	db, err := memdb.NewMemDB(schema)
	if err != nil {
		return nil, fmt.Errorf("routing: schema: %w", err)
	}
	t := &Table{db: db}
	txn := db.Txn(true)
	defer txn.Abort()
	for i := range sensors {
		s := sensors[i]
		if err := ValidateID("sensor", s.ID, false); err != nil {
			return nil, err
		}
		if old, _ := txn.First("sensor", "id", s.ID); old != nil {
			return nil, fmt.Errorf("sensor %q is defined twice", s.ID)
		}
		for _, r := range s.Relays {
			if err := ValidateID("relayed sensor", r, false); err != nil {
				return nil, fmt.Errorf("sensor %q: %w", s.ID, err)
			}
		}
		if err := txn.Insert("sensor", &s); err != nil {
			return nil, fmt.Errorf("sensor %q: %w", s.ID, err)
		}
	}
	for i := range peers {
		p := peers[i]
		if err := ValidateID("peer", p.ID, true); err != nil {
			return nil, err
		}
		if old, _ := txn.First("peer", "id", p.ID); old != nil {
			return nil, fmt.Errorf("peer %q is defined twice", p.ID)
		}
		if err := txn.Insert("peer", &p); err != nil {
			return nil, fmt.Errorf("peer %q: %w", p.ID, err)
		}
	}
	for i := range subs {
		sub := &subs[i]
		if p, _ := txn.First("peer", "id", sub.Peer); p == nil {
			return nil, fmt.Errorf("subscription %d names unknown peer %q", sub.Index, sub.Peer)
		}
		if len(sub.Sensors) == 0 {
			return nil, fmt.Errorf("peer %q subscription %d: no sensors", sub.Peer, sub.Index)
		}
		for j, pat := range sub.Sensors {
			if pat == "" {
				return nil, fmt.Errorf("peer %q subscription %d: empty sensor pattern", sub.Peer, sub.Index)
			}
			row := &patternRow{Key: sub.Peer + "\x00" + strconv.Itoa(sub.Index) + "\x00" + strconv.Itoa(j), Pattern: pat, Sub: sub}
			if k := strings.IndexByte(pat, '*'); k < 0 {
				row.Exact = pat
			} else if k == 0 {
				t.matchAll = append(t.matchAll, row)
				continue
			} else {
				row.Prefix = pat[:k]
			}
			if err := txn.Insert("pattern", row); err != nil {
				return nil, fmt.Errorf("peer %q subscription %d: %w", sub.Peer, sub.Index, err)
			}
		}
	}
	txn.Commit()
	return t, nil
}

// Sensor returns the registered sensor with this id.
func (t *Table) Sensor(id string) (Sensor, bool) {
	raw, err := t.db.Txn(false).First("sensor", "id", id)
	if err != nil || raw == nil {
		return Sensor{}, false
	}
	return *raw.(*Sensor), true
}

// Sensors returns every registered sensor, by id.
func (t *Table) Sensors() []Sensor {
	it, err := t.db.Txn(false).Get("sensor", "id")
	if err != nil {
		return nil
	}
	var out []Sensor
	for raw := it.Next(); raw != nil; raw = it.Next() {
		out = append(out, *raw.(*Sensor))
	}
	return out
}

// Peers returns every peer, by id.
func (t *Table) Peers() []Peer {
	it, err := t.db.Txn(false).Get("peer", "id")
	if err != nil {
		return nil
	}
	var out []Peer
	for raw := it.Next(); raw != nil; raw = it.Next() {
		out = append(out, *raw.(*Peer))
	}
	return out
}

// MayPublishAs reports whether records published by sensor may carry
// sensorID: its own id, or one it is registered to relay.
func (t *Table) MayPublishAs(sensor, sensorID string) bool {
	if sensor == sensorID {
		return true
	}
	s, ok := t.Sensor(sensor)
	return ok && slices.Contains(s.Relays, sensorID)
}

// Routes returns, for records with this sensor_id, one Route per peer that
// wants them, by peer id. A peer with several matching subscriptions gets
// the record once, under its first matching subscription. The result is
// shared: do not modify it.
func (t *Table) Routes(sensorID string) []Route {
	if v, ok := t.cache.Load(sensorID); ok {
		return v.([]Route)
	}
	best := map[string]*Subscription{}
	consider := func(row *patternRow) {
		if !Match(row.Pattern, sensorID) {
			return
		}
		if cur, ok := best[row.Sub.Peer]; !ok || row.Sub.Index < cur.Index {
			best[row.Sub.Peer] = row.Sub
		}
	}
	txn := t.db.Txn(false)
	if it, err := txn.Get("pattern", "exact", sensorID); err == nil {
		for raw := it.Next(); raw != nil; raw = it.Next() {
			consider(raw.(*patternRow))
		}
	}
	for i := 1; i <= len(sensorID); i++ {
		it, err := txn.Get("pattern", "prefix", sensorID[:i])
		if err != nil {
			continue
		}
		for raw := it.Next(); raw != nil; raw = it.Next() {
			consider(raw.(*patternRow))
		}
	}
	for _, row := range t.matchAll {
		consider(row)
	}
	routes := make([]Route, 0, len(best))
	for peer, sub := range best {
		routes = append(routes, Route{Peer: peer, Subscription: sub})
	}
	slices.SortFunc(routes, func(a, b Route) int { return strings.Compare(a.Peer, b.Peer) })
	v, _ := t.cache.LoadOrStore(sensorID, routes)
	return v.([]Route)
}

// Match reports whether id matches pattern, where '*' matches any run of
// bytes (including none) and every other byte matches itself.
func Match(pattern, id string) bool { return glob(pattern, id, false) }

// glob matches s against pattern, where '*' matches any run of bytes
// (including none); with starsOnly, a '*' of s is text that only a '*' of
// pattern may take (see Covers). Iterative with a single backtrack
// point: linear in practice and never exponential, whatever the pattern.
func glob(pattern, s string, starsOnly bool) bool {
	p, i := 0, 0
	star, mark := -1, 0
	for i < len(s) {
		switch {
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, i
			p++
		case p < len(pattern) && pattern[p] == s[i] && !(starsOnly && s[i] == '*'):
			p++
			i++
		case star >= 0:
			p = star + 1
			mark++
			i = mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}
