package db

import (
	"context"
	"testing"

	"github.com/cofswitch/cofswitch/peers/db/pgtest"
)

func newDisk(t *testing.T) Store { return openDisk(t) }

// openDisk opens a disk store in a fresh directory, closed with the test.
func openDisk(t testing.TB) *DiskStore {
	t.Helper()
	d, err := OpenDisk(t.TempDir(), DiskOptions{CacheBytes: 8 << 20, MemTableBytes: 4 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// newPG opens a store in a fresh schema of the test server.
func newPG(t *testing.T) Store { return newPGb(t) }

func newPGb(t testing.TB) Store {
	t.Helper()
	s, err := OpenPG(context.Background(), pgtest.DSN(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// forEachStore runs a suite against the disk store and, when a server
// is given, PostgreSQL. Without one the PostgreSQL run is skipped, saying
// how to get it.
func forEachStore(t *testing.T, suite func(*testing.T, func(*testing.T) Store)) {
	t.Run("disk", func(t *testing.T) { suite(t, newDisk) })
	t.Run("postgres", func(t *testing.T) {
		if !pgtest.Available() {
			t.Skipf("no PostgreSQL: set %s to a DSN (.ci/run starts a server and sets it)", pgtest.Env)
		}
		suite(t, newPG)
	})
}
