// Package dbtest opens real peer database stores for the tests of other
// packages.
package dbtest

import (
	"testing"

	"github.com/cofswitch/cofswitch/peers/db"
)

// New opens a disk store in a fresh temporary directory, with a small
// cache, closed when the test ends.
func New(t testing.TB) *db.DiskStore {
	t.Helper()
	d, err := db.OpenDisk(t.TempDir(), db.DiskOptions{CacheBytes: 8 << 20, MemTableBytes: 4 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}
