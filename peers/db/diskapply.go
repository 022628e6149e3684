package db

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/cockroachdb/pebble/v2"

	"github.com/cofswitch/cofswitch/cof"
)

// Apply merges a batch with its sequence in one atomic write. A known
// rrset gets a merge operand (its rdata left out: the key names it); a
// new one its whole value and its index entries, which is why each
// rrset of the batch is looked up first (a miss costs a Bloom filter
// probe). Durable once Save returns.
func (d *DiskStore) Apply(ctx context.Context, stream string, seq uint64, recs []*cof.Record) (bool, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.db == nil {
		return false, errClosed
	}
	if seq != 0 {
		done, err := d.appliedLocked(stream, seq)
		if err != nil || done {
			return false, err
		}
	}
	b := d.db.NewBatch()
	defer b.Close()
	if err := d.write(b, recs); err != nil {
		return false, err
	}
	if seq != 0 {
		if err := b.Set(appliedKey(stream, seq), nil, nil); err != nil {
			return false, err
		}
	}
	if err := b.Commit(pebble.NoSync); err != nil {
		return false, fmt.Errorf("pdnsdb: disk store: %w", err)
	}
	return true, nil
}

// LoadBatch merges records without a stream position (an import) and
// makes them durable in the same write.
func (d *DiskStore) LoadBatch(ctx context.Context, recs []*cof.Record) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.db == nil {
		return errClosed
	}
	b := d.db.NewBatch()
	defer b.Close()
	if err := d.write(b, recs); err != nil {
		return err
	}
	if err := b.Commit(pebble.NoSync); err != nil {
		return fmt.Errorf("pdnsdb: disk store: %w", err)
	}
	return nil
}

var errClosed = errors.New("pdnsdb: disk store closed")

// write adds the records' rrsets to b: merged within the batch first,
// then each either a merge operand or a new rrset with its index entries.
func (d *DiskStore) write(b *pebble.Batch, recs []*cof.Record) error {
	merged := make(map[string]*RRset, len(recs))
	order := make([]string, 0, len(recs))
	var key []byte
	for _, r := range recs {
		s := FromRecord(r)
		key = rrsetKey(key[:0], s)
		if cur, ok := merged[string(key)]; ok {
			mergeInto(cur, s)
			continue
		}
		merged[string(key)] = s
		order = append(order, string(key))
	}
	// In key order: the lookups then walk the LSM forward.
	slices.Sort(order)
	var fresh int64
	created := map[string]int64{}
	var val, ik []byte
	for _, k := range order {
		s, pk := merged[k], []byte(k)
		_, closer, err := d.db.Get(pk)
		switch {
		case err == nil:
			closer.Close()
			val = appendValue(val[:0], s, false)
			if err := b.Merge(pk, val, nil); err != nil {
				return err
			}
			continue
		case !errors.Is(err, pebble.ErrNotFound):
			return fmt.Errorf("pdnsdb: disk store: %w", err)
		}
		if sensor := firstSensor(s); d.quota > 0 && d.created[sensor]+created[sensor] >= int64(d.quota) {
			if d.refused[sensor]++; d.refused[sensor] == 1 && d.onRefuse != nil {
				d.onRefuse(sensor)
			}
			continue
		} else {
			created[sensor]++
		}
		val = appendValue(val[:0], s, true)
		if err := b.Set(pk, val, nil); err != nil {
			return err
		}
		if err := d.index(b, s, pk, &ik); err != nil {
			return err
		}
		fresh++
	}
	if fresh > 0 {
		if err := b.Merge(countRRsetsKey, counterOperand(fresh), nil); err != nil {
			return err
		}
	}
	for sensor, n := range created {
		if err := b.Merge(quotaKey(sensor), counterOperand(n), nil); err != nil {
			return err
		}
	}
	// Counted in memory once the caller commits; a failed commit leaves
	// the counts a little high, which only errs towards refusing.
	d.size.Add(fresh)
	for sensor, n := range created {
		d.created[sensor] += n
	}
	return nil
}

func firstSensor(s *RRset) string {
	if len(s.Sensors) > 0 {
		return s.Sensors[0]
	}
	return ""
}

// index writes a new rrset's index entries. An entry of an rrset with
// several addresses (or rdata names) carries them all as its value, so
// that a walk can tell where it first meets the rrset without reading it.
func (d *DiskStore) index(b *pebble.Batch, s *RRset, pk []byte, buf *[]byte) error {
	set := func(k, v []byte) error {
		*buf = k
		return b.Set(k, v, nil)
	}
	if err := set(indexKey((*buf)[:0], spaceName, s.RRName, pk), nil); err != nil {
		return err
	}
	ix := IndexedOf(s)
	var addrs []byte
	if len(ix.Addresses) > 1 {
		for _, a := range ix.Addresses {
			b := a.As16()
			addrs = append(addrs, b[:]...)
		}
	}
	for _, a := range ix.Addresses {
		if err := set(addrKey((*buf)[:0], a, pk), addrs); err != nil {
			return err
		}
	}
	var names []byte
	if len(ix.Names) > 1 {
		for _, n := range ix.Names {
			names = appendString(names, n)
		}
	}
	for _, n := range ix.Names {
		if err := set(indexKey((*buf)[:0], spaceRName, reverseName(n), pk), names); err != nil {
			return err
		}
		if err := set(indexKey((*buf)[:0], spaceRNameFw, n, pk), names); err != nil {
			return err
		}
	}
	for _, v := range ix.Values {
		if err := set(indexKey((*buf)[:0], spaceValue, v, pk), nil); err != nil {
			return err
		}
	}
	return nil
}

