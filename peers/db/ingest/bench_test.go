package ingest_test

import (
	"context"
	"fmt"
	"math"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/cofswitch/cofswitch/cof"
	"github.com/cofswitch/cofswitch/peers/db"
	"github.com/cofswitch/cofswitch/peers/db/ingest"
	"github.com/cofswitch/cofswitch/routing"
	"github.com/cofswitch/cofswitch/switch/exchange/exchangetest"
)

// BenchmarkIngestFeed measures the database fed from its stream, as
// 'db serve' runs it: a peer stream on an embedded server holds
// COFSWITCH_FEED_RECORDS records (default 200,000) of distinct rrsets in
// zstd batches of 1,000, and the Ingester applies them to a disk store
// and checkpoints. It reports records/s from the first fetch to the last
// record applied.
func BenchmarkIngestFeed(b *testing.B) {
	n := 200000
	if v, err := strconv.Atoi(os.Getenv("COFSWITCH_FEED_RECORDS")); err == nil && v > 0 {
		n = v
	}
	const per = 1000
	for range b.N {
		b.StopTimer()
		_, js := exchangetest.PeerFeed(b)
		for i := 0; i < n; i += per {
			var body []byte
			for j := i; j < i+per && j < n; j++ {
				body = fmt.Appendf(body, `{"rrname":"h%d.z%d.example.com","rrtype":"A","rdata":["10.%d.%d.%d"],"time_first":1700000000,"time_last":1700000100,"count":2,"sensor_id":"s%d"}`+"\n",
					j, j%(n/1000+1), j>>16&255, j>>8&255, j&255, j%7)
			}
			exchangetest.Store(b, js, body, cof.Zstd, nil)
		}
		st, err := db.Open(b.Context(), db.OpenOptions{Dir: b.TempDir()})
		if err != nil {
			b.Fatal(err)
		}
		m := ingest.NewMetrics()
		in := &ingest.Ingester{Consumer: exchangetest.Consumer(b, js), Stream: routing.PeerStream(exchangetest.Peer),
			Store: st.Store, Save: st.Save, Every: time.Second, Metrics: m}
		ctx, cancel := context.WithCancel(b.Context())
		done := make(chan error, 1)
		b.StartTimer()
		start := time.Now()
		go func() { done <- in.Run(ctx) }()
		for in.Stats().Records < uint64(n) {
			time.Sleep(time.Millisecond)
		}
		elapsed := time.Since(start)
		b.StopTimer()
		cancel()
		if err := <-done; err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(n)/elapsed.Seconds(), "records/s")
		if u, _ := st.Usage(b.Context()); math.Abs(float64(u.RRsets)/float64(n)-1) > 0.03 {
			b.Fatalf("%d rrsets counted, want %d within 3%%", u.RRsets, n)
		}
		st.Close()
	}
	b.ReportMetric(0, "ns/op")
}
