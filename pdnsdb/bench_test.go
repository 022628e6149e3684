package pdnsdb

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/cofswitch/cofswitch/cof"
)

// BenchmarkIngest applies 500-record batches of distinct rrsets to the
// embedded store and reports records/s and heap per million rrsets.
func BenchmarkIngest(b *testing.B) {
	const per = 500
	m, _ := NewMemStore()
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
