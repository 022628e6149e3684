package backfill_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/cofswitch/cofswitch/cof"
	"github.com/cofswitch/cofswitch/gen"
	"github.com/cofswitch/cofswitch/routing"
	"github.com/cofswitch/cofswitch/switch/backfill"
	"github.com/cofswitch/cofswitch/switch/exchange"
)

// benchLate is withLate's exchange with peer late taking s1 as it is.
const benchLate = before + `
  - {id: late, subscriptions: [{sensors: [s1], policy: pass, tlp: CLEAR}]}
`

// BenchmarkBackfill re-switches an archive of 100,000 'cofswitch gen'
// records (200 zstd batches of 500, as 'gen --publish' sends them) for a
// peer under the pass policy, on an embedded server in the same process,
// without a rate limit and at the default 20,000 records a second. It
// reports the records a second delivered and the archive's bytes a
// record: as the stream counts them, and as its files take on disk.
func BenchmarkBackfill(b *testing.B) {
	w := start(b, before)
	g, err := gen.New(gen.Options{Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	codec, _ := cof.NewCodec()
	defer codec.Close()
	const batches, per = 200, 500
	for range batches {
		m := nats.NewMsg(routing.InSubject("s1"))
		m.Data, _ = codec.Compress(nil, g.AppendLines(nil, per), cof.Zstd)
		m.Header.Set("Content-Encoding", "zstd")
		if _, err := w.js.PublishMsg(w.ctx, m); err != nil {
			b.Fatal(err)
		}
	}
	w.waitArchived(batches)
	s, _ := w.js.Stream(w.ctx, routing.ArchiveStream)
	records := float64(batches * per)
	stored, onDisk := float64(s.CachedInfo().State.Bytes), float64(dirSize(b, w.dir, routing.ArchiveStream))
	cfg := w.reload(benchLate)
	kv, err := w.js.KeyValue(w.ctx, routing.BackfillBucket)
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name string
		rate int
	}{{"unlimited", -1}, {"rate=20000", backfill.DefaultRate}} {
		b.Run(bc.name, func(b *testing.B) {
			var took time.Duration
			var delivered int64
			for b.Loop() {
				b.StopTimer()
				_ = kv.Delete(w.ctx, routing.BackfillKey("late"))
				_ = w.js.DeleteStream(w.ctx, routing.PeerStream("late"))
				if err := exchange.EnsureStreams(w.ctx, w.js, cfg); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				p, err := backfill.Run(w.ctx, w.js, backfill.Options{Config: cfg, Peer: "late", Secret: w.secret, Rate: bc.rate})
				if err != nil || p.Records != batches*per {
					b.Fatalf("%d records (%v)", p.Records, err)
				}
				took += p.Elapsed
				delivered += p.Records
			}
			b.ReportMetric(float64(delivered)/took.Seconds(), "records/s")
			b.ReportMetric(stored/records, "archive-B/record")
			b.ReportMetric(onDisk/records, "archive-disk-B/record")
		})
	}
}

// dirSize is the bytes of the files under dir in directories named name.
func dirSize(tb testing.TB, dir, name string) int64 {
	var n int64
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if rel, _ := filepath.Rel(dir, path); containsDir(rel, name) {
			if fi, err := os.Stat(path); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return n
}

func containsDir(rel, name string) bool {
	for d := filepath.Dir(rel); d != "." && d != "/"; d = filepath.Dir(d) {
		if filepath.Base(d) == name {
			return true
		}
	}
	return false
}
