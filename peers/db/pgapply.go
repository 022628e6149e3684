package db

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/cofswitch/cofswitch/cof"
)

// pgMerge is the ON CONFLICT clause of every upsert into rrset: earliest
// first seen, latest last seen, zone times likewise when known, counts
// added, the deeper bailiwick, the union of sensors (RRset.Merge in SQL).
const pgMerge = `
ON CONFLICT (rrkey) DO UPDATE SET
	time_first = LEAST(rrset.time_first, EXCLUDED.time_first),
	time_last = GREATEST(rrset.time_last, EXCLUDED.time_last),
	zone_time_first = CASE WHEN NOT EXCLUDED.has_zone THEN rrset.zone_time_first
		WHEN NOT rrset.has_zone THEN EXCLUDED.zone_time_first
		ELSE LEAST(rrset.zone_time_first, EXCLUDED.zone_time_first) END,
	zone_time_last = CASE WHEN NOT EXCLUDED.has_zone THEN rrset.zone_time_last
		WHEN NOT rrset.has_zone THEN EXCLUDED.zone_time_last
		ELSE GREATEST(rrset.zone_time_last, EXCLUDED.zone_time_last) END,
	has_zone = rrset.has_zone OR EXCLUDED.has_zone,
	count = rrset.count + EXCLUDED.count,
	bailiwick = CASE WHEN length(EXCLUDED.bailiwick) > length(rrset.bailiwick) THEN EXCLUDED.bailiwick ELSE rrset.bailiwick END,
	sensors = ARRAY(SELECT DISTINCT s FROM unnest(rrset.sensors || EXCLUDED.sensors) AS s ORDER BY s)
RETURNING (xmax = 0) AS fresh, rrkey`

// pgColumns are the columns of rrset that an upsert writes.
const pgColumns = `rrkey, rrname, rev, rrtype, rdata, time_first, time_last, has_zone, zone_time_first, zone_time_last, count, bailiwick, sensors`

// pgUpsert merges the rows of a batch, given as parallel arrays (rdata and
// sensors joined with sep), and returns the keys of the rows it created
// (xmax = 0 tells a new row from an updated one).
const pgUpsert = `
WITH up AS (
INSERT INTO rrset (` + pgColumns + `)
SELECT k, n, r, t, string_to_array(rd, E'\x1f'), tf, tl, hz, ztf, ztl, c, b, string_to_array(se, E'\x1f')
FROM unnest($1::bytea[], $2::text[], $3::text[], $4::int[], $5::text[], $6::bigint[], $7::bigint[], $8::boolean[],
	$9::bigint[], $10::bigint[], $11::bigint[], $12::text[], $13::text[]) AS u(k, n, r, t, rd, tf, tl, hz, ztf, ztl, c, b, se)
` + pgMerge + `)
SELECT rrkey FROM up WHERE fresh`

// sep joins the rdata values and sensors of one row: the unit separator,
// which a COF string cannot hold unescaped... but may hold escaped, so
// this store refuses a value holding it.
const sep = "\x1f"

// pgBatch is a batch merged in Go, one rrset per key (one statement may
// not touch a row twice), in key order: concurrent writers then lock the
// rows they share in the same order and never deadlock.
type pgBatch struct {
	keys [][]byte // the 16-byte hash of each rrset's Key
	sets []*RRset
}

// pgMergeBatch merges the records of one batch by rrset.
func pgMergeBatch(recs []*cof.Record) (*pgBatch, error) {
	merged := make(map[string]*RRset, len(recs))
	for _, r := range recs {
		for _, v := range append(r.RData, r.SensorID) {
			if strings.Contains(v, sep) {
				return nil, fmt.Errorf("pdnsdb: postgres: a value holds U+001F, which this store cannot keep: %q", v)
			}
		}
		s := FromRecord(r)
		sum := sha256.Sum256([]byte(s.Key()))
		k := string(sum[:16])
		if cur, ok := merged[k]; ok {
			cur.Merge(s)
			continue
		}
		merged[k] = s
	}
	b := &pgBatch{keys: make([][]byte, 0, len(merged)), sets: make([]*RRset, 0, len(merged))}
	for _, k := range slices.Sorted(maps.Keys(merged)) {
		b.keys = append(b.keys, []byte(k))
		b.sets = append(b.sets, merged[k])
	}
	return b, nil
}

// find returns the rrset of key.
func (b *pgBatch) find(key []byte) *RRset {
	i, ok := slices.BinarySearchFunc(b.keys, key, bytes.Compare)
	if !ok {
		return nil
	}
	return b.sets[i]
}

