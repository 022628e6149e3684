package db

import (
	"fmt"
	"math"
	"math/rand/v2"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cofswitch/cofswitch/cof"
)

// BenchmarkDiskAtScale fills a disk store with COFSWITCH_SCALE rrsets
// (e.g. 10000000; unset: skipped) in the directory COFSWITCH_SCALE_DIR
// (default a temporary one) and reports what the issue of the database at
// pDNS scale asks: ingest records/s (1,000-record batches, each with its
// sequence, as the feed applies them), exact lookup p50/p99, a *.zone
// wildcard of 1,000 names, a /24, the peak RSS, disk bytes per rrset and
// the time to reopen and answer. Run it once:
//
//	COFSWITCH_SCALE=10000000 go test ./peers/db -run - -bench DiskAtScale -benchtime 1x -timeout 2h
//
// The names are h<i>.z<i mod zones>.example.com with 1,000 names per zone;
// nine rrsets in ten are A records (unique addresses), one in ten a CNAME
// to another name. COFSWITCH_SCALE_REUSE measures the lookups of a store
// an earlier run left in COFSWITCH_SCALE_DIR.
func BenchmarkDiskAtScale(b *testing.B) {
	n, _ := strconv.Atoi(os.Getenv("COFSWITCH_SCALE"))
	if n < 100000 {
		b.Skip("set COFSWITCH_SCALE to a number of rrsets (100000 or more)")
	}
	dir := os.Getenv("COFSWITCH_SCALE_DIR")
	if dir == "" {
		dir = b.TempDir()
	}
	zones := n / 1000
	rec := func(i int) *cof.Record {
		r := &cof.Record{RRName: fmt.Sprintf("h%d.z%d.example.com", i, i%zones), TimeFirst: 1700000000 + int64(i%86400), TimeLast: 1700100000,
			SensorID: "s" + strconv.Itoa(i%7)}
		if i%10 == 9 {
			r.RRType, r.RData = cof.TypeCNAME, []string{fmt.Sprintf("h%d.z%d.example.com.", i-1, (i-1)%zones)}
		} else {
			r.RRType, r.RData = cof.TypeA, []string{ipOf(i).String()}
		}
		return r
	}
	d, err := OpenDisk(dir, DiskOptions{})
	if err != nil {
		b.Fatal(err)
	}
	const per = 1000
	batch := make([]*cof.Record, 0, per)
	start := time.Now()
	if os.Getenv("COFSWITCH_SCALE_REUSE") != "" {
		// A store a run left in COFSWITCH_SCALE_DIR: measure lookups only.
		lookups(b, d, n, zones, "")
		d.Close()
		return
	}
	for i := range n {
		batch = append(batch, rec(i))
		if len(batch) == per {
			if _, err := d.Apply(b.Context(), "PEER_p", uint64(i/per+1), batch); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
			if (i/per)%500 == 499 {
				if err := d.Save(); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
	if err := d.Save(); err != nil {
		b.Fatal(err)
	}
	ingest := time.Since(start)
	b.ReportMetric(float64(n)/ingest.Seconds(), "records/s")
	b.ReportMetric(100*(float64(d.Len())/float64(n)-1), "count-error-%")

	lookups(b, d, n, zones, "")

	// Real feeds mostly observe known rrsets again: a merge operand each.
	m := min(n, 1000000)
	rng := rand.New(rand.NewPCG(3, 4))
	start = time.Now()
	seq := uint64(n/per + 2)
	for k := range m {
		batch = append(batch, rec(rng.IntN(n)))
		if len(batch) == per || k == m-1 {
			if _, err := d.Apply(b.Context(), "PEER_p", seq, batch); err != nil {
				b.Fatal(err)
			}
			seq++
			batch = batch[:0]
		}
	}
	if err := d.Save(); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(m)/time.Since(start).Seconds(), "known-records/s")
	if math.Abs(float64(d.Len())/float64(n)-1) > 0.03 {
		b.Fatalf("%d rrsets counted after observing known ones again, want %d within 3%%", d.Len(), n)
	}
	// Lookups above ran while compactions caught up with the ingest;
	// these run on a settled store, as a database is between bursts.
	t0 := time.Now()
	if err := d.Settle(); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(time.Since(t0).Seconds(), "settle-s")
	lookups(b, d, n, zones, "settled-")
	b.ReportMetric(float64(d.DiskBytes())/float64(n), "disk-bytes/rrset")
	if err := d.Close(); err != nil {
		b.Fatal(err)
	}
	start = time.Now()
	d, err = OpenDisk(dir, DiskOptions{})
	if err != nil {
		b.Fatal(err)
	}
	if got, err := d.Lookup(b.Context(), Query{Name: "h12345.z" + strconv.Itoa(12345%zones) + ".example.com"}); err != nil || len(got) != 1 {
		b.Fatalf("after reopening: %v %v", got, err)
	}
	b.ReportMetric(time.Since(start).Seconds(), "reopen-s")
	d.Close()
	b.ReportMetric(float64(peakRSS())/(1<<20), "peak-RSS-MiB")
	b.ReportMetric(0, "ns/op")
}

func ipOf(i int) netip.Addr {
	return netip.AddrFrom4([4]byte{byte(10 + i>>24&127), byte(i >> 16), byte(i >> 8), byte(i)})
}

// lookups measures the three kinds of lookup on a store built as above.
func lookups(b *testing.B, d *DiskStore, n, zones int, prefix string) {
	rng := rand.New(rand.NewPCG(1, 2))
	lat := make([]time.Duration, 0, 20000)
	for range 20000 {
		i := rng.IntN(n)
		name := fmt.Sprintf("h%d.z%d.example.com", i, i%zones)
		t0 := time.Now()
		got, err := d.Lookup(b.Context(), Query{Name: name})
		lat = append(lat, time.Since(t0))
		if err != nil || len(got) != 1 {
			b.Fatalf("%s: %d results, %v", name, len(got), err)
		}
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), prefix+"exact-p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), prefix+"exact-p99-µs")
	median := func(what string, want int, q func(int) Query) {
		var ts []time.Duration
		for k := range 11 {
			t0 := time.Now()
			got, err := d.Lookup(b.Context(), q(k))
			ts = append(ts, time.Since(t0))
			if err != nil || len(got) != want {
				b.Fatalf("%s: %d results, want %d, %v", what, len(got), want, err)
			}
		}
		slices.Sort(ts)
		b.ReportMetric(float64(ts[len(ts)/2].Microseconds()), prefix+what+"-µs")
	}
	median("wildcard1000", 1000, func(k int) Query {
		return Query{Name: "*.z" + strconv.Itoa(rng.IntN(zones)) + ".example.com"}
	})
	median("cidr24", 256*9/10+1, func(k int) Query {
		// A /24 whose 256 addresses are those of i = base..base+255,
		// less the CNAMEs (i%10 == 9): 230 or 231 A records.
		base := (rng.IntN(n/256-1) + 1) * 256
		base -= base % 2560 // so that the count is the same each time: 256 of 2560
		a := ipOf(base)
		return Query{IPFrom: a, IPTo: ipOf(base + 255)}
	})
	median("rdata-name", 1, func(k int) Query {
		i := rng.IntN(n/10-1)*10 + 8
		return Query{RData: fmt.Sprintf("h%d.z%d.example.com", i, i%zones)}
	})
}

// peakRSS reads the process's peak resident set (VmHWM) in bytes.
func peakRSS() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return -1
}
