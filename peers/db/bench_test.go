package db

import (
	"fmt"
	"net/netip"
	"os"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/cofswitch/cofswitch/cof"
	"github.com/cofswitch/cofswitch/peers/db/pgtest"
)

// BenchmarkIngest applies 500-record batches of distinct rrsets to the
// embedded store and reports records/s and heap per million rrsets.
func BenchmarkIngest(b *testing.B) {
	const per = 500
	m := openDisk(b)
	var p cof.Parser
	mk := func(i int) *cof.Record {
		var r cof.Record
		line := fmt.Appendf(nil, `{"rrname":"host%d.zone%d.example.com","rrtype":"A","rdata":["%d.%d.%d.%d"],"time_first":1700000000,"time_last":1700000100,"count":3,"sensor_id":"s1"}`,
			i, i%1000, 10+i>>24&127, i>>16&255, i>>8&255, i&255)
		if err := p.Parse(line, &r); err != nil {
			b.Fatal(err)
		}
		return &r
	}
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	batches := make([][]*cof.Record, b.N)
	for i := range batches {
		batches[i] = make([]*cof.Record, per)
		for j := range per {
			batches[i][j] = mk(i*per + j)
		}
	}
	b.ResetTimer()
	start := time.Now()
	for i, batch := range batches {
		if _, err := m.Apply(b.Context(), "s", uint64(i+1), batch); err != nil {
			b.Fatal(err)
		}
	}
	elapsed := time.Since(start)
	b.StopTimer()
	batches = nil
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	n := float64(b.N * per)
	b.ReportMetric(n/elapsed.Seconds(), "records/s")
	b.ReportMetric((float64(after.HeapAlloc)-float64(before.HeapAlloc))/n*1e6/(1<<20), "MiB/Mrrsets")
	runtime.KeepAlive(m)
	b.ReportMetric(0, "ns/op")
}

// BenchmarkLookupAt1M fills the store with 1,000,000 rrsets and measures
// lookups: exact names (p50, p99 over b.N), a left-hand wildcard over one
// zone (1,000 names) and a /24 of addresses.
func BenchmarkLookupAt1M(b *testing.B) {
	const n, per = 1000000, 1000
	m := openDisk(b)
	var p cof.Parser
	batch := make([]*cof.Record, 0, per)
	for i := range n {
		var r cof.Record
		line := fmt.Appendf(nil, `{"rrname":"host%d.zone%d.example.com","rrtype":"A","rdata":["%d.%d.%d.%d"],"time_first":1700000000,"time_last":1700000100}`,
			i, i%1000, 10+i>>24&127, i>>16&255, i>>8&255, i&255)
		if err := p.Parse(line, &r); err != nil {
			b.Fatal(err)
		}
		batch = append(batch, &r)
		if len(batch) == per {
			if _, err := m.Apply(b.Context(), "s", uint64(i/per+1), batch); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		name := fmt.Sprintf("host%d.zone%d.example.com", (i*7919)%n, (i*7919)%n%1000)
		t0 := time.Now()
		got, err := m.Lookup(b.Context(), Query{Name: name})
		lat = append(lat, time.Since(t0))
		if err != nil || len(got) != 1 {
			b.Fatalf("%s: %d results, %v", name, len(got), err)
		}
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
	t0 := time.Now()
	got, _ := m.Lookup(b.Context(), Query{Name: "*.zone7.example.com"})
	b.ReportMetric(float64(time.Since(t0).Microseconds()), "wildcard-µs")
	if len(got) != 1000 {
		b.Fatalf("wildcard: %d", len(got))
	}
	t0 = time.Now()
	got, _ = m.Lookup(b.Context(), Query{IPFrom: netip.MustParseAddr("10.1.2.0"), IPTo: netip.MustParseAddr("10.1.2.255")})
	b.ReportMetric(float64(time.Since(t0).Microseconds()), "cidr24-µs")
	if len(got) != 256 {
		b.Fatalf("cidr: %d", len(got))
	}
	b.ReportMetric(0, "ns/op")
}

// BenchmarkIngestPG applies 500-record batches of distinct rrsets to the
// PostgreSQL store (needs COFSWITCH_TEST_PG_DSN) and reports records/s.
func BenchmarkIngestPG(b *testing.B) {
	if !pgtest.Available() {
		b.Skipf("no PostgreSQL: set %s", pgtest.Env)
	}
	per := 500
	if v := os.Getenv("COFSWITCH_BENCH_PG_BATCH"); v != "" {
		fmt.Sscan(v, &per)
	}
	st := newPGb(b)
	var p cof.Parser
	batches := make([][]*cof.Record, b.N)
	for i := range batches {
		for j := range per {
			k := i*per + j
			var r cof.Record
			line := fmt.Appendf(nil, `{"rrname":"host%d.zone%d.example.com","rrtype":"A","rdata":["%d.%d.%d.%d"],"time_first":1700000000,"time_last":1700000100,"count":3,"sensor_id":"s1"}`,
				k, k%1000, 10+k>>24&127, k>>16&255, k>>8&255, k&255)
			if err := p.Parse(line, &r); err != nil {
				b.Fatal(err)
			}
			batches[i] = append(batches[i], &r)
		}
	}
	b.ResetTimer()
	start := time.Now()
	for i, batch := range batches {
		if _, err := st.Apply(b.Context(), "s", uint64(i+1), batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*per)/time.Since(start).Seconds(), "records/s")
	b.ReportMetric(0, "ns/op")
}
