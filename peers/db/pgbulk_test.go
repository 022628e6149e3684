package db

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cofswitch/cofswitch/cof"
	"github.com/cofswitch/cofswitch/peers/db/pgtest"
)

// bulkApplied is a PGStore whose Apply loads with LoadBatch, so that the
// store suite's lookups check what LoadBatch merges and indexes.
type bulkApplied struct{ *PGStore }

func (b bulkApplied) Apply(ctx context.Context, _ string, _ uint64, recs []*cof.Record) (bool, error) {
	return true, b.LoadBatch(ctx, recs)
}

func newPGBulk(t *testing.T) Store {
	return bulkApplied{newPG(t).(*PGStore)}
}

// TestPGLoadBatchLookups runs the store suite's lookups on rrsets that
// LoadBatch stored.
func TestPGLoadBatchLookups(t *testing.T) {
	if !pgtest.Available() {
		t.Skipf("no PostgreSQL: set %s", pgtest.Env)
	}
	suites := []struct {
		name  string
		suite func(*testing.T, func(*testing.T) Store)
	}{
		{name: "lookups", suite: testLookups},
		{name: "rdata", suite: testRDataLookups},
		{name: "pagination", suite: testPagination},
		{name: "rdata paging", suite: testRDataPaging},
	}
	for _, s := range suites {
		t.Run(s.name, func(t *testing.T) { s.suite(t, newPGBulk) })
	}
}

// TestPGLoadBatchMergesAsApply: LoadBatch and Apply leave the same rrsets
// after the same batches, merged within and across them.
func TestPGLoadBatchMergesAsApply(t *testing.T) {
	if !pgtest.Available() {
		t.Skipf("no PostgreSQL: set %s", pgtest.Env)
	}
	batches := [][]*cof.Record{
		records(t,
			`{"rrname":"a.example","rrtype":"A","rdata":["192.0.2.1"],"time_first":100,"time_last":200,"count":2,"bailiwick":"example","sensor_id":"s2"}`,
			`{"rrname":"a.example","rrtype":"A","rdata":["192.0.2.1"],"time_first":50,"time_last":150,"bailiwick":"a.example","sensor_id":"s1"}`,
			`{"rrname":"z.example","rrtype":"NS","rdata":["ns1.example.net.","ns2.example.net."],"time_first":10,"time_last":20,"zone_time_first":5,"zone_time_last":25}`,
			`{"rrname":"t.example","rrtype":"TXT","rdata":["\"hello\""],"time_first":1,"time_last":2}`),
		records(t,
			`{"rrname":"a.example","rrtype":"A","rdata":["192.0.2.1"],"time_first":70,"time_last":300,"count":4,"bailiwick":"com","sensor_id":"s3"}`,
			`{"rrname":"z.example","rrtype":"NS","rdata":["ns2.example.net.","ns1.example.net."],"time_first":8,"time_last":9,"zone_time_first":1,"zone_time_last":30,"sensor_id":"s1"}`,
			`{"rrname":"z.example","rrtype":"NS","rdata":["ns1.example.net.","ns2.example.net."],"time_first":12,"time_last":40}`),
	}
	applied, loaded := newPG(t).(*PGStore), newPG(t).(*PGStore)
	for _, b := range batches {
		if _, err := applied.Apply(t.Context(), "import", 0, b); err != nil {
			t.Fatal(err)
		}
		if err := loaded.LoadBatch(t.Context(), b); err != nil {
			t.Fatal(err)
		}
	}
	for _, q := range []Query{{Name: "*.example"}, {RData: "ns1.example.net"}, {RData: `"hello"`}, {RData: "192.0.2.1"}} {
		want, err := applied.Lookup(t.Context(), q)
		if err != nil {
			t.Fatal(err)
		}
		got, err := loaded.Lookup(t.Context(), q)
		if err != nil {
			t.Fatal(err)
		}
		if len(want) == 0 || !reflect.DeepEqual(got, want) {
			t.Errorf("%+v: loaded %s, applied %s", q, dump(got), dump(want))
		}
	}
	got, _ := loaded.Lookup(t.Context(), Query{Name: "a.example"})
	if s := got[0]; s.Count != 7 || s.TimeFirst != 50 || s.TimeLast != 300 || s.Bailiwick != "a.example" || !slices.Equal(s.Sensors, []string{"s1", "s2", "s3"}) {
		t.Errorf("merged %+v", s)
	}
}

func dump(sets []*RRset) string {
	var b strings.Builder
	for _, s := range sets {
		fmt.Fprintf(&b, "%+v\n", *s)
	}
	return b.String()
}

// TestPGImportFile: ImportFile loads with LoadBatch, skipping invalid
// lines, and what it loads answers lookups.
func TestPGImportFile(t *testing.T) {
	st := newPG(t)
	var lines []string
	for i := range 2*bulkBatch + 10 {
		lines = append(lines, fmt.Sprintf(`{"rrname":"h%d.example","rrtype":"A","rdata":["10.0.%d.%d"],"time_first":1,"time_last":2}`, i%(bulkBatch+7), i>>8&255, i&255))
	}
	lines = append(lines, `{"rrname":"bad"}`, `{"rrname":"c.example","rrtype":"CNAME","rdata":["h1.example."],"time_first":1,"time_last":2}`)
	name := filepath.Join(t.TempDir(), "in.cof")
	if err := os.WriteFile(name, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var progress []int
	n, invalid, err := ImportFile(t.Context(), st, name, ImportOptions{Progress: func(merged int, _ int64) { progress = append(progress, merged) }})
	if err != nil || n != len(lines)-1 || invalid != 1 {
		t.Fatalf("imported %d, %d invalid, %v", n, invalid, err)
	}
	if !slices.Equal(progress, []int{bulkBatch, 2 * bulkBatch, n}) {
		t.Errorf("progress %v: not one call per bulk batch", progress)
	}
	got, err := st.Lookup(t.Context(), Query{Name: "h3.example"})
	if err != nil || len(got) != 2 {
		t.Fatalf("h3.example: %d rrsets, %v", len(got), err)
	}
	if got, err := st.Lookup(t.Context(), Query{RData: "H1.example"}); err != nil || names(got) != "c.example/CNAME" {
		t.Errorf("rdata of an imported CNAME: %q %v", names(got), err)
	}
}

// BenchmarkPGLoad loads 20,000-record batches of distinct rrsets with
// LoadBatch (needs COFSWITCH_TEST_PG_DSN) and reports records/s, to set
// beside BenchmarkIngestPG (Apply).
func BenchmarkPGLoad(b *testing.B) {
	if !pgtest.Available() {
		b.Skipf("no PostgreSQL: set %s", pgtest.Env)
	}
	st := newPGb(b).(*PGStore)
	batches := distinctBatches(b, b.N, bulkBatch)
	b.ResetTimer()
	start := time.Now()
	for _, batch := range batches {
		if err := st.LoadBatch(b.Context(), batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*bulkBatch)/time.Since(start).Seconds(), "records/s")
	b.ReportMetric(0, "ns/op")
}
