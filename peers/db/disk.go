package db

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"path/filepath"
	"sync"
	"sync/atomic"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
)

// DiskStore is the embedded store: rrsets in a Pebble LSM (the class of
// store balboa keeps in RocksDB), merged by a merge operator, with
// indexes for names, rdata names, rdata values and addresses (see
// diskkeys.go). Writes are blind, as an LSM wants them: an observation is
// a merge operand and its index entries are (idempotent) sets, never a
// read first; entries already written for an rrset seen lately are not
// written again (a bounded cache). A batch, its index entries, the
// sketches that count the rrsets and its applied sequence are one atomic
// write, so a crash loses nothing the last Save made durable and applies
// nothing twice; nothing is ever rewritten whole. Memory is the block
// cache, the memtables and the cache of recent rrsets, all set by
// DiskOptions, whatever the size of the data.
type DiskStore struct {
	db   *pebble.DB
	mu   sync.Mutex   // one writer: Apply, AdvanceApplied
	size atomic.Int64 // the rrsets sketch's estimate, for lock-free reads

	rrsets  *sketch            // distinct rrsets
	sensors map[string]*sketch // distinct rrsets by the sensor that made them
	hash    *keyedHash         // keys, sketches and the recent set hash with the store's secret
	indexed *recent            // rrsets whose index entries were written lately

	maxExamined int // entries one lookup may examine

	quota    int
	refused  map[string]uint64
	onRefuse func(sensor string)
}

// DiskOptions size the disk store's memory.
type DiskOptions struct {
	// CacheBytes is the block cache (default DefaultCacheBytes).
	CacheBytes int64
	// MemTableBytes is the size of one memtable; up to two are held
	// (default DefaultMemTableBytes).
	MemTableBytes int64
	// RecentRRsets is how many rrsets the store remembers as indexed,
	// so that observing them again writes one merge operand only
	// (default DefaultRecentRRsets, about 40 bytes each).
	RecentRRsets int
	// MaxExamined bounds the entries one lookup examines (default
	// MaxExamined).
	MaxExamined int
	// Logger receives Pebble's own messages (default: discarded).
	Logger *slog.Logger
}

// Defaults of DiskOptions: with them the store holds about 300 MiB
// whatever its size on disk.
const (
	DefaultCacheBytes    = 192 << 20
	DefaultMemTableBytes = 32 << 20
	DefaultRecentRRsets  = 500_000
)

// DefaultSensorQuota is the rrsets one sensor may create in the disk
// store by default: enough for a national resolver's year, and a bound on
// the disk one sensor's feed can fill.
const DefaultSensorQuota = 100_000_000

// DiskDir is the folder of a store directory that holds the LSM.
const DiskDir = "rrsets"

// diskFormat is the layout of keys and values (diskkeys.go,
// diskvalue.go); a store of another format is refused.
const diskFormat = "cofswitch-pdnsdb-disk-1"

// ErrFormat reports a store written in a layout this version cannot read.
var ErrFormat = errors.New("pdnsdb: disk store: unknown format")

// OpenDisk opens (or creates) the disk store in dir/DiskDir. The caller
// holds dir's lock (LockDir): Pebble's own lock would only say "resource
// temporarily unavailable".
func OpenDisk(dir string, o DiskOptions) (*DiskStore, error) {
	if o.CacheBytes <= 0 {
		o.CacheBytes = DefaultCacheBytes
	}
	if o.MemTableBytes <= 0 {
		o.MemTableBytes = DefaultMemTableBytes
	}
	if o.RecentRRsets <= 0 {
		o.RecentRRsets = DefaultRecentRRsets
	}
	if o.MaxExamined <= 0 {
		o.MaxExamined = MaxExamined
	}
	cache := pebble.NewCache(o.CacheBytes)
	defer cache.Unref()
	opts := &pebble.Options{
		Cache:                       cache,
		MemTableSize:                uint64(o.MemTableBytes),
		MemTableStopWritesThreshold: 4,
		Merger:                      merger,
		MaxOpenFiles:                1000,
		Logger:                      pebbleLogger{o.Logger},
	}
	opts.Levels[0].FilterPolicy = bloom.FilterPolicy(10)
	opts.Levels[0].BlockSize = 16 << 10
	opts.EnsureDefaults()
	db, err := pebble.Open(filepath.Join(dir, DiskDir), opts)
	if err != nil {
		return nil, fmt.Errorf("pdnsdb: disk store %s: %w", dir, err)
	}
	d := &DiskStore{db: db, rrsets: newSketch(storeSketchP), sensors: map[string]*sketch{},
		indexed: newRecent(o.RecentRRsets), refused: map[string]uint64{}, maxExamined: o.MaxExamined}
	if err := d.load(); err != nil {
		db.Close()
		return nil, err
	}
	return d, nil
}