// Apply merges a batch in one transaction with its sequence.
func (p *PGStore) Apply(ctx context.Context, stream string, seq uint64, recs []*cof.Record) (bool, error) {
	b, err := pgMergeBatch(recs)
	if err != nil {
		return false, err
	}
	tx, err := p.pool.Begin(ctx)
	if err != nil {
		return false, fmt.Errorf("pdnsdb: postgres: beginning a batch: %w", err)
	}
	defer tx.Rollback(ctx)
	if seq != 0 {
		var done bool
		err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM applied WHERE stream = $1 AND seq = $2)
			OR EXISTS (SELECT 1 FROM applied_floor WHERE stream = $1 AND floor >= $2)`, stream, int64(seq)).Scan(&done)
		if err != nil {
			return false, fmt.Errorf("pdnsdb: postgres: reading whether a batch is applied: %w", err)
		}
		if done {
			return false, nil
		}
	}
	fresh, err := b.upsert(ctx, tx)
	if err != nil {
		return false, err
	}
	var ix pgIndexRows
	for _, k := range fresh {
		ix.add(k, b.find(k))
	}
	if err := ix.insert(ctx, tx); err != nil {
		return false, err
	}
	if seq != 0 {
		if _, err := tx.Exec(ctx, `INSERT INTO applied (stream, seq) VALUES ($1, $2)`, stream, int64(seq)); err != nil {
			return false, fmt.Errorf("pdnsdb: postgres: recording the applied sequence: %w", err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return false, fmt.Errorf("pdnsdb: postgres: committing a batch: %w", err)
	}
	return true, nil
}

// upsert merges the batch in one multi-row statement: the rows travel as
// parallel arrays, so a batch costs one round trip however many rrsets it
// has. It returns the keys of the rrsets it created.
func (b *pgBatch) upsert(ctx context.Context, tx pgx.Tx) ([][]byte, error) {
	n := len(b.sets)
	names, revs := make([]string, n), make([]string, n)
	types := make([]int32, n)
	rdata, sensors, bails := make([]string, n), make([]string, n), make([]string, n)
	tf, tl, ztf, ztl, counts := make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n)
	hz := make([]bool, n)
	for i, s := range b.sets {
		names[i], revs[i], types[i] = s.RRName, reverseName(s.RRName), int32(s.RRType)
		rdata[i], sensors[i], bails[i] = strings.Join(s.RData, sep), strings.Join(s.Sensors, sep), s.Bailiwick
		tf[i], tl[i], ztf[i], ztl[i], counts[i], hz[i] = s.TimeFirst, s.TimeLast, s.ZoneTimeFirst, s.ZoneTimeLast, s.Count, s.HasZoneTimes
	}
	rows, err := tx.Query(ctx, pgUpsert, b.keys, names, revs, types, rdata, tf, tl, hz, ztf, ztl, counts, bails, sensors)
	if err != nil {
		return nil, fmt.Errorf("pdnsdb: postgres: merging rrsets: %w", err)
	}
	fresh, err := pgx.CollectRows(rows, pgx.RowTo[[]byte])
	if err != nil {
		return nil, fmt.Errorf("pdnsdb: postgres: merging rrsets: %w", err)
	}
	return fresh, nil
}

// pgIndexRows are the index rows of new rrsets (see IndexedOf), as
// parallel columns of each index table.
type pgIndexRows struct {
	valueKeys [][]byte
	values    []string
	ipKeys    [][]byte
	ips       []netip.Addr
	nameKeys  [][]byte
	names     []string
	revs      []string
}

// add adds the index rows of rrset s, whose key is key.
func (ix *pgIndexRows) add(key []byte, s *RRset) {
	in := IndexedOf(s)
	for _, v := range in.Values {
		ix.valueKeys, ix.values = append(ix.valueKeys, key), append(ix.values, v)
	}
	for _, a := range in.Addresses {
		ix.ipKeys, ix.ips = append(ix.ipKeys, key), append(ix.ips, a)
	}
	for _, n := range in.Names {
		ix.nameKeys, ix.names, ix.revs = append(ix.nameKeys, key), append(ix.names, n), append(ix.revs, reverseName(n))
	}
}

// insert writes the rows, one statement per table that gets some.
func (ix *pgIndexRows) insert(ctx context.Context, tx pgx.Tx) error {
	if len(ix.values) > 0 {
		if _, err := tx.Exec(ctx, `INSERT INTO rrset_rdata (rrset, value) SELECT * FROM unnest($1::bytea[], $2::text[])`,
			ix.valueKeys, ix.values); err != nil {
			return fmt.Errorf("pdnsdb: postgres: indexing rdata values: %w", err)
		}
	}
	if len(ix.ips) > 0 {
		if _, err := tx.Exec(ctx, `INSERT INTO rrset_ip (rrset, ip) SELECT * FROM unnest($1::bytea[], $2::inet[])`,
			ix.ipKeys, ix.ips); err != nil {
			return fmt.Errorf("pdnsdb: postgres: indexing addresses: %w", err)
		}
	}
	if len(ix.names) > 0 {
		if _, err := tx.Exec(ctx, `INSERT INTO rrset_rname (rrset, name, rev) SELECT * FROM unnest($1::bytea[], $2::text[], $3::text[])`,
			ix.nameKeys, ix.names, ix.revs); err != nil {
			return fmt.Errorf("pdnsdb: postgres: indexing rdata names: %w", err)
		}
	}
	return nil
}

// copyIn writes the rows with COPY, for large batches; the values go into
// valueTable (rrset_rdata but while the schema is upgraded).
func (ix *pgIndexRows) copyIn(ctx context.Context, tx pgx.Tx, valueTable string) error {
	tables := []struct {
		what  string
		table string
		cols  []string
		n     int
		row   func(i int) []any
	}{
		{what: "rdata values", table: valueTable, cols: []string{"rrset", "value"}, n: len(ix.values),
			row: func(i int) []any { return []any{ix.valueKeys[i], ix.values[i]} }},
		{what: "addresses", table: "rrset_ip", cols: []string{"rrset", "ip"}, n: len(ix.ips),
			row: func(i int) []any { return []any{ix.ipKeys[i], ix.ips[i]} }},
		{what: "rdata names", table: "rrset_rname", cols: []string{"rrset", "name", "rev"}, n: len(ix.names),
			row: func(i int) []any { return []any{ix.nameKeys[i], ix.names[i], ix.revs[i]} }},
	}
	for _, t := range tables {
		if t.n == 0 {
			continue
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{t.table}, t.cols, pgx.CopyFromSlice(t.n, func(i int) ([]any, error) {
			return t.row(i), nil
		})); err != nil {
			return fmt.Errorf("pdnsdb: postgres: indexing %s: %w", t.what, err)
		}
	}
	return nil
}
