package db

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/cofswitch/cofswitch/cof"
)

func records(t *testing.T, lines ...string) []*cof.Record {
	t.Helper()
	var out []*cof.Record
	for _, l := range lines {
		out = append(out, mustRecord(t, l))
	}
	return out
}

// testStore fills a store of the kind newStore makes.
func testStore(t *testing.T, newStore func(*testing.T) Store) Store {
	t.Helper()
	m := newStore(t)
	batches := [][]*cof.Record{
		records(t,
			`{"rrname":"www.example.com","rrtype":"A","rdata":["192.0.2.1"],"time_first":100,"time_last":200,"count":2,"bailiwick":"example.com","sensor_id":"s1"}`,
			`{"rrname":"mail.example.com","rrtype":"A","rdata":["192.0.2.20","198.51.100.5"],"time_first":300,"time_last":400,"sensor_id":"s1"}`,
			`{"rrname":"example.com","rrtype":"NS","rdata":["ns1.example.net.","ns2.example.net."],"time_first":50,"time_last":500,"bailiwick":"com"}`,
			`{"rrname":"www.example.org","rrtype":"CNAME","rdata":["www.example.com."],"time_first":10,"time_last":20}`,
			`{"rrname":"v6.example.com","rrtype":"AAAA","rdata":["2001:db8::1"],"time_first":1000,"time_last":2000}`,
		),
		records(t,
			`{"rrname":"www.example.com","rrtype":"A","rdata":["192.0.2.1"],"time_first":90,"time_last":250,"count":3,"bailiwick":"example.com","sensor_id":"s2"}`,
			`{"rrname":"www.example.com","rrtype":"AAAA","rdata":["2001:db8::80"],"time_first":100,"time_last":200}`,
			`{"rrname":"deep.www.example.com","rrtype":"A","rdata":["203.0.113.9"],"time_first":100,"time_last":200}`,
		),
	}
	for i, b := range batches {
		if ok, err := m.Apply(t.Context(), "PEER_p", uint64(i+1), b); err != nil || !ok {
			t.Fatalf("batch %d: %v %v", i, ok, err)
		}
	}
	return m
}

func names(sets []*RRset) string {
	var out []string
	for _, s := range sets {
		out = append(out, s.RRName+"/"+s.RRType.String())
	}
	slices.Sort(out)
	return strings.Join(out, " ")
}

func TestLookups(t *testing.T) { forEachStore(t, testLookups) }

func testLookups(t *testing.T, newStore func(*testing.T) Store) {
	m := testStore(t, newStore)
	tests := []struct {
		name string
		q    Query
		want string
	}{
		{"exact", Query{Name: "www.example.com"}, "www.example.com/A www.example.com/AAAA"},
		{"exact with type", Query{Name: "www.example.com", Type: cof.TypeA}, "www.example.com/A"},
		{"exact with bailiwick", Query{Name: "www.example.com", Bailiwick: "example.com"}, "www.example.com/A"},
		{"no such name", Query{Name: "nope.example.com"}, ""},
		{"left-hand wildcard", Query{Name: "*.example.com"}, "deep.www.example.com/A mail.example.com/A v6.example.com/AAAA www.example.com/A www.example.com/AAAA"},
		{"left-hand wildcard is below only", Query{Name: "*.www.example.com"}, "deep.www.example.com/A"},
		{"right-hand wildcard", Query{Name: "www.example.*"}, "www.example.com/A www.example.com/AAAA www.example.org/CNAME"},
		{"rdata name", Query{RData: "www.example.com."}, "www.example.org/CNAME"},
		{"rdata right-hand wildcard", Query{RData: "ns1.example.*"}, "example.com/NS"},
		{"rdata address", Query{RData: "198.51.100.5"}, "mail.example.com/A"},
		{"cidr v4", Query{IPFrom: netip.MustParseAddr("192.0.2.0"), IPTo: netip.MustParseAddr("192.0.2.255")}, "mail.example.com/A www.example.com/A"},
		{"cidr v6", Query{IPFrom: netip.MustParseAddr("2001:db8::"), IPTo: netip.MustParseAddr("2001:db8::ffff")}, "v6.example.com/AAAA www.example.com/AAAA"},
		{"range", Query{IPFrom: netip.MustParseAddr("198.51.100.1"), IPTo: netip.MustParseAddr("203.0.113.255")}, "deep.www.example.com/A mail.example.com/A"},
		{"single address", Query{IPFrom: netip.MustParseAddr("203.0.113.9"), IPTo: netip.MustParseAddr("203.0.113.9")}, "deep.www.example.com/A"},
		{"time_first_before", Query{Name: "*.example.com", TimeFirstBefore: 100}, "www.example.com/A"},
		{"time_first_after", Query{Name: "*.example.com", TimeFirstAfter: 200}, "mail.example.com/A v6.example.com/AAAA"},
		{"time_last_before", Query{Name: "*.example.com", TimeLastBefore: 250}, "deep.www.example.com/A www.example.com/AAAA"},
		{"time_last_after", Query{Name: "*.example.com", TimeLastAfter: 400}, "v6.example.com/AAAA"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := m.Lookup(t.Context(), tt.q)
			if err != nil {
				t.Fatal(err)
			}
			if names(got) != tt.want {
				t.Errorf("got %q, want %q", names(got), tt.want)
			}
		})
	}
	if _, err := m.Lookup(t.Context(), Query{}); err == nil {
		t.Error("an empty query was answered")
	}
}