// appliedLocked reports whether seq of stream is applied: at or below its
// floor, or marked above it.
func (d *DiskStore) appliedLocked(stream string, seq uint64) (bool, error) {
	floor, err := d.floor(stream)
	if err != nil || seq <= floor {
		return err == nil, err
	}
	_, closer, err := d.db.Get(appliedKey(stream, seq))
	if errors.Is(err, pebble.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("pdnsdb: disk store: %w", err)
	}
	closer.Close()
	return true, nil
}

func (d *DiskStore) floor(stream string) (uint64, error) {
	v, closer, err := d.db.Get(floorKey(stream))
	if errors.Is(err, pebble.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("pdnsdb: disk store: %w", err)
	}
	defer closer.Close()
	if len(v) != 8 {
		return 0, errBadValue
	}
	return binary.BigEndian.Uint64(v), nil
}

// Applied returns the sequence of stream up to which every batch is
// applied: the floor, then as far as the marks above it run unbroken.
func (d *DiskStore) Applied(_ context.Context, stream string) (uint64, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.db == nil {
		return 0, errClosed
	}
	floor, err := d.floor(stream)
	if err != nil {
		return 0, err
	}
	lo := appliedKey(stream, floor+1)
	it, err := d.db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: prefixEnd(lo[:len(lo)-8])})
	if err != nil {
		return 0, err
	}
	defer it.Close()
	for it.First(); it.Valid(); it.Next() {
		k := it.Key()
		if binary.BigEndian.Uint64(k[len(k)-8:]) != floor+1 {
			break
		}
		floor++
	}
	return floor, it.Error()
}

// AdvanceApplied raises the floor of stream to floor and drops the marks
// it covers, in one write.
func (d *DiskStore) AdvanceApplied(_ context.Context, stream string, floor uint64) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.db == nil {
		return errClosed
	}
	cur, err := d.floor(stream)
	if err != nil || floor <= cur {
		return err
	}
	b := d.db.NewBatch()
	defer b.Close()
	if err := b.Set(floorKey(stream), binary.BigEndian.AppendUint64(nil, floor), nil); err != nil {
		return err
	}
	if err := b.DeleteRange(appliedKey(stream, 0), appliedKey(stream, floor+1), nil); err != nil {
		return err
	}
	if err := b.Commit(pebble.NoSync); err != nil {
		return fmt.Errorf("pdnsdb: disk store: %w", err)
	}
	return nil
}

// put writes whole rrsets, replacing what their keys hold (a migration
// that may run twice), with their index entries.
func (d *DiskStore) put(sets []*RRset) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	b := d.db.NewBatch()
	defer b.Close()
	var pk, val, ik []byte
	var fresh int64
	for _, s := range sets {
		pk = rrsetKey(pk[:0], s)
		_, closer, err := d.db.Get(pk)
		if err == nil {
			closer.Close()
		} else if errors.Is(err, pebble.ErrNotFound) {
			fresh++
			if err := b.Merge(quotaKey(firstSensor(s)), counterOperand(1), nil); err != nil {
				return err
			}
			d.created[firstSensor(s)]++
		} else {
			return fmt.Errorf("pdnsdb: disk store: %w", err)
		}
		if err := b.Set(pk, appendValue(val[:0], s, true), nil); err != nil {
			return err
		}
		if err := d.index(b, s, slices.Clone(pk), &ik); err != nil {
			return err
		}
	}
	if err := b.Merge(countRRsetsKey, counterOperand(fresh), nil); err != nil {
		return err
	}
	if err := b.Commit(pebble.NoSync); err != nil {
		return fmt.Errorf("pdnsdb: disk store: %w", err)
	}
	d.size.Add(fresh)
	return nil
}

// restoreApplied sets a stream's floor and the sequences applied above
// it (a migration).
func (d *DiskStore) restoreApplied(stream string, floor uint64, above []uint64) error {
	b := d.db.NewBatch()
	defer b.Close()
	if err := b.Set(floorKey(stream), binary.BigEndian.AppendUint64(nil, floor), nil); err != nil {
		return err
	}
	for _, s := range above {
		if err := b.Set(appliedKey(stream, s), nil, nil); err != nil {
			return err
		}
	}
	return b.Commit(pebble.NoSync)
}
