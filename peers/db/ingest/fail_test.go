package ingest_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cofswitch/cofswitch/cof"
	"github.com/cofswitch/cofswitch/peers/db"
	"github.com/cofswitch/cofswitch/peers/db/dbtest"
	"github.com/cofswitch/cofswitch/peers/db/ingest"
	"github.com/cofswitch/cofswitch/routing"
)

// failingStore is a real disk store whose Apply fails for a while, as a
// full disk or a lost database would make it.
type failingStore struct {
	db.Store
	fails atomic.Int64 // Apply calls left to fail
}

func (f *failingStore) Apply(ctx context.Context, stream string, seq uint64, recs []*cof.Record) (bool, error) {
	if f.fails.Add(-1) >= 0 {
		return false, errors.New("disk full")
	}
	return f.Store.Apply(ctx, stream, seq, recs)
}

// TestIngesterFailedApplyComesAgain: a batch the store failed to apply is
// not acked (nor passed by the applied floor): it comes again and is
// applied once the store works, so nothing is lost.
func TestIngesterFailedApplyComesAgain(t *testing.T) {
	_, cons := feedOf(t, 4, 10)
	st := &failingStore{Store: dbtest.New(t)}
	st.fails.Store(3)
	in := &ingest.Ingester{Consumer: cons, Stream: routing.PeerStream("p"), Store: st, Every: 50 * time.Millisecond}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- in.Run(ctx) }()
	for in.Stats().Batches < 4 && ctx.Err() == nil {
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	<-done
	s := in.Stats()
	if s.Batches != 4 || s.Failed != 3 {
		t.Fatalf("stats %+v: want the 4 batches applied after 3 failures", s)
	}
	got, err := st.Lookup(t.Context(), db.Query{Name: "*.example"})
	if err != nil || len(got) != 20 {
		t.Fatalf("%d rrsets, %v; want the 20 of the 4 batches", len(got), err)
	}
	for _, r := range got {
		if r.Count != 2 {
			t.Fatalf("%s counted %d times, want 2 (each rrset in two batches)", r.RRName, r.Count)
		}
	}
}
