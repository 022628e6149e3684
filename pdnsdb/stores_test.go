package pdnsdb

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

// PGEnv names the variable holding the DSN of a PostgreSQL server for the
// tests (.ci/run starts one and sets it).
const PGEnv = "COFSWITCH_TEST_PG_DSN"

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
	dsn := os.Getenv(PGEnv)
	schema := fmt.Sprintf("t%d", rand.Uint64())
	conn, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatalf("postgres at %s: %v", PGEnv, err)
	}
	if _, err := conn.Exec(context.Background(), "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	conn.Close(context.Background())
	t.Cleanup(func() { dropSchema(dsn, schema) })
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	s, err := OpenPG(context.Background(), dsn+sep+"search_path="+schema)
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
		if os.Getenv(PGEnv) == "" {
			t.Skipf("no PostgreSQL: set %s to a DSN (.ci/run starts a server and sets it)", PGEnv)
		}
		suite(t, newPG)
	})
}

// dropSchema removes a test's schema, so that repeated runs against one
// server do not fill it.
func dropSchema(dsn, schema string) {
	conn, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		return
	}
	defer conn.Close(context.Background())
	_, _ = conn.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
}
