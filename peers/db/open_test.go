package db_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cofswitch/cofswitch/cof"
	"github.com/cofswitch/cofswitch/peers/db"
)

func TestOpenAndImport(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "store")
	st, err := db.Open(t.Context(), db.OpenOptions{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("store directory %v, %v: want mode 0700", fi, err)
	}
	if _, err := db.Open(t.Context(), db.OpenOptions{Dir: dir}); !errors.Is(err, db.ErrLocked) {
		t.Fatalf("a second open: %v, want ErrLocked", err)
	}
	in := filepath.Join(t.TempDir(), "in.ndjson")
	os.WriteFile(in, []byte(`{"rrname":"a.example","rrtype":"A","rdata":"192.0.2.1","time_first":10,"time_last":20,"count":2}
not json
{"rrname":"a.example","rrtype":"A","rdata":"192.0.2.1","time_first":5,"time_last":30}
`), 0o600)
	var bad []int
	var progress int
	n, invalid, err := db.ImportFile(t.Context(), st.Store, in, db.ImportOptions{
		Invalid:  func(line int, _ *cof.Error) { bad = append(bad, line) },
		Progress: func(m int, _ int64) { progress = m },
	})
	if err != nil || n != 2 || invalid != 1 || len(bad) != 1 || bad[0] != 2 || progress != 2 {
		t.Fatalf("import: %d merged, %d invalid (lines %v), progress %d, %v", n, invalid, bad, progress, err)
	}
	if err := st.Save(); err != nil {
		t.Fatal(err)
	}
	st.Close()

	// Reopened, the store holds the merged rrset.
	st, err = db.Open(t.Context(), db.OpenOptions{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rs, err := st.Store.Lookup(t.Context(), db.Query{Name: "a.example"})
	if err != nil || len(rs) != 1 || rs[0].Count != 3 || rs[0].TimeFirst != 5 || rs[0].TimeLast != 30 {
		t.Fatalf("after reopening: %+v, %v", rs, err)
	}

	if _, _, err := db.ImportFile(t.Context(), st.Store, filepath.Join(t.TempDir(), "none"), db.ImportOptions{}); !errors.Is(err, db.ErrInput) {
		t.Fatalf("a missing file: %v, want ErrInput", err)
	}
}

func TestOpenRefusesAFileAsStore(t *testing.T) {
	f := filepath.Join(t.TempDir(), "file")
	os.WriteFile(f, nil, 0o600)
	if _, err := db.Open(t.Context(), db.OpenOptions{Dir: f}); !errors.Is(err, db.ErrStoreDir) || !strings.Contains(err.Error(), "not a directory") {
		t.Fatalf("err = %v, want ErrStoreDir", err)
	}
}
