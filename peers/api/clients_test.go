package api

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cofswitch/cofswitch/cof"
	"github.com/cofswitch/cofswitch/peers/db"
	"github.com/cofswitch/cofswitch/peers/db/dbtest"
)

// clientStore holds what the client cases below look up, on a real disk
// store.
func clientStore(t *testing.T, maxResults int) *Server {
	t.Helper()
	store := dbtest.New(t)
	now := time.Now().Unix()
	lines := []string{
		`{"rrname":"www.example.org","rrtype":"CNAME","rdata":["Agg.Example.COM."],"time_first":10,"time_last":20}`,
		`{"rrname":"example.org","rrtype":"MX","rdata":["10 mx1.example.org."],"time_first":10,"time_last":20}`,
		`{"rrname":"_sip._udp.example.org","rrtype":"SRV","rdata":["0 5 5060 sip.example.org."],"time_first":10,"time_last":20}`,
		`{"rrname":"example.org","rrtype":"SOA","rdata":["ns.example.net. hostmaster.example.org. 1 7200 3600 1209600 300"],"time_first":10,"time_last":20}`,
		`{"rrname":"example.org","rrtype":"HTTPS","rdata":["1 cdn.example.net. alpn=h2"],"time_first":10,"time_last":20}`,
		`{"rrname":"odd.example.org","rrtype":"TYPE65280","rdata":["\\# 2 abcd"],"time_first":10,"time_last":20}`,
		fmt.Sprintf(`{"rrname":"recent.example.org","rrtype":"A","rdata":["192.0.2.77"],"time_first":%d,"time_last":%d}`, now-60, now-30),
	}
	for i := range 12 {
		lines = append(lines, fmt.Sprintf(`{"rrname":"h%02d.many.example","rrtype":"A","rdata":["198.51.100.%d"],"time_first":1,"time_last":2}`, i, i))
	}
	applyLines(t, store, lines)
	s, err := New(store, testCreds(t), WithLogger(discard), WithRateLimit(Rate{}, 0), WithMaxResults(maxResults))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// safLines checks an answer line by line as dnsdbq reads it (every line
// JSON, none empty, the last one ends with a newline) and returns the
// rrnames of its objs and its closing condition and message.
func safLines(t *testing.T, body string) (names []string, cond, msg string) {
	t.Helper()
	if !strings.HasSuffix(body, "\n") {
		t.Fatalf("the answer does not end with a newline: %q", body)
	}
	for _, l := range strings.Split(strings.TrimSuffix(body, "\n"), "\n") {
		var v struct {
			Cond string         `json:"cond"`
			Msg  string         `json:"msg"`
			Obj  map[string]any `json:"obj"`
		}
		if err := json.Unmarshal([]byte(l), &v); err != nil {
			t.Fatalf("a line dnsdbq would abort on: %q: %v", l, err)
		}
		if v.Obj != nil {
			if _, ok := v.Obj["rrtype"].(string); !ok && v.Obj["rrname"] != nil {
				t.Errorf("obj with a non-string rrtype (dnsdbq skips it): %q", l)
			}
			names = append(names, fmt.Sprint(v.Obj["rrname"]))
		}
		if v.Cond != "" && v.Cond != "begin" {
			cond, msg = v.Cond, v.Msg
		}
	}
	return names, cond, msg
}

// TestDnsdbqRequests sends what dnsdbq 2.6.8 sends (paths escaped by
// curl_escape, swclient and version, X-Api-Key and Accept) for each case
// the issue found, and checks the answers as dnsdbq reads them.
func TestDnsdbqRequests(t *testing.T) {
	srv := serveHTTP(t, clientStore(t, 5))
	dnsdbq := map[string]string{"X-Api-Key": "k3y", "Accept": "application/x-ndjson"}
	const sw = "?swclient=dnsdbq&version=2.6.8"
	tests := []struct {
		name, path string
		status     int
		want       string // rrnames, sorted, space-separated
		cond       string
	}{
		{"-n without the trailing dot", "/dnsdb/v2/lookup/rdata/name/agg.example.com" + sw, 200, "www.example.org", "succeeded"},
		{"-n in another case", "/dnsdb/v2/lookup/rdata/name/AGG.example.COM." + sw, 200, "www.example.org", "succeeded"},
		{"-n an MX exchanger", "/dnsdb/v2/lookup/rdata/name/mx1.example.org" + sw, 200, "example.org", "succeeded"},
		{"-n an SRV target", "/dnsdb/v2/lookup/rdata/name/sip.example.org" + sw, 200, "_sip._udp.example.org", "succeeded"},
		{"-n a SOA rname", "/dnsdb/v2/lookup/rdata/name/hostmaster.example.org" + sw, 200, "example.org", "succeeded"},
		{"-n an HTTPS target", "/dnsdb/v2/lookup/rdata/name/cdn.example.net" + sw, 200, "example.org", "succeeded"},
		{"-n a left-hand wildcard", "/dnsdb/v2/lookup/rdata/name/%2A.example.net" + sw, 200, "example.org example.org", "succeeded"},
		{"-n a left-hand wildcard, -t MX", "/dnsdb/v2/lookup/rdata/name/%2A.example.org/MX" + sw, 200, "example.org", "succeeded"},
		{"-n a right-hand wildcard", "/dnsdb/v2/lookup/rdata/name/mx1.example.%2A" + sw, 200, "example.org", "succeeded"},
		{"-r an unknown type", "/dnsdb/v2/lookup/rrset/name/odd.example.org/TYPE65280" + sw, 200, "odd.example.org", "succeeded"},
		{"-r with ANY and a bailiwick", "/dnsdb/v2/lookup/rrset/name/www.example.org/ANY/example.org" + sw, 200, "", "succeeded"},
		{"-i a CIDR", "/dnsdb/v2/lookup/rdata/ip/198.51.100.0,30" + sw, 200, "h00.many.example h01.many.example h02.many.example h03.many.example", "succeeded"},
		{"-l 0 is the maximum, limited", "/dnsdb/v2/lookup/rrset/name/%2A.many.example" + sw + "&limit=0", 200, "h00.many.example h01.many.example h02.many.example h03.many.example h04.many.example", "limited"},
		{"-l above the maximum, limited", "/dnsdb/v2/lookup/rrset/name/%2A.many.example" + sw + "&limit=100", 200, "h00.many.example h01.many.example h02.many.example h03.many.example h04.many.example", "limited"},
		{"-O to go on", "/dnsdb/v2/lookup/rrset/name/%2A.many.example" + sw + "&limit=5&offset=10", 200, "h10.many.example h11.many.example", "succeeded"},
		{"-A a relative fence", "/dnsdb/v2/lookup/rrset/name/%2A.example.org" + sw + "&time_last_after=-3600", 200, "recent.example.org", "succeeded"},
		{"-g is refused", "/dnsdb/v2/lookup/rrset/name/example.org" + sw + "&aggr=f", 400, "", "failed"},
		{"humantime is refused", "/dnsdb/v2/lookup/rrset/name/example.org" + sw + "&humantime=t", 400, "", "failed"},
		{"-N raw is refused", "/dnsdb/v2/lookup/rdata/raw/0a0b" + sw, 400, "", "failed"},
		{"-O past offset_max", "/dnsdb/v2/lookup/rrset/name/example.org" + sw + "&offset=100001", 416, "", "failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, hdr, body := do(t, http.DefaultClient, srv.URL+tt.path, dnsdbq)
			if code != tt.status {
				t.Fatalf("status %d, want %d: %s", code, tt.status, body)
			}
			if ct := hdr.Get("Content-Type"); ct != "application/x-ndjson" {
				t.Errorf("Content-Type %q", ct)
			}
			names, cond, msg := safLines(t, body)
			slices.Sort(names)
			if got := strings.Join(names, " "); got != tt.want || cond != tt.cond {
				t.Errorf("got %q (%s %q), want %q (%s)", got, cond, msg, tt.want, tt.cond)
			}
			if cond == "failed" && msg == "" {
				t.Error("a failure without a message")
			}
		})
	}
	// "limited" says where to go on, and going there gives the rest.
	_, _, body := do(t, http.DefaultClient, srv.URL+"/dnsdb/v2/lookup/rrset/name/%2A.many.example"+sw, dnsdbq)
	if _, cond, msg := safLines(t, body); cond != "limited" || !strings.Contains(msg, "offset=5") {
		t.Errorf("limited answer: %s %q, want the offset to go on", cond, msg)
	}
	code, _, body := do(t, http.DefaultClient, srv.URL+"/dnsdb/v2/rate_limit", dnsdbq)
	if code != 200 || !strings.Contains(body, `"results_max":5,`) || !strings.Contains(body, `"offset_max":100000`) {
		t.Errorf("rate_limit: %d %s", code, body)
	}
	if code, _, body := do(t, http.DefaultClient, srv.URL+"/dnsdb/v2/ping", dnsdbq); code != 200 || body != `{"ping":"ok"}`+"\n" {
		t.Errorf("ping: %d %q", code, body)
	}
}

