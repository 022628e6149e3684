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

// Apply merges a batch with its sequence in one atomic write: each rrset
// a merge operand, its index entries unless written lately (see
// DiskStore), the sketches' raised registers, the sequence. Durable once
// Save returns.
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
	st, err := d.write(b, recs)
	if err != nil {
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
	d.committed(st)
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
	st, err := d.write(b, recs)
	if err != nil {
		return err
	}
	if err := b.Commit(pebble.NoSync); err != nil {
		return fmt.Errorf("pdnsdb: disk store: %w", err)
	}
	d.committed(st)
	return nil
}

var errClosed = errors.New("pdnsdb: disk store closed")

// written is what a write changes of the store's memory: applied by
// committed once the write is, so that a failed commit leaves no rrset
// taken for indexed, nor counted, when it is not.
type written struct {
	indexed [][16]byte        // rrsets (keyed hash of the primary key) whose index entries were written
	rrsets  []byte            // the store sketch's raised registers
	sensors map[string][]byte // each sensor sketch's
}

// committed applies what a committed write changed.
func (d *DiskStore) committed(w *written) {
	for _, pk := range w.indexed {
		d.indexed.add(pk)
	}
	if err := d.rrsets.applyDelta(w.rrsets); err == nil && len(w.rrsets) > 0 {
		d.size.Store(d.rrsets.count())
	}
	for sensor, dl := range w.sensors {
		_ = d.sensorSketch(sensor).applyDelta(dl)
	}
}

// count adds to w what counting a new rrset raises; id is the keyed
// hash of its primary key.
func (d *DiskStore) count(w *written, id [16]byte, sensor string) {
	h := binary.BigEndian.Uint64(id[:8])
	w.rrsets = d.rrsets.raise(h, w.rrsets)
	if w.sensors == nil {
		w.sensors = map[string][]byte{}
	}
	w.sensors[sensor] = d.sensorSketch(sensor).raise(h, w.sensors[sensor])
}

// flushCounts adds the sketches' operands of w to b.
func flushCounts(b *pebble.Batch, w *written) error {
	if len(w.rrsets) > 0 {
		if err := b.Merge(rrsetsSketchKey, sparseOperand(storeSketchP, w.rrsets), nil); err != nil {
			return err
		}
	}
	for sensor, dl := range w.sensors {
		if len(dl) > 0 {
			if err := b.Merge(sensorSketchKey(sensor), sparseOperand(sensorSketchP, dl), nil); err != nil {
				return err
			}
		}
	}
	return nil
}

// write adds the records' rrsets to b, merged within the batch first.
func (d *DiskStore) write(b *pebble.Batch, recs []*cof.Record) (*written, error) {
	merged := make(map[string]*RRset, len(recs))
	order := make([]string, 0, len(recs))
	var key []byte
	for _, r := range recs {
		s := FromRecord(r)
		key = rrsetKey(key[:0], s, d.hash)
		if cur, ok := merged[string(key)]; ok {
			mergeInto(cur, s)
			continue
		}
		merged[string(key)] = s
		order = append(order, string(key))
	}
	slices.Sort(order)
	w := &written{}
	added := map[string]int64{} // new rrsets of this batch, by sensor: not in the sketches yet
	var val, ik []byte
	for _, k := range order {
		s, pk := merged[k], []byte(k)
		id := d.hash.sum(pk)
		if d.indexed.has(id) {
			// Seen lately: its value has its rdata, its entries exist.
			if err := b.Merge(pk, appendValue(val[:0], s, false), nil); err != nil {
				return nil, err
			}
			continue
		}
		sensor := d.tracked(firstSensor(s))
		if d.quota > 0 && d.sensorSketch(sensor).count()+added[sensor] >= int64(d.quota) {
			known, err := d.has(pk)
			if err != nil {
				return nil, err
			}
			if !known {
				if d.refused[sensor]++; d.refused[sensor] == 1 && d.onRefuse != nil {
					d.onRefuse(sensor)
				}
				continue
			}
		}
		if err := b.Merge(pk, appendValue(val[:0], s, true), nil); err != nil {
			return nil, err
		}
		if err := d.index(b, s, pk, &ik); err != nil {
			return nil, err
		}
		w.indexed = append(w.indexed, id)
		d.count(w, id, sensor)
		added[sensor]++
	}
	return w, flushCounts(b, w)
}

// maxTrackedSensors bounds the sensors counted one by one (4 KiB each);
// the rrsets of the sensors past it are counted together, under
// overflowSensor, and share one quota.
const maxTrackedSensors = 4096

const overflowSensor = "\x00other sensors"

// tracked returns the name a sensor is counted under.
func (d *DiskStore) tracked(sensor string) string {
	if _, ok := d.sensors[sensor]; ok || len(d.sensors) < maxTrackedSensors {
		return sensor
	}
	return overflowSensor
}

// sensorSketch returns (making it) the sketch of a sensor's rrsets.
func (d *DiskStore) sensorSketch(sensor string) *sketch {
	s := d.sensors[sensor]
	if s == nil {
		s = newSketch(sensorSketchP)
		d.sensors[sensor] = s
	}
	return s
}

// has reports whether the store holds a key (an rrset's, a mark's).
func (d *DiskStore) has(pk []byte) (bool, error) {
	_, closer, err := d.db.Get(pk)
	if errors.Is(err, pebble.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("pdnsdb: disk store: %w", err)
	}
	closer.Close()
	return true, nil
}

func firstSensor(s *RRset) string {
	if len(s.Sensors) > 0 {
		return s.Sensors[0]
	}
	return ""
}

// index writes a new rrset's index entries. An entry of an rrset with
// several addresses (or rdata names), up to maxListed, carries them all
// as its value, so that a walk can tell where it first meets the rrset
// without reading it; past maxListed (each entry would carry the whole
// list: a record of 18,000 addresses would write 5 GB) it carries
// bigEntry, and a walk remembers such rrsets instead.
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
	switch {
	case len(ix.Addresses) > maxListed:
		addrs = bigEntry
	case len(ix.Addresses) > 1:
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
	switch {
	case len(ix.Names) > maxListed:
		names = bigEntry
	case len(ix.Names) > 1:
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

// maxListed is the most values an index entry lists; bigEntry marks the
// entries of an rrset with more (no list of addresses or names is one
// byte long).
const maxListed = 16

var bigEntry = []byte{0xff}

// appliedLocked reports whether seq of stream is applied: at or below its
// floor, or marked above it.
func (d *DiskStore) appliedLocked(stream string, seq uint64) (bool, error) {
	floor, err := d.floor(stream)
	if err != nil || seq <= floor {
		return err == nil, err
	}
	return d.has(appliedKey(stream, seq))
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
	w := &written{}
	var val, ik []byte
	for _, s := range sets {
		pk := rrsetKey(nil, s, d.hash)
		if err := b.Set(pk, appendValue(val[:0], s, true), nil); err != nil {
			return err
		}
		if err := d.index(b, s, pk, &ik); err != nil {
			return err
		}
		d.count(w, d.hash.sum(pk), d.tracked(firstSensor(s)))
	}
	if err := flushCounts(b, w); err != nil {
		return err
	}
	if err := b.Commit(pebble.NoSync); err != nil {
		return fmt.Errorf("pdnsdb: disk store: %w", err)
	}
	d.committed(w)
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
