package api

import (
	"fmt"
	"net/http"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/cofswitch/cofswitch/cof"
	"github.com/cofswitch/cofswitch/peers/db/dbtest"
)

// TestQueryBounds: a cursor or offset past MaxOffset is refused (400 for
// CIRCL, 416 for DNSDB, as DNSDB does) with a message that says why; one within it costs a walk, not a
// collection of every match (64 such requests used to take the heap from
// 285 to 614 MiB).
func TestQueryBounds(t *testing.T) {
	const n = 120000
	store := bigStore(t, n, 0)
	_, srv := newTestServer(t, store, WithRateLimit(Rate{}, 0))
	circl := func(cursor string) map[string]string {
		return map[string]string{"X-Api-Key": "k3y", "dribble-paginate-count": "10", "dribble-paginate-cursor": cursor}
	}
	tests := []struct {
		name    string
		path    string
		hdr     map[string]string
		status  int
		body    string // a part of the answer's body
		maxHeap uint64 // bytes the request may allocate (0: not measured)
	}{
		{name: "DNSDB offset 10^12", path: "/dnsdb/v2/lookup/rrset/name/%2A.big.example?offset=1000000000000", hdr: key,
			status: 416, body: "offset 1000000000000 is beyond this server's maximum of 100000"},
		{name: "DNSDB offset just past the maximum", path: fmt.Sprintf("/dnsdb/v2/lookup/rrset/name/%%2A.big.example?offset=%d", MaxOffset+1), hdr: key,
			status: 416, body: "offset_max"},
		{name: "DNSDB offset at the maximum", path: fmt.Sprintf("/dnsdb/v2/lookup/rrset/name/%%2A.big.example?offset=%d&limit=10", MaxOffset), hdr: key,
			status: 200, body: `"cond":"limited"`, maxHeap: 4 << 20},
		{name: "CIRCL cursor 10^12", path: "/pdns/query/10.0.0.0,8", hdr: circl("1000000000000"),
			status: 400, body: "not a cursor this server gave"},
		{name: "CIRCL cursor past the maximum offset", path: "/pdns/query/10.0.0.0,8", hdr: circl(strconv.Itoa(MaxOffset + 1)),
			status: 400, body: "past this server's maximum offset of 100000"},
		{name: "CIRCL cursor at the maximum offset", path: "/pdns/query/10.0.0.0,8", hdr: circl(strconv.Itoa(MaxOffset)),
			status: 200, body: "10.1.134.160", maxHeap: 4 << 20},
		{name: "CIRCL count is capped", path: "/pdns/query/10.0.0.0,8", hdr: map[string]string{"X-Api-Key": "k3y", "dribble-paginate-count": "1000000000"},
			status: 200, body: "h9999.big.example"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			runtime.GC()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			code, hdr, body := do(t, http.DefaultClient, srv.URL+tt.path, tt.hdr)
			runtime.ReadMemStats(&after)
			if code != tt.status || !strings.Contains(body, tt.body) {
				t.Fatalf("status %d, want %d; body %.300q, want it to hold %q", code, tt.status, body, tt.body)
			}
			if alloc := after.TotalAlloc - before.TotalAlloc; tt.maxHeap > 0 && alloc > tt.maxHeap && !raceEnabled {
				t.Errorf("the request allocated %d KiB, more than %d KiB: it collects what it skips", alloc>>10, tt.maxHeap>>10)
			}
			if strings.HasPrefix(tt.path, "/pdns/") && code == 200 {
				if lines := strings.Count(body, "\n"); lines > DefaultLimit {
					t.Errorf("%d rrsets in one page, more than %d", lines, DefaultLimit)
				}
				if c := hdr.Get("x-dribble-cursor"); c == "" {
					t.Error("no cursor, but there are more matches")
				}
			}
		})
	}
}

// TestCIRCLPages pages through a value with matches in every phase, some
// in two (an rrset named by the value whose rdata is the value too), with
// and without a filter of several types: each rrset comes once.
func TestCIRCLPages(t *testing.T) {
	store := dbtest.New(t)
	var recs []*cof.Record
	for _, l := range []string{
		`{"rrname":"loop.example","rrtype":"CNAME","rdata":["loop.example."],"time_first":1,"time_last":2}`,
		`{"rrname":"loop.example","rrtype":"A","rdata":["192.0.2.1"],"time_first":1,"time_last":2}`,
		`{"rrname":"loop.example","rrtype":"TXT","rdata":["loop.example"],"time_first":1,"time_last":2}`,
		`{"rrname":"txt.example","rrtype":"TXT","rdata":["loop.example","other"],"time_first":1,"time_last":2}`,
	} {
		r, err := cof.Parse([]byte(l))
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, &r)
	}
	for i := range 7 {
		r, _ := cof.Parse(fmt.Appendf(nil, `{"rrname":"a%d.example","rrtype":"CNAME","rdata":["loop.example."],"time_first":1,"time_last":2}`, i))
		recs = append(recs, &r)
	}
	if _, err := store.Apply(t.Context(), "S", 0, recs); err != nil {
		t.Fatal(err)
	}
	_, srv := newTestServer(t, store, WithRateLimit(Rate{}, 0))
	tests := []struct {
		name, types string
		want        int
	}{
		{name: "every type", want: 11},
		{name: "CNAME and TXT", types: "CNAME,TXT", want: 10},
		{name: "A only", types: "A", want: 1},
		{name: "a type twice", types: "TXT,TXT", want: 2},
	}
	for _, tt := range tests {
		for _, count := range []int{1, 2, 3, 100} {
			t.Run(fmt.Sprintf("%s, pages of %d", tt.name, count), func(t *testing.T) {
				var got []string
				cursor := ""
				for pages := 0; pages <= tt.want; pages++ {
					h := map[string]string{"X-Api-Key": "k3y", "dribble-paginate-count": strconv.Itoa(count), "dribble-filter-rrtype": tt.types}
					if cursor != "" {
						h["dribble-paginate-cursor"] = cursor
					}
					code, hdr, body := do(t, http.DefaultClient, srv.URL+"/pdns/query/loop.example", h)
					if code != 200 {
						t.Fatalf("status %d: %s", code, body)
					}
					for _, l := range strings.Split(strings.TrimSpace(body), "\n") {
						if l != "" {
							r, err := cof.Parse([]byte(l))
							if err != nil {
								t.Fatal(err)
							}
							got = append(got, r.RRName+"/"+r.RRType.String())
						}
					}
					if cursor = hdr.Get("x-dribble-cursor"); cursor == "" {
						break
					}
				}
				distinct := len(slices.Compact(slices.Sorted(slices.Values(got))))
				if len(got) != tt.want || distinct != tt.want || cursor != "" {
					t.Errorf("%d rrsets (%d distinct), want %d; last cursor %q: %v", len(got), distinct, tt.want, cursor, got)
				}
			})
		}
	}
}
