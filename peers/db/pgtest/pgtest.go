// Package pgtest gives tests a fresh schema on a real PostgreSQL server:
// the one COFSWITCH_TEST_PG_DSN names (.ci/run starts a throwaway server
// and sets it). Without it the test is skipped, saying how to run it.
package pgtest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

// Env is the variable that names the test server.
const Env = "COFSWITCH_TEST_PG_DSN"

// Available reports whether a test server is configured.
func Available() bool { return os.Getenv(Env) != "" }

// DSN creates a schema of its own for the test on the server Env names
// and returns a DSN whose search_path is that schema, so that tests never
// see each other's tables. The schema is dropped when the test ends.
func DSN(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv(Env)
	if dsn == "" {
		t.Skipf("no PostgreSQL: set %s to a DSN (.ci/run starts a server and sets it)", Env)
	}
	schema := fmt.Sprintf("t%d", rand.Uint64())
	conn, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatalf("PostgreSQL at %s: %v", Env, err)
	}
	if _, err := conn.Exec(context.Background(), "CREATE SCHEMA "+schema); err != nil {
		conn.Close(context.Background())
		t.Fatalf("PostgreSQL at %s: %v", Env, err)
	}
	t.Cleanup(func() {
		_, _ = conn.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
		conn.Close(context.Background())
	})
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	return dsn + sep + "search_path=" + schema
}