func TestAggregationAndExactlyOnce(t *testing.T) { forEachStore(t, testAggregation) }

func testAggregation(t *testing.T, newStore func(*testing.T) Store) {
	m := testStore(t, newStore)
	got, _ := m.Lookup(t.Context(), Query{Name: "www.example.com", Type: cof.TypeA})
	s := got[0]
	if s.Count != 5 || s.TimeFirst != 90 || s.TimeLast != 250 || !slices.Equal(s.Sensors, []string{"s1", "s2"}) {
		t.Errorf("aggregate %+v", s)
	}
	// A redelivered batch (same sequence) changes nothing.
	again := records(t, `{"rrname":"www.example.com","rrtype":"A","rdata":["192.0.2.1"],"time_first":1,"time_last":999,"count":100}`)
	if ok, err := m.Apply(t.Context(), "PEER_p", 2, again); err != nil || ok {
		t.Fatalf("redelivery applied: %v %v", ok, err)
	}
	got, _ = m.Lookup(t.Context(), Query{Name: "www.example.com", Type: cof.TypeA})
	if got[0].Count != 5 || got[0].TimeFirst != 90 {
		t.Errorf("redelivery counted: %+v", got[0])
	}
	if seq, _ := m.Applied(t.Context(), "PEER_p"); seq != 2 {
		t.Errorf("applied %d", seq)
	}
	// The returned rrset is a snapshot: later merges do not change it.
	if ok, _ := m.Apply(t.Context(), "PEER_p", 3, again); !ok {
		t.Fatal("next batch not applied")
	}
	if s.Count != 5 {
		t.Errorf("an rrset handed out was modified by a later merge: count %d", s.Count)
	}
}

// TestAppliedSet: a batch whose first delivery was lost is applied when it
// comes again, even after later ones; a batch applied is never applied
// twice; the consumer's ack floor fills holes left by deleted messages.
func TestAppliedSet(t *testing.T) { forEachStore(t, testAppliedSet) }

