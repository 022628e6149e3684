package aggregate

import (
	"strconv"
	"testing"
	"time"

	"github.com/cofswitch/cofswitch/cof"
)

// BenchmarkAdd adds records drawn from a fixed number of distinct keys,
// flushing every 10,000 adds as a sensor would every so often; with
// 200,000 keys for 100,000 places, most adds evict the oldest key.
func BenchmarkAdd(b *testing.B) {
	for _, keys := range []int{100, 10_000, 200_000} {
		b.Run(strconv.Itoa(keys)+"keys", func(b *testing.B) {
			recs := make([]cof.Record, max(keys, 4096))
			for i := range recs {
				k := i * 7919 % keys
				recs[i] = cof.Record{RRName: "host" + strconv.Itoa(k) + ".example.com", RRType: cof.TypeA,
					RData: []string{"192.0.2." + strconv.Itoa(k%256)}, TimeFirst: 1_700_000_000, TimeLast: 1_700_000_000}
			}
			out := 0
			a, _ := New(func(*cof.Record) { out++ }, WithMaxKeys(100_000), WithWindow(time.Minute))
			now := time.Unix(1_700_000_000, 0)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				a.Add(&recs[i%len(recs)], now)
				if i%10_000 == 0 {
					now = now.Add(time.Second)
					a.Flush(now)
				}
			}
			a.FlushAll()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
			b.ReportMetric(a.Stats().Reduction(), "reduction")
		})
	}
}
