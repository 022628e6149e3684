package db

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/klauspost/compress/zstd"
)

// oldSnapshot is what the in-memory store of earlier versions saved.
const oldSnapshot = `{"format":"cofswitch-pdnsdb-1","applied":{"PEER_p":{"floor":7,"above":[9]}},"rrsets":2}
{"rrname":"www.example.com","rrtype":"A","rdata":["192.0.2.1"],"time_first":90,"time_last":250,"count":5,"bailiwick":"example.com","sensors":["s1","s2"]}
{"rrname":"www.example.org","rrtype":"CNAME","rdata":["www.example.com."],"time_first":10,"time_last":20,"count":1}
`

func writeOldSnapshot(t *testing.T, dir, body string) {
	t.Helper()
	var buf bytes.Buffer
	zw, _ := zstd.NewWriter(&buf)
	zw.Write([]byte(body))
	zw.Close()
	if err := os.WriteFile(filepath.Join(dir, SnapshotFile), buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestMigrateSnapshot: a store directory of an earlier version opens with
// its rrsets and applied sequences, once.
func TestMigrateSnapshot(t *testing.T) {
	dir := t.TempDir()
	writeOldSnapshot(t, dir, oldSnapshot)
	for round := range 2 {
		st, err := Open(t.Context(), OpenOptions{Dir: dir})
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		got, _ := st.Store.Lookup(t.Context(), Query{Name: "www.example.com"})
		if len(got) != 1 || got[0].Count != 5 || got[0].TimeFirst != 90 || got[0].Bailiwick != "example.com" || len(got[0].Sensors) != 2 {
			t.Errorf("round %d: %+v", round, got)
		}
		if got, _ := st.Store.Lookup(t.Context(), Query{RData: "www.example.com"}); names(got) != "www.example.org/CNAME" {
			t.Errorf("round %d: rdata index %q", round, names(got))
		}
		if seq, _ := st.Store.Applied(t.Context(), "PEER_p"); seq != 7 {
			t.Errorf("round %d: applied %d, want 7", round, seq)
		}
		if ok, _ := st.Store.Apply(t.Context(), "PEER_p", 9, nil); ok {
			t.Errorf("round %d: sequence 9 was applied before the migration and again after", round)
		}
		if u, _ := st.Usage(t.Context()); u.RRsets != 2 {
			t.Errorf("round %d: %d rrsets counted", round, u.RRsets)
		}
		st.Close()
		if _, err := os.Stat(filepath.Join(dir, SnapshotFile+".migrated")); err != nil {
			t.Errorf("round %d: the snapshot was not set aside: %v", round, err)
		}
	}
	// A damaged snapshot is an error, not a silently empty store.
	bad := t.TempDir()
	writeOldSnapshot(t, bad, "junk")
	if _, err := Open(t.Context(), OpenOptions{Dir: bad}); err == nil {
		t.Error("a damaged snapshot was taken")
	}
}
