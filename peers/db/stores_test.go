package db

import (
	"context"
	"testing"

	"github.com/cofswitch/cofswitch/peers/db/pgtest"
)

func newMem(t *testing.T) Store {
	m, err := NewMemStore()
	if err != nil {
		t.Fatal(err)
	}
	return m
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

// forEachStore runs a suite against the embedded store and, when a server
// is given, PostgreSQL. Without one the PostgreSQL run is skipped, saying
// how to get it.
func forEachStore(t *testing.T, suite func(*testing.T, func(*testing.T) Store)) {
	t.Run("mem", func(t *testing.T) { suite(t, newMem) })
	t.Run("postgres", func(t *testing.T) {
		if !pgtest.Available() {
			t.Skipf("no PostgreSQL: set %s to a DSN (.ci/run starts a server and sets it)", pgtest.Env)
		}
		suite(t, newPG)
	})
}
