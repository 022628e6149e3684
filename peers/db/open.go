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
}

// Close closes the store and frees the directory's lock.
func (o *Opened) Close() { o.close() }

// Open opens PostgreSQL when postgresDSN is set, else the embedded store
// under dir, locked to this process and loaded from its snapshot.
func Open(ctx context.Context, dir, postgresDSN string) (*Opened, error) {
	if postgresDSN != "" {
		pg, err := OpenPG(ctx, postgresDSN)
		if err != nil {
			return nil, err
		}
		return &Opened{Store: pg, close: func() { pg.Close() }}, nil
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
	}, nil
}