// circlGet sends a CIRCL query as dnsdbq -u circl and PyPDNS do: HTTP
// Basic, and the dribble headers given.
func circlGet(t *testing.T, url string, hdr map[string]string) (int, http.Header, []map[string]any) {
	t.Helper()
	h := map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte("alice:pw")), "Accept": "application/json"}
	for k, v := range hdr {
		h[k] = v
	}
	code, resp, body := do(t, http.DefaultClient, url, h)
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(body), "\n") {
		if l == "" || code != 200 {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("%q: %v", l, err)
		}
		out = append(out, m)
	}
	return code, resp, out
}

// TestCIRCLClients: wildcards (dnsdbq -u circl -r '*.example.com'), rdata
// names, a CIDR as PyPDNS sends it, and rrtypes as PyPDNS can read them.
func TestCIRCLClients(t *testing.T) {
	srv := serveHTTP(t, clientStore(t, 100))
	rrnames := func(recs []map[string]any) string {
		var out []string
		for _, r := range recs {
			out = append(out, fmt.Sprint(r["rrname"], "/", r["rrtype"]))
		}
		slices.Sort(out)
		return strings.Join(out, " ")
	}
	tests := []struct{ name, path, want string }{
		{"left-hand wildcard", "/pdns/query/%2A.example.org", "_sip._udp.example.org/SRV example.org/MX example.org/SOA odd.example.org/65280 recent.example.org/A www.example.org/CNAME"},
		{"left-hand wildcard as PyPDNS sends it", "/pdns/query/*.example.net", "example.org/HTTPS example.org/SOA"},
		{"rdata name without the dot", "/pdns/query/agg.example.com", "www.example.org/CNAME"},
		{"MX exchanger", "/pdns/query/MX1.example.org", "example.org/MX"},
		{"CIDR with a slash, unescaped", "/pdns/query/198.51.100.0/31", "h00.many.example/A h01.many.example/A"},
	}
	for _, tt := range tests {
		code, _, recs := circlGet(t, srv.URL+tt.path, nil)
		if code != 200 || rrnames(recs) != tt.want {
			t.Errorf("%s: %d %q, want %q", tt.name, code, rrnames(recs), tt.want)
		}
	}
	// The unknown type: a number for CIRCL clients, a string for DNSDB's.
	_, _, recs := circlGet(t, srv.URL+"/pdns/query/odd.example.org", nil)
	if len(recs) != 1 || recs[0]["rrtype"] != float64(65280) {
		t.Errorf("CIRCL rrtype of TYPE65280: %v", recs)
	}
}

