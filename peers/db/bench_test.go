package db

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/cofswitch/cofswitch/cof"
	"github.com/cofswitch/cofswitch/peers/db/pgtest"
)

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
	batches := distinctBatches(b, b.N, per)
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

// distinctBatches makes n batches of per records, each of its own rrset.
func distinctBatches(b *testing.B, n, per int) [][]*cof.Record {
	var p cof.Parser
	batches := make([][]*cof.Record, n)
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
	return batches
}
