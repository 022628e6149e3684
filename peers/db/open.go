package db

import (
	"context"
	"errors"
	"fmt"
	"os"
)

// ErrStoreDir reports a store directory that cannot be made or used.
var ErrStoreDir = errors.New("db: store directory")

// Opened is a store opened for one process.
type Opened struct {
	Store Store
	// Save makes what Store holds durable: the embedded store's snapshot.
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

// Ready reports whether the store can answer: the embedded store always
// can once open; PostgreSQL must answer a ping.
func (o *Opened) Ready(ctx context.Context) error { return o.ready(ctx) }

// Open opens PostgreSQL when postgresDSN is set, else the embedded store
// under dir, locked to this process and loaded from its snapshot.
func Open(ctx context.Context, dir, postgresDSN string) (*Opened, error) {
	if postgresDSN != "" {
		pg, err := OpenPG(ctx, postgresDSN)
		if err != nil {
			return nil, err
		}
		return &Opened{Store: pg, close: func() { pg.Close() }, usage: pg.Usage, ready: pg.Ping}, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrStoreDir, err)
	}
	lock, err := LockDir(dir)
	if err != nil {
		return nil, err
	}
	mem, err := LoadMemStore(dir)
	if err != nil {
		lock.Close()
		return nil, err
	}
	return &Opened{
		Store: mem,
		Save:  func() error { return mem.Save(dir) },
		close: func() { mem.Close(); lock.Close() },
		usage: func(context.Context) (Usage, error) {
			n, err := snapshotBytes(dir)
			return Usage{RRsets: int64(mem.Len()), Bytes: n}, err
		},
		ready: func(context.Context) error { return nil },
	}, nil
}
