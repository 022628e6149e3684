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

// SnapshotFile is the name of the snapshot that the in-memory store of
// earlier versions kept in its directory: zstd-compressed NDJSON, a header line with the applied
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

// migrateSnapshot moves the rrsets and applied sequences of a store
// directory written by the in-memory store of earlier versions (one zstd
// snapshot) into d, then renames the snapshot to SnapshotFile+".migrated"
// so that it is read once. It does nothing when there is no snapshot.
// A crash midway leaves the snapshot in place; the next start reads it
// again into a store that the crash left partly filled, so the counts of
// what the first attempt merged would double: the rrsets are therefore
// written with Set (idempotent), not merged.
func migrateSnapshot(dir string, d *DiskStore, log func(rrsets int)) error {
	name := filepath.Join(dir, SnapshotFile)
	f, err := os.Open(name)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("pdnsdb: %w", err)
	}
	defer f.Close()
	zr, err := zstd.NewReader(f)
	if err != nil {
		return fmt.Errorf("pdnsdb: snapshot: %w", err)
	}
	defer zr.Close()
	dec := json.NewDecoder(bufio.NewReaderSize(zr, 1<<20))
	var h snapshotHeader
	if err := dec.Decode(&h); err != nil || h.Format != "cofswitch-pdnsdb-1" {
		return fmt.Errorf("pdnsdb: %s is not a snapshot of this format (%v)", SnapshotFile, err)
	}
	var batch []*RRset
	n := 0
	for {
		var r snapshotRRset
		err := dec.Decode(&r)
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("pdnsdb: snapshot: %w", err)
		}
		if err == nil {
			t, ok := cof.ParseType(r.RRtype)
			if !ok {
				return fmt.Errorf("pdnsdb: snapshot: rrtype %q", r.RRtype)
			}
			batch = append(batch, &RRset{RRName: r.RRname, RRType: t, RData: r.RData, TimeFirst: r.TimeFirst, TimeLast: r.TimeLast,
				ZoneTimeFirst: r.ZoneTimeFirst, ZoneTimeLast: r.ZoneTimeLast, HasZoneTimes: r.HasZone,
				Count: r.Count, Bailiwick: r.Bailiwick, Sensors: r.Sensors})
		}
		if len(batch) == 10000 || err != nil && len(batch) > 0 {
			if err := d.put(batch); err != nil {
				return err
			}
			n += len(batch)
			batch = batch[:0]
		}
		if err != nil {
			break
		}
	}
	if n != h.RRsets {
		return fmt.Errorf("pdnsdb: snapshot holds %d rrsets, its header says %d", n, h.RRsets)
	}
	for stream, a := range h.Applied {
		if err := d.restoreApplied(stream, a.Floor, a.Above); err != nil {
			return err
		}
	}
	if err := d.Save(); err != nil {
		return err
	}
	if log != nil {
		log(n)
	}
	return os.Rename(name, name+".migrated")
}
