package db

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// LockFile is the lock of an embedded store's directory.
const LockFile = "LOCK"

// ErrLocked reports a store directory that another process holds.
var ErrLocked = errors.New("pdnsdb: store directory in use by another process")

// LockDir takes the store directory for this process until the returned
// file is closed. Two writers of one snapshot would overwrite each other's
// merges (a 'db import' under a running 'db serve' would be lost at its
// next checkpoint), so the second one is refused. The lock is released by
// the kernel when the process dies, so a crash leaves nothing to clean.
func LockDir(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, LockFile), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("pdnsdb: lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w: %s", ErrLocked, dir)
		}
		return nil, fmt.Errorf("pdnsdb: lock %s: %w", dir, err)
	}
	return f, nil
}