// TestCIRCLFilterPaging: with dribble-filter-rrtype and a page size, the
// pages hold every record of the type, each once, and a cursor leads to
// each next page (1,438 AAAA records beside other types lost 1,423 of
// them when the filter was applied after the page was cut).
func TestCIRCLFilterPaging(t *testing.T) {
	store := dbtest.New(t)
	var recs []*cof.Record
	add := func(line string) {
		r, err := cof.Parse([]byte(line))
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, &r)
	}
	for i := range 1438 {
		add(fmt.Sprintf(`{"rrname":"v6.example.com","rrtype":"AAAA","rdata":["2001:db8::%x"],"time_first":1,"time_last":2}`, i))
		if i%3 == 0 {
			add(fmt.Sprintf(`{"rrname":"v6.example.com","rrtype":"A","rdata":["192.0.%d.%d"],"time_first":1,"time_last":2}`, i>>8, i&255))
			add(fmt.Sprintf(`{"rrname":"n%d.example.com","rrtype":"CNAME","rdata":["v6.example.com."],"time_first":1,"time_last":2}`, i))
		}
	}
	if _, err := store.Apply(t.Context(), "PEER_p", 1, recs); err != nil {
		t.Fatal(err)
	}
	_, srv := newTestServer(t, store, WithRateLimit(Rate{}, 0))
	for _, tt := range []struct {
		filter string
		count  string
		want   int
	}{
		{"AAAA", "100", 1438},
		{"AAAA", "50", 1438}, // PyPDNS' iter_query
		{"A,AAAA", "333", 1438 + 480},
		{"CNAME", "7", 480},
		{"", "1000", 1438 + 480 + 480},
	} {
		seen := map[string]bool{}
		cursor, pages := "", 0
		for {
			hdr := map[string]string{"dribble-paginate-count": tt.count}
			if tt.filter != "" {
				hdr["dribble-filter-rrtype"] = tt.filter
			}
			if cursor != "" {
				hdr["dribble-paginate-cursor"] = cursor
			}
			code, resp, page := circlGet(t, srv.URL+"/pdns/query/v6.example.com", hdr)
			if code != 200 {
				t.Fatalf("%s/%s page %d: status %d", tt.filter, tt.count, pages, code)
			}
			pages++
			for _, r := range page {
				if tt.filter != "" && !strings.Contains(","+tt.filter+",", ","+fmt.Sprint(r["rrtype"])+",") {
					t.Fatalf("%s: a %v record", tt.filter, r["rrtype"])
				}
				k := fmt.Sprint(r["rrname"], r["rrtype"], r["rdata"])
				if seen[k] {
					t.Fatalf("%s/%s: %s twice", tt.filter, tt.count, k)
				}
				seen[k] = true
			}
			if cursor = resp.Get("x-dribble-cursor"); cursor == "" {
				break
			}
			if cursor == "0" {
				t.Fatal("cursor 0: PyPDNS would loop for ever")
			}
		}
		if len(seen) != tt.want {
			t.Errorf("filter %q, pages of %s: %d records in %d pages, want %d", tt.filter, tt.count, len(seen), pages, tt.want)
		}
	}
}

