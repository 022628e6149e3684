package db

import (
	"os"
	"path/filepath"
	"testing"
)

func TestSnapshotRoundTrip(t *testing.T) {
	m := testStore(t, newMem).(*MemStore)
	dir := t.TempDir()
	if err := m.Save(dir); err != nil {
		t.Fatal(err)
	}
	back, err := LoadMemStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	if back.Len() != m.Len() {
		t.Fatalf("%d rrsets back, %d saved", back.Len(), m.Len())
	}
	if seq, _ := back.Applied(t.Context(), "PEER_p"); seq != 2 {
		t.Errorf("applied %d after load", seq)
	}
	for _, q := range []Query{{Name: "*.example.com"}, {RData: "www.example.com."}, {Name: "www.example.*"}} {
		a, _ := m.Lookup(t.Context(), q)
		b, _ := back.Lookup(t.Context(), q)
		if names(a) != names(b) {
			t.Errorf("%+v: %q before, %q after", q, names(a), names(b))
		}
	}
	got, _ := back.Lookup(t.Context(), Query{Name: "www.example.com", Type: 1})
	if got[0].Count != 5 || len(got[0].Sensors) != 2 || got[0].Bailiwick != "example.com" {
		t.Errorf("aggregate after load: %+v", got[0])
	}
	// No snapshot: an empty store. A damaged one: an error, not a silent empty store.
	if e, err := LoadMemStore(t.TempDir()); err != nil || e.Len() != 0 {
		t.Errorf("no snapshot: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, SnapshotFile), []byte("junk"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadMemStore(dir); err == nil {
		t.Error("a damaged snapshot loaded")
	}
}