func testAppliedSet(t *testing.T, newStore func(*testing.T) Store) {
	m := newStore(t)
	rec := records(t, `{"rrname":"a.example","rrtype":"A","rdata":["192.0.2.1"],"time_first":1,"time_last":2}`)
	apply := func(seq uint64) bool {
		ok, err := m.Apply(t.Context(), "s", seq, rec)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	for _, seq := range []uint64{1, 2, 4, 5} { // 3 lost in transit
		if !apply(seq) {
			t.Fatalf("seq %d not applied", seq)
		}
	}
	if apply(4) || apply(1) {
		t.Error("a redelivery was applied twice")
	}
	if !apply(3) {
		t.Error("the lost delivery was skipped when it came again")
	}
	if floor, _ := m.Applied(t.Context(), "s"); floor != 5 {
		t.Errorf("floor %d, want 5", floor)
	}
	apply(8) // 6 and 7 deleted by retention
	if err := m.AdvanceApplied(t.Context(), "s", 7); err != nil {
		t.Fatal(err)
	}
	if floor, _ := m.Applied(t.Context(), "s"); floor != 8 {
		t.Errorf("floor %d after the ack floor passed the holes, want 8", floor)
	}
	got, _ := m.Lookup(t.Context(), Query{Name: "a.example"})
	if got[0].Count != 6 {
		t.Errorf("count %d, want 6 (seqs 1-5 and 8)", got[0].Count)
	}
}

func TestPagination(t *testing.T) { forEachStore(t, testPagination) }

// testPagination pages through walks of each index kind: every rrset comes
// once, although an rrset with several addresses in the range (or several
// values under the prefix) has several entries in the walk.
func testPagination(t *testing.T, newStore func(*testing.T) Store) {
	m := newStore(t)
	var batch []*cof.Record
	for i := range 25 {
		batch = append(batch,
			mustRecord(t, fmt.Sprintf(`{"rrname":"h%02d.example.com","rrtype":"A","rdata":["192.0.2.%d","192.0.2.%d","198.51.100.1"],"time_first":1,"time_last":2}`, i, i+1, 200-i)),
			mustRecord(t, fmt.Sprintf(`{"rrname":"z%02d.example.net","rrtype":"NS","rdata":["pool.hoster%d.example.","pool.hoster%d.example."],"time_first":1,"time_last":2}`, i, i, 99-i)))
	}
	if _, err := m.Apply(t.Context(), "s", 1, batch); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		q    Query
	}{
		{name: "names", q: Query{Name: "*.example.com"}},
		{name: "addresses, three per rrset", q: Query{IPFrom: netip.MustParseAddr("192.0.0.0"), IPTo: netip.MustParseAddr("199.0.0.0")}},
		{name: "rdata prefix, two values per rrset", q: Query{RData: "pool.*"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var all []string
			for off := 0; ; off += 10 {
				q := tt.q
				q.Offset, q.Limit = off, 10
				page, err := m.Lookup(t.Context(), q)
				if err != nil {
					t.Fatal(err)
				}
				for _, s := range page {
					all = append(all, s.RRName)
				}
				if len(page) < 10 {
					break
				}
			}
			distinct := len(slices.Compact(slices.Sorted(slices.Values(all))))
			if len(all) != 25 || distinct != 25 {
				t.Errorf("pages gave %d rrsets (%d distinct), want 25", len(all), distinct)
			}
		})
	}
}

// TestOffsetPastTheEnd: an offset past every match answers nothing (the
// collector keeps nothing of what it skips).
func TestOffsetPastTheEnd(t *testing.T) {
	m := openDisk(t)
	const n = 5000
	var batch []*cof.Record
	for i := range n {
		batch = append(batch, mustRecord(t, fmt.Sprintf(`{"rrname":"h%d.big.example","rrtype":"A","rdata":["10.0.%d.%d","10.1.%d.%d"],"time_first":1,"time_last":2}`, i, i>>8&255, i&255, i>>8&255, i&255)))
	}
	if _, err := m.Apply(t.Context(), "s", 1, batch); err != nil {
		t.Fatal(err)
	}
	for _, q := range []Query{
		{Name: "*.big.example"},
		{IPFrom: netip.MustParseAddr("10.0.0.0"), IPTo: netip.MustParseAddr("10.255.255.255")},
	} {
		q.Offset = n - 1
		if got, err := m.Lookup(t.Context(), q); err != nil || len(got) != 1 {
			t.Fatalf("%+v: %d rrsets, %v; want the last one", q, len(got), err)
		}
		q.Offset = 1 << 40
		if got, err := m.Lookup(t.Context(), q); err != nil || len(got) != 0 {
			t.Fatalf("offset past the end: %d rrsets, %v", len(got), err)
		}
	}
}