// TestQueryTimeout: lookups past the request's time bound are answered
// 503, saying so, on both APIs.
func TestQueryTimeout(t *testing.T) {
	store := dbtest.New(t)
	_, srv := newTestServer(t, store, WithRateLimit(Rate{}, 0), WithQueryTimeout(time.Nanosecond))
	code, _, body := do(t, http.DefaultClient, srv.URL+"/dnsdb/v2/lookup/rrset/name/example.org", key)
	if _, cond, msg := safLines(t, body); code != http.StatusServiceUnavailable || cond != "failed" || !strings.Contains(msg, "took longer than") {
		t.Errorf("DNSDB: %d %s %q", code, cond, msg)
	}
	code, _, body = do(t, http.DefaultClient, srv.URL+"/pdns/query/example.org", key)
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "took longer than") {
		t.Errorf("CIRCL: %d %q", code, body)
	}
}

// applyLines parses COF lines and applies them to store as one batch.
func applyLines(t *testing.T, store db.Store, lines []string) {
	t.Helper()
	var recs []*cof.Record
	for _, l := range lines {
		r, err := cof.Parse([]byte(l))
		if err != nil {
			t.Fatalf("%s: %v", l, err)
		}
		recs = append(recs, &r)
	}
	if _, err := store.Apply(t.Context(), "PEER_p", 1, recs); err != nil {
		t.Fatal(err)
	}
}
