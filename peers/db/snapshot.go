package db

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/klauspost/compress/zstd"

	"github.com/cofswitch/cofswitch/cof"
)

// SnapshotFile is the name of the embedded store's snapshot in its
// directory: zstd-compressed NDJSON, a header line with the applied
// sequences, then one line per rrset.
const SnapshotFile = "snapshot.ndjson.zst"

type snapshotHeader struct {
	Format  string                     `json:"format"`
	Applied map[string]snapshotApplied `json:"applied"`
	RRsets  int                        `json:"rrsets"`
}

type snapshotApplied struct {
	Floor uint64   `json:"floor"`
	Above []uint64 `json:"above,omitempty"`
}

type snapshotRRset struct {
	RRname        string   `json:"rrname"`
	RRtype        string   `json:"rrtype"`
	RData         []string `json:"rdata"`
	TimeFirst     int64    `json:"time_first"`
	TimeLast      int64    `json:"time_last"`
	ZoneTimeFirst int64    `json:"zone_time_first,omitempty"`
	ZoneTimeLast  int64    `json:"zone_time_last,omitempty"`
	HasZone       bool     `json:"has_zone,omitempty"`
	Count         int64    `json:"count"`
	Bailiwick     string   `json:"bailiwick,omitempty"`
	Sensors       []string `json:"sensors,omitempty"`
}

// Save writes the store to dir/SnapshotFile atomically: a temporary file,
// fsynced, renamed over the old one, and the directory fsynced. The
// applied sequences are those of the rrsets saved, so a restart replays
// exactly what came after.
func (m *MemStore) Save(dir string) error {
	m.mu.RLock()
	defer m.mu.RUnlock()
	tmp, err := os.CreateTemp(dir, ".snapshot-*")
	if err != nil {
		return fmt.Errorf("pdnsdb: snapshot: %w", err)
	}
	defer os.Remove(tmp.Name())
	zw, err := zstd.NewWriter(tmp, zstd.WithEncoderLevel(zstd.SpeedFastest))
	if err != nil {
		tmp.Close()
		return err
	}
	bw := bufio.NewWriterSize(zw, 1<<20)
	enc := json.NewEncoder(bw)
	applied := map[string]snapshotApplied{}
	for k, a := range m.applied {
		sa := snapshotApplied{Floor: a.floor}
		for s := range a.above {
			sa.Above = append(sa.Above, s)
		}
		applied[k] = sa
	}
	if err := enc.Encode(snapshotHeader{Format: "cofswitch-pdnsdb-1", Applied: applied, RRsets: m.Len()}); err != nil {
		tmp.Close()
		return err
	}
	for _, head := range m.sets {
		for sl := head; sl != nil; sl = sl.next {
			s := sl.cur.Load()
			if err := enc.Encode(snapshotRRset{s.RRName, s.RRType.String(), s.RData, s.TimeFirst, s.TimeLast,
				s.ZoneTimeFirst, s.ZoneTimeLast, s.HasZoneTimes, s.Count, s.Bailiwick, s.Sensors}); err != nil {
				tmp.Close()
				return err
			}
		}
	}
	if err := bw.Flush(); err != nil {
		tmp.Close()
		return err
	}
	if err := zw.Close(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), filepath.Join(dir, SnapshotFile)); err != nil {
		return fmt.Errorf("pdnsdb: snapshot: %w", err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// LoadMemStore reads dir/SnapshotFile into a new store, or returns an
// empty store when there is none yet.
func LoadMemStore(dir string) (*MemStore, error) {
	m, _ := NewMemStore()
	f, err := os.Open(filepath.Join(dir, SnapshotFile))
	if errors.Is(err, os.ErrNotExist) {
		return m, nil
	}
	if err != nil {
		return nil, fmt.Errorf("pdnsdb: %w", err)
	}
	defer f.Close()
	zr, err := zstd.NewReader(f)
	if err != nil {
		return nil, fmt.Errorf("pdnsdb: snapshot: %w", err)
	}
	defer zr.Close()
	dec := json.NewDecoder(bufio.NewReaderSize(zr, 1<<20))
	var h snapshotHeader
	if err := dec.Decode(&h); err != nil || h.Format != "cofswitch-pdnsdb-1" {
		return nil, fmt.Errorf("pdnsdb: %s is not a snapshot of this format (%v)", SnapshotFile, err)
	}
	for {
		var r snapshotRRset
		if err := dec.Decode(&r); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return nil, fmt.Errorf("pdnsdb: snapshot: %w", err)
		}
		t, ok := cof.ParseType(r.RRtype)
		if !ok {
			return nil, fmt.Errorf("pdnsdb: snapshot: rrtype %q", r.RRtype)
		}
		s := &RRset{RRName: r.RRname, RRType: t, RData: r.RData, TimeFirst: r.TimeFirst, TimeLast: r.TimeLast,
			ZoneTimeFirst: r.ZoneTimeFirst, ZoneTimeLast: r.ZoneTimeLast, HasZoneTimes: r.HasZone,
			Count: r.Count, Bailiwick: r.Bailiwick, Sensors: r.Sensors}
		m.insert(s)
	}
	if m.Len() != h.RRsets {
		return nil, fmt.Errorf("pdnsdb: snapshot holds %d rrsets, its header says %d", m.Len(), h.RRsets)
	}
	for k, v := range h.Applied {
		a := &appliedSet{floor: v.Floor, above: map[uint64]bool{}}
		for _, s := range v.Above {
			a.above[s] = true
		}
		m.applied[k] = a
	}
	return m, nil
}