// TestSensorQuota: past its quota a sensor creates no new rrset; its
// records of known rrsets still merge, and another sensor is unaffected.
func TestSensorQuota(t *testing.T) {
	m := openDisk(t)
	var told []string
	m.SetSensorQuota(3, func(s string) { told = append(told, s) })
	rec := func(name, sensor string) *cof.Record {
		r, err := cof.Parse(fmt.Appendf(nil, `{"rrname":%q,"rrtype":"A","rdata":"192.0.2.1","time_first":1,"time_last":2,"count":1,"sensor_id":%q}`, name, sensor))
		if err != nil {
			t.Fatal(err)
		}
		return &r
	}
	var batch []*cof.Record
	for i := range 10 {
		batch = append(batch, rec(fmt.Sprintf("n%d.example", i), "flood"))
	}
	batch = append(batch, rec("n0.example", "flood"), rec("other.example", "calm"))
	if _, err := m.Apply(t.Context(), "s", 1, batch); err != nil {
		t.Fatal(err)
	}
	// Len is a HyperLogLog estimate: two of the 4 may share a register.
	if n := m.Len(); n != 4 && n != 3 {
		t.Fatalf("store holds %d rrsets, want 3 of the flood's and 1 of the other", n)
	}
	rs, _ := m.Lookup(t.Context(), Query{Name: "n0.example"})
	if len(rs) != 1 || rs[0].Count != 2 {
		t.Fatalf("a known rrset of the capped sensor did not merge: %+v", rs)
	}
	if r := m.Refused(); r["flood"] != 7 || r["calm"] != 0 || len(told) != 1 || told[0] != "flood" {
		t.Fatalf("refused %v, told %v", r, told)
	}
}

// TestLookupExaminesABoundedNumber: a wildcard with a filter that keeps
// none of the zone's rrsets stops after the store's bound, with an error
// that says how to narrow it, instead of walking the whole zone.
func TestLookupExaminesABoundedNumber(t *testing.T) {
	d, err := OpenDisk(t.TempDir(), DiskOptions{MaxExamined: 500})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	var batch []*cof.Record
	for i := range 2000 {
		batch = append(batch, mustRecord(t, fmt.Sprintf(`{"rrname":"h%d.wide.example","rrtype":"A","rdata":["10.9.%d.%d"],"time_first":1,"time_last":2}`, i, i>>8, i&255)))
	}
	if _, err := d.Apply(t.Context(), "s", 1, batch); err != nil {
		t.Fatal(err)
	}
	for _, q := range []Query{
		{Name: "*.wide.example", Type: cof.TypeAAAA},
		{IPFrom: netip.MustParseAddr("10.9.0.0"), IPTo: netip.MustParseAddr("10.9.255.255"), TimeLastAfter: 100},
		{Name: "*.wide.example", Offset: 1000},
	} {
		if _, err := d.Lookup(t.Context(), q); !errors.Is(err, ErrBadQuery) || !strings.Contains(err.Error(), "narrow it") {
			t.Errorf("%+v: %v, want ErrBadQuery saying to narrow it", q, err)
		}
	}
	if got, err := d.Lookup(t.Context(), Query{Name: "*.wide.example", Limit: 100}); err != nil || len(got) != 100 {
		t.Errorf("a walk that fills its limit early: %d, %v", len(got), err)
	}
}

