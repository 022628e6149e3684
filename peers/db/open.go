package db

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
)

// ErrStoreDir reports a store directory that cannot be made or used.
var ErrStoreDir = errors.New("db: store directory")

// Opened is a store opened for one process.
type Opened struct {
	Store Store
	// Save makes what Store holds durable: the disk store syncs its log.
	// It is nil for PostgreSQL, which commits as it goes.
	Save  func() error
	close func()
	usage func(context.Context) (Usage, error)
	ready func(context.Context) error
}

// Close closes the store and frees the directory's lock.
func (o *Opened) Close() { o.close() }

// Usage returns how much the store holds (see Usage); PostgreSQL is asked
// at most every UsageEvery.
func (o *Opened) Usage(ctx context.Context) (Usage, error) { return o.usage(ctx) }

// Ready reports whether the store can answer: the disk store always can
// once open; PostgreSQL must answer a ping.
func (o *Opened) Ready(ctx context.Context) error { return o.ready(ctx) }

// OpenOptions say which store Open opens and how.
type OpenOptions struct {
	// Dir is the disk store's directory (unless PostgresDSN is set).
	Dir string
	// PostgresDSN, when set, keeps the rrsets in PostgreSQL.
	PostgresDSN string
	// Disk sizes the disk store's memory.
	Disk DiskOptions
	// Log, if set, is told of a migration from an older store.
	Log *slog.Logger
}

// Open opens PostgreSQL when o.PostgresDSN is set, else the disk store
// under o.Dir, locked to this process. A directory that holds the
// snapshot of an earlier version's in-memory store is migrated first.
func Open(ctx context.Context, o OpenOptions) (*Opened, error) {
	if o.PostgresDSN != "" {
		pg, err := OpenPG(ctx, o.PostgresDSN)
		if err != nil {
			return nil, err
		}
		return &Opened{Store: pg, close: func() { pg.Close() }, usage: pg.Usage, ready: pg.Ping}, nil
	}
	if err := os.MkdirAll(o.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrStoreDir, err)
	}
	lock, err := LockDir(o.Dir)
	if err != nil {
		return nil, err
	}
	d, err := OpenDisk(o.Dir, o.Disk)
	if err != nil {
		lock.Close()
		return nil, err
	}
	err = migrateSnapshot(o.Dir, d, func(n int) {
		if o.Log != nil {
			o.Log.Info("migrated the snapshot of an earlier version into the disk store", "rrsets", n,
				"kept_as", SnapshotFile+".migrated")
		}
	})
	if err != nil {
		d.Close()
		lock.Close()
		return nil, fmt.Errorf("pdnsdb: migrating %s: %w", SnapshotFile, err)
	}
	return &Opened{
		Store: d,
		Save:  d.Save,
		close: func() { d.Close(); lock.Close() },
		usage: func(context.Context) (Usage, error) {
			return Usage{RRsets: int64(d.Len()), Bytes: d.DiskBytes()}, nil
		},
		ready: func(context.Context) error { return nil },
	}, nil
}
