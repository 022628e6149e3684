package gen

import (
	"bytes"
	"errors"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/cofswitch/cofswitch/cof"
)

var now = time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)

// TestRecordsAreValidCOF parses every generated line with the codec the
// switch uses: a generated record is never dead-lettered.
func TestRecordsAreValidCOF(t *testing.T) {
	g, err := New(Options{Seed: 1, Names: 10_000, Sensors: []string{"s1", "s2"}, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	data := g.AppendLines(nil, 50_000)
	for n, line := range bytes.Split(bytes.TrimSuffix(data, []byte("\n")), []byte("\n")) {
		r, err := cof.Parse(line)
		if err != nil {
			t.Fatalf("line %d %s: %v", n+1, line, err)
		}
		if r.TimeFirst > r.TimeLast || r.TimeLast > now.Unix() || r.TimeFirst < now.Add(-31*24*time.Hour).Unix() {
			t.Fatalf("line %d: times %d..%d outside the window", n+1, r.TimeFirst, r.TimeLast)
		}
		if r.SensorID != "s1" && r.SensorID != "s2" {
			t.Fatalf("line %d: sensor_id %q", n+1, r.SensorID)
		}
		// Canonical already: the codec's normal form is what we wrote.
		if got := r.AppendLine(nil); !bytes.Equal(got, append(line, '\n')) {
			t.Fatalf("line %d is not canonical:\n%s\n%s", n+1, line, got)
		}
	}
}

func TestDeterministic(t *testing.T) {
	lines := func(seed uint64) []byte {
		g, err := New(Options{Seed: seed, Names: 1000, Now: now})
		if err != nil {
			t.Fatal(err)
		}
		return g.AppendLines(nil, 1000)
	}
	if !bytes.Equal(lines(7), lines(7)) {
		t.Error("the same seed gave different records")
	}
	if bytes.Equal(lines(7), lines(8)) {
		t.Error("different seeds gave the same records")
	}
}

// TestShape checks the mix the benchmarks rely on: Zipf popularity, the
// rrtype shares and the internal share, within sampling tolerance.
func TestShape(t *testing.T) {
	g, err := New(Options{Seed: 3, Names: 100_000, Internal: 0.1, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	const n = 200_000
	names := map[string]int{}
	types := map[cof.Type]int{}
	private := 0
	var r cof.Record
	for range n {
		g.Next(&r)
		names[r.RRName]++
		types[r.RRType]++
		if r.RRType == cof.TypeA {
			if a, err := netip.ParseAddr(r.RData[0]); err == nil && a.IsPrivate() {
				private++
			}
		}
	}
	counts := make([]int, 0, len(names))
	for _, c := range names {
		counts = append(counts, c)
	}
	slices.Sort(counts)
	slices.Reverse(counts)
	top := 0
	for _, c := range counts[:100] {
		top += c
	}
	// The 100 most popular names of 100,000 take a large share; a
	// uniform draw would give them 0.1%.
	if share := float64(top) / n; share < 0.2 {
		t.Errorf("top 100 names: %.1f%% of records, want Zipf-like (> 20%%)", share*100)
	}
	if len(names) < 5_000 {
		t.Errorf("only %d distinct names: the tail is missing", len(names))
	}
	for _, m := range typeMix {
		want := float64(m.share) / 1000 * (1 - 0.1)
		if m.t == cof.TypeA {
			want += 0.1 // the internal records are A records
		}
		if got := float64(types[m.t]) / n; got < want*0.85 || got > want*1.15 {
			t.Errorf("%s: %.3f of records, want about %.3f", m.t, got, want)
		}
	}
	if got := float64(private) / n; got < 0.08 || got > 0.12 {
		t.Errorf("private addresses in %.3f of records, want about 0.10", got)
	}
}

func TestNoInternal(t *testing.T) {
	g, err := New(Options{Seed: 5, Names: 1000, Internal: -1, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	var r cof.Record
	for range 20_000 {
		g.Next(&r)
		for _, v := range r.RData {
			if a, err := netip.ParseAddr(v); err == nil && (a.IsPrivate() || a.IsLoopback()) {
				t.Fatalf("private address %s with Internal < 0", v)
			}
		}
	}
}

func TestBadOptions(t *testing.T) {
	for _, o := range []Options{{Names: 3}, {Zipf: 1}, {Zipf: 0.5}, {Internal: 1.5}, {Window: time.Millisecond}} {
		if _, err := New(o); !errors.Is(err, ErrOptions) {
			t.Errorf("New(%+v) = %v, want ErrOptions", o, err)
		}
	}
}

func BenchmarkNext(b *testing.B) {
	g, err := New(Options{Seed: 1, Now: now})
	if err != nil {
		b.Fatal(err)
	}
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		buf = g.AppendLines(buf[:0], 1)
	}
}