// load checks the format (writing it in a new store) and reads the
// counters.
func (d *DiskStore) load() error {
	v, closer, err := d.db.Get(formatKey)
	switch {
	case errors.Is(err, pebble.ErrNotFound):
		if err := d.db.Set(formatKey, []byte(diskFormat), pebble.Sync); err != nil {
			return fmt.Errorf("pdnsdb: disk store: %w", err)
		}
	case err != nil:
		return fmt.Errorf("pdnsdb: disk store: %w", err)
	default:
		f := string(v)
		closer.Close()
		if f != diskFormat {
			return fmt.Errorf("%w %q (this version reads %q)", ErrFormat, f, diskFormat)
		}
	}
	secret, err := d.secret()
	if err != nil {
		return err
	}
	d.hash = newKeyedHash(secret)
	it, err := d.db.NewIter(&pebble.IterOptions{LowerBound: []byte{spaceSketch}, UpperBound: []byte{spaceSketch + 1}})
	if err != nil {
		return fmt.Errorf("pdnsdb: disk store: %w", err)
	}
	defer it.Close()
	for it.First(); it.Valid(); it.Next() {
		k := it.Key()
		var err error
		switch {
		case bytes.Equal(k, rrsetsSketchKey):
			d.rrsets, err = readSketch(d.rrsets, it.Value())
		case len(k) > 2 && k[1] == 'q':
			sensor, _, ok := readEscaped(k[2:])
			if !ok {
				err = errBadValue
				break
			}
			var s *sketch
			if s, err = readSketch(newSketch(sensorSketchP), it.Value()); err == nil {
				d.sensors[string(sensor)] = s
			}
		}
		if err != nil {
			return fmt.Errorf("pdnsdb: disk store: the count of rrsets (%q): %w", k, err)
		}
	}
	d.size.Store(d.rrsets.count())
	return it.Error()
}

// secret returns the store's secret, making it in a new store.
func (d *DiskStore) secret() ([]byte, error) {
	v, closer, err := d.db.Get(secretKey)
	if err == nil {
		defer closer.Close()
		if len(v) != 32 {
			return nil, fmt.Errorf("pdnsdb: disk store: the store's secret is %d bytes, want 32", len(v))
		}
		return bytes.Clone(v), nil
	}
	if !errors.Is(err, pebble.ErrNotFound) {
		return nil, fmt.Errorf("pdnsdb: disk store: %w", err)
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	if err := d.db.Set(secretKey, key, pebble.Sync); err != nil {
		return nil, fmt.Errorf("pdnsdb: disk store: %w", err)
	}
	return key, nil
}

// SetSensorQuota bounds the rrsets each sensor may create (0: no bound;
// the count is an estimate within about 2%): past it, a record of that
// sensor that would make a new rrset is refused and counted (Refused);
// records of existing rrsets still merge (a sensor over its quota costs
// a read per record to tell which). onRefuse,
// if set, is told the first time each sensor is refused in this process.
func (d *DiskStore) SetSensorQuota(max int, onRefuse func(sensor string)) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.quota, d.onRefuse = max, onRefuse
}

// Refused returns the new rrsets refused over the quota, by sensor.
func (d *DiskStore) Refused() map[string]uint64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return maps.Clone(d.refused)
}

// Save makes every applied batch durable (it syncs the write-ahead log).
func (d *DiskStore) Save() error {
	if err := d.db.LogData(nil, pebble.Sync); err != nil {
		return fmt.Errorf("pdnsdb: disk store: sync: %w", err)
	}
	return nil
}

// Settle writes the memtables out and compacts the whole store, so that
// no background work is left: for tests and tools that measure a lookup
// alone. It takes as long as a full compaction.
func (d *DiskStore) Settle() error {
	if err := d.db.Flush(); err != nil {
		return fmt.Errorf("pdnsdb: disk store: %w", err)
	}
	if err := d.db.Compact(context.Background(), []byte{0}, []byte{0xff}, true); err != nil {
		return fmt.Errorf("pdnsdb: disk store: %w", err)
	}
	return nil
}

// Len returns the number of rrsets held, without a lock: an estimate
// within about 1% (see sketch).
func (d *DiskStore) Len() int { return int(d.size.Load()) }

// DiskBytes returns the size of the store's files.
func (d *DiskStore) DiskBytes() int64 {
	return int64(d.db.Metrics().DiskSpaceUsage())
}

// Close syncs and closes the store.
func (d *DiskStore) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.db == nil {
		return nil
	}
	err := d.Save()
	if cerr := d.db.Close(); err == nil {
		err = cerr
	}
	d.db = nil
	return err
}

// pebbleLogger passes Pebble's messages to slog; fatal ones end the
// process, as Pebble requires.
type pebbleLogger struct{ l *slog.Logger }

func (p pebbleLogger) Infof(format string, args ...any) {
	if p.l != nil {
		p.l.Debug("pebble: " + fmt.Sprintf(format, args...))
	}
}

func (p pebbleLogger) Errorf(format string, args ...any) {
	if p.l != nil {
		p.l.Error("pebble: " + fmt.Sprintf(format, args...))
	}
}

func (p pebbleLogger) Fatalf(format string, args ...any) {
	panic(fmt.Sprintf("pebble: "+format, args...))
}
