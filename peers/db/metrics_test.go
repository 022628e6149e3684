package db

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cofswitch/cofswitch/cof"
	"github.com/cofswitch/cofswitch/peers/db/pgtest"
)

// distinct makes n A records of distinct rrsets, r<from+i>.example.
func distinct(t *testing.T, from, n int) []*cof.Record {
	t.Helper()
	var recs []*cof.Record
	for i := range n {
		r, err := cof.Parse(fmt.Appendf(nil, `{"rrname":"r%d.example","rrtype":"A","rdata":["192.0.2.1"],"time_first":1,"time_last":2}`, from+i))
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, &r)
	}
	return recs
}

// gauges reads the Collector's gauges by name; absent ones are missing.
func gauges(t *testing.T, c *Collector) map[string]float64 {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		out[mf.GetName()] = mf.GetMetric()[0].GetGauge().GetValue()
	}
	return out
}

// TestUsageDisk: the rrsets are counted by the store's HyperLogLog
// sketch (linear counting at this size: exact unless two of the 25 share
// one of its 16,384 registers, 1.8% of runs, which reads 24), and the
// size is that of the store's files.
func TestUsageDisk(t *testing.T) {
	dir := t.TempDir()
	o, err := Open(t.Context(), OpenOptions{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	c := NewCollector(o.Usage)
	if _, err := o.Store.Apply(t.Context(), "S", 1, distinct(t, 0, 25)); err != nil {
		t.Fatal(err)
	}
	if err := o.Save(); err != nil {
		t.Fatal(err)
	}
	var onDisk int64
	filepath.WalkDir(filepath.Join(dir, DiskDir), func(_ string, e os.DirEntry, _ error) error {
		if fi, err := e.Info(); err == nil && fi.Mode().IsRegular() {
			onDisk += fi.Size()
		}
		return nil
	})
	g := gauges(t, c)
	if math.Abs(g["cofswitch_db_rrsets"]-25) > 1 || g["cofswitch_db_store_bytes"] <= 0 || g["cofswitch_db_store_bytes"] > float64(onDisk) {
		t.Errorf("%v, want 25 (±1) rrsets and up to the %d bytes of the store's files", g, onDisk)
	}
	if err := o.Ready(t.Context()); err != nil {
		t.Errorf("Ready: %v", err)
	}
}

// TestUsageNotOpen: a collector whose store is not open yet exposes
// nothing, and the scrape still succeeds.
func TestUsageNotOpen(t *testing.T) {
	c := NewCollector(func(context.Context) (Usage, error) { return Usage{}, ErrNotOpen })
	if g := gauges(t, c); len(g) != 0 {
		t.Errorf("gauges of a store not open: %v", g)
	}
}

// TestUsagePostgres: the size of the tables and the estimate of rrsets
// are read from PostgreSQL at most every UsageEvery.
func TestUsagePostgres(t *testing.T) {
	o, err := Open(t.Context(), OpenOptions{PostgresDSN: pgtest.DSN(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	pg := o.Store.(*PGStore)
	now := time.Unix(1e9, 0)
	pg.now = func() time.Time { return now }
	if _, err := pg.Apply(t.Context(), "S", 1, distinct(t, 0, 40)); err != nil {
		t.Fatal(err)
	}
	if _, err := pg.pool.Exec(t.Context(), "ANALYZE rrset"); err != nil {
		t.Fatal(err)
	}
	first, err := o.Usage(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if first.RRsets != 40 || first.Bytes <= 0 {
		t.Fatalf("usage %+v, want 40 rrsets and some bytes", first)
	}
	if _, err := pg.Apply(t.Context(), "S", 2, distinct(t, 40, 2000)); err != nil {
		t.Fatal(err)
	}
	if _, err := pg.pool.Exec(t.Context(), "ANALYZE rrset"); err != nil {
		t.Fatal(err)
	}
	now = now.Add(UsageEvery - time.Second)
	if u, _ := o.Usage(t.Context()); u != first {
		t.Errorf("usage %+v within %v of the last reading, want the cached %+v", u, UsageEvery, first)
	}
	now = now.Add(time.Second)
	if u, _ := o.Usage(t.Context()); u.RRsets != 2040 || u.Bytes <= first.Bytes {
		t.Errorf("usage %+v after %v, want 2040 rrsets in more than %d bytes", u, UsageEvery, first.Bytes)
	}
	if err := o.Ready(t.Context()); err != nil {
		t.Errorf("Ready: %v", err)
	}
}