// TestSensorQuotaSurvivesReopen: the counts behind the quota are kept in
// the store, whatever bytes a sensor_id holds.
func TestSensorQuotaSurvivesReopen(t *testing.T) {
	dir := t.TempDir()
	d, err := OpenDisk(dir, DiskOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var batch []*cof.Record
	for i := range 5 {
		batch = append(batch, &cof.Record{RRName: fmt.Sprintf("n%d.example", i), RRType: cof.TypeA, RData: []string{"192.0.2.1"},
			TimeFirst: 1, TimeLast: 2, SensorID: "odd\x00id"})
	}
	if _, err := d.Apply(t.Context(), "s", 1, batch); err != nil {
		t.Fatal(err)
	}
	d.Close()
	d, err = OpenDisk(dir, DiskOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	// The sensor's count is a HyperLogLog estimate: two of its 5 rrsets
	// may share a register and read 4. A quota of 3 is reached either way;
	// a count lost at the reopening reads 0.
	d.SetSensorQuota(3, nil)
	more := []*cof.Record{{RRName: "new.example", RRType: cof.TypeA, RData: []string{"192.0.2.1"}, TimeFirst: 1, TimeLast: 2, SensorID: "odd\x00id"}}
	if _, err := d.Apply(t.Context(), "s", 2, more); err != nil {
		t.Fatal(err)
	}
	if r := d.Refused(); r["odd\x00id"] != 1 {
		t.Errorf("refused %v after reopening: the sensor's count was lost", r)
	}
}

// TestHugeRRset: an rrset of 3,000 addresses (one 41 KB record) costs
// index space in proportion to its values, not their square (each entry
// listing every address made one such record 220 MB on disk), and walks
// still answer it once, at any offset.
func TestHugeRRset(t *testing.T) {
	d := openDisk(t)
	var addrs []string
	for i := range 3000 {
		addrs = append(addrs, fmt.Sprintf("10.7.%d.%d", i>>8, i&255))
	}
	big := &cof.Record{RRName: "big.example", RRType: cof.TypeA, RData: addrs, TimeFirst: 1, TimeLast: 2}
	small := &cof.Record{RRName: "small.example", RRType: cof.TypeA, RData: []string{"10.7.0.1", "10.7.0.2"}, TimeFirst: 1, TimeLast: 2}
	if _, err := d.Apply(t.Context(), "s", 1, []*cof.Record{big, small}); err != nil {
		t.Fatal(err)
	}
	if err := d.Settle(); err != nil {
		t.Fatal(err)
	}
	if n := d.DiskBytes(); n > 4<<20 {
		t.Errorf("the store takes %d bytes for 3,002 addresses", n)
	}
	q := Query{IPFrom: netip.MustParseAddr("10.7.0.0"), IPTo: netip.MustParseAddr("10.7.255.255")}
	got, err := d.Lookup(t.Context(), q)
	if err != nil || names(got) != "big.example/A small.example/A" {
		t.Fatalf("CIDR: %q %v", names(got), err)
	}
	for off := range 2 {
		q.Offset, q.Limit = off, 1
		page, err := d.Lookup(t.Context(), q)
		if err != nil || len(page) != 1 {
			t.Fatalf("offset %d: %d rrsets, %v", off, len(page), err)
		}
	}
	q.Offset = 2
	if page, _ := d.Lookup(t.Context(), q); len(page) != 0 {
		t.Errorf("offset 2: %q, want nothing", names(page))
	}
}

// TestSketchKeyIsTheStores: the count's hash is keyed by a secret each
// store makes and keeps, so that no sensor can choose names that collide
// in it (and pass its quota as one rrset).
func TestSketchKeyIsTheStores(t *testing.T) {
	dir := t.TempDir()
	a, err := OpenDisk(dir, DiskOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pk := []byte("s some key")
	ha := a.hash.sum(pk)
	a.Close()
	again, err := OpenDisk(dir, DiskOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if again.hash.sum(pk) != ha {
		t.Error("the store's hash changed when it was reopened: its counts on disk mean nothing now")
	}
	if openDisk(t).hash.sum(pk) == ha {
		t.Error("two stores hash alike: the key is not the store's own")
	}
}

// TestExamineBudget: the lookups made with one budget share it, so that
// a request making many lookups examines no more than one may.
func TestExamineBudget(t *testing.T) {
	d := openDisk(t)
	var batch []*cof.Record
	for i := range 100 {
		batch = append(batch, mustRecord(t, fmt.Sprintf(`{"rrname":"h%d.budget.example","rrtype":"A","rdata":["10.8.0.%d"],"time_first":1,"time_last":2}`, i, i)))
	}
	if _, err := d.Apply(t.Context(), "s", 1, batch); err != nil {
		t.Fatal(err)
	}
	ctx := WithExamineBudget(t.Context(), 150)
	q := Query{Name: "*.budget.example", Type: cof.TypeAAAA} // walks all 100, keeps none
	if _, err := d.Lookup(ctx, q); err != nil {
		t.Fatalf("first lookup within the budget: %v", err)
	}
	if _, err := d.Lookup(ctx, q); !errors.Is(err, ErrBadQuery) {
		t.Fatalf("second lookup past the shared budget: %v, want ErrBadQuery", err)
	}
	if _, err := d.Lookup(t.Context(), q); err != nil {
		t.Fatalf("another request's lookup: %v", err)
	}
}
