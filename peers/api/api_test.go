package api

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/cofswitch/cofswitch/cof"
	"github.com/cofswitch/cofswitch/peers/db"
	"github.com/cofswitch/cofswitch/peers/db/dbtest"
)

// testCreds are the credentials of the test servers: one key, one user
// with a bcrypt hash.
func testCreds(t *testing.T) Credentials {
	t.Helper()
	pw, err := PasswordHash(hashOf(t, "pw"))
	if err != nil {
		t.Fatal(err)
	}
	return Credentials{Keys: []string{"k3y"}, Users: map[string]Password{"alice": pw}}
}

// newTestServer serves store with testCreds through httptest, on loopback.
func newTestServer(t *testing.T, store db.Store, opts ...Option) (*Server, *httptest.Server) {
	t.Helper()
	s, err := New(store, testCreds(t), append([]Option{WithLogger(discard)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	return s, srv
}

var discard = slog.New(slog.DiscardHandler)

func testServer(t *testing.T) *httptest.Server {
	t.Helper()
	return testServerWith(t)
}

// testServerWith serves the test records with opts.
func testServerWith(t *testing.T, opts ...Option) *httptest.Server {
	t.Helper()
	store := dbtest.New(t)
	var recs []*cof.Record
	for _, l := range []string{
		`{"rrname":"www.example.com","rrtype":"A","rdata":["192.0.2.1"],"time_first":100,"time_last":200,"count":2,"bailiwick":"example.com"}`,
		`{"rrname":"www.example.com","rrtype":"AAAA","rdata":["2001:db8::1"],"time_first":100,"time_last":300}`,
		`{"rrname":"mail.example.com","rrtype":"A","rdata":["192.0.2.20"],"time_first":300,"time_last":400}`,
		`{"rrname":"alias.example.org","rrtype":"CNAME","rdata":["www.example.com."],"time_first":10,"time_last":20}`,
		`{"rrname":"example.com","rrtype":"NS","rdata":["ns1.example.net."],"time_first":1,"time_last":2,"bailiwick":"com"}`,
	} {
		r, err := cof.Parse([]byte(l))
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, &r)
	}
	for i := range 30 {
		r, _ := cof.Parse([]byte(fmt.Sprintf(`{"rrname":"h%02d.many.example","rrtype":"A","rdata":["198.51.100.%d"],"time_first":1,"time_last":2}`, i, i+1)))
		recs = append(recs, &r)
	}
	if _, err := store.Apply(t.Context(), "PEER_p", 1, recs); err != nil {
		t.Fatal(err)
	}
	_, srv := newTestServer(t, store, opts...)
	return srv
}

func get(t *testing.T, srv *httptest.Server, path string, hdr map[string]string) (int, http.Header, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(body)
}

var key = map[string]string{"X-Api-Key": "k3y", "Accept": "application/x-ndjson"}

// saf checks the framing and returns the rrnames of the objects and the
// final condition.
func saf(t *testing.T, body string) ([]string, string) {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(body), "\n")
	if lines[0] != `{"cond":"begin"}` {
		t.Fatalf("no begin: %q", body)
	}
	var names []string
	for _, l := range lines[1 : len(lines)-1] {
		var m struct {
			Obj map[string]any `json:"obj"`
		}
		if err := json.Unmarshal([]byte(l), &m); err != nil || m.Obj == nil {
			t.Fatalf("bad object line %q", l)
		}
		if n, ok := m.Obj["rrname"].(string); ok {
			names = append(names, n+"/"+m.Obj["rrtype"].(string))
		}
	}
	var end struct{ Cond string }
	_ = json.Unmarshal([]byte(lines[len(lines)-1]), &end)
	slices.Sort(names)
	return names, end.Cond
}

func TestDNSDB(t *testing.T) {
	srv := testServer(t)
	tests := []struct {
		path, want, cond string
	}{
		{"/dnsdb/v2/lookup/rrset/name/www.example.com", "www.example.com/A www.example.com/AAAA", "succeeded"},
		{"/dnsdb/v2/lookup/rrset/name/www.example.com./A", "www.example.com/A", "succeeded"},
		{"/dnsdb/v2/lookup/rrset/name/www.example.com/ANY/example.com", "www.example.com/A", "succeeded"},
		{"/dnsdb/v2/lookup/rrset/name/%2A.example.com", "mail.example.com/A www.example.com/A www.example.com/AAAA", "succeeded"},
		{"/dnsdb/v2/lookup/rrset/name/www.example.%2A", "www.example.com/A www.example.com/AAAA", "succeeded"},
		{"/dnsdb/v2/lookup/rdata/name/www.example.com.", "alias.example.org/CNAME", "succeeded"},
		{"/dnsdb/v2/lookup/rdata/ip/192.0.2.0%2C24", "mail.example.com/A www.example.com/A", "succeeded"},
		{"/dnsdb/v2/lookup/rdata/ip/192.0.2.1-192.0.2.10", "www.example.com/A", "succeeded"},
		{"/dnsdb/v2/lookup/rdata/ip/2001:db8::1", "www.example.com/AAAA", "succeeded"},
		{"/dnsdb/v2/lookup/rrset/name/%2A.example.com?time_last_after=250", "mail.example.com/A www.example.com/AAAA", "succeeded"},
		{"/dnsdb/v2/lookup/rrset/name/%2A.example.com?time_first_before=200&time_last_before=250", "www.example.com/A", "succeeded"},
		{"/dnsdb/v2/lookup/rrset/name/nothing.example", "", "succeeded"},
		{"/dnsdb/v2/lookup/rrset/name/%2A.many.example?limit=5", "h00.many.example/A h01.many.example/A h02.many.example/A h03.many.example/A h04.many.example/A", "limited"},
		{"/dnsdb/v2/lookup/rrset/name/%2A.many.example?limit=5&offset=28", "h28.many.example/A h29.many.example/A", "succeeded"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			code, hdr, body := get(t, srv, tt.path, key)
			if code != http.StatusOK || hdr.Get("Content-Type") != "application/x-ndjson" {
				t.Fatalf("status %d, type %q: %s", code, hdr.Get("Content-Type"), body)
			}
			names, cond := saf(t, body)
			if strings.Join(names, " ") != tt.want || cond != tt.cond {
				t.Errorf("got %q (%s), want %q (%s)", strings.Join(names, " "), cond, tt.want, tt.cond)
			}
		})
	}
	code, _, body := get(t, srv, "/dnsdb/v2/summarize/rrset/name/%2A.example.com", key)
	if code != 200 || !strings.Contains(body, `{"obj":{"count":4,"num_results":3,"time_first":100,"time_last":400}}`) {
		t.Errorf("summarize: %d %s", code, body)
	}
	for _, bad := range []string{"/dnsdb/v2/lookup/rrset/name/x/BOGUS", "/dnsdb/v2/lookup/rdata/ip/nope", "/dnsdb/v2/lookup/rrset/name/x?limit=-1", "/dnsdb/v2/lookup/other/name/x"} {
		code, _, body := get(t, srv, bad, key)
		if code != http.StatusBadRequest || !strings.Contains(body, `"cond":"failed"`) {
			t.Errorf("%s: %d %s", bad, code, body)
		}
	}
}

func TestAuth(t *testing.T) {
	srv := testServer(t)
	for name, hdr := range map[string]map[string]string{
		"none":      nil,
		"wrong key": {"X-Api-Key": "nope"},
	} {
		if code, _, _ := get(t, srv, "/dnsdb/v2/lookup/rrset/name/www.example.com", hdr); code != http.StatusUnauthorized {
			t.Errorf("%s: %d", name, code)
		}
	}
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/pdns/query/www.example.com", nil)
	req.SetBasicAuth("alice", "wrong")
	if resp, _ := http.DefaultClient.Do(req); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("wrong password: %d", resp.StatusCode)
	}
	req.SetBasicAuth("alice", "pw")
	if resp, _ := http.DefaultClient.Do(req); resp.StatusCode != http.StatusOK {
		t.Errorf("right password: %d", resp.StatusCode)
	}
}

func TestCIRCL(t *testing.T) {
	srv := testServer(t)
	basic := func(extra map[string]string) map[string]string {
		h := map[string]string{"Authorization": "Basic YWxpY2U6cHc=", "Accept": "application/json"}
		for k, v := range extra {
			h[k] = v
		}
		return h
	}
	names := func(body string) string {
		var out []string
		for _, l := range strings.Split(strings.TrimSpace(body), "\n") {
			if l == "" {
				continue
			}
			r, err := cof.Parse([]byte(l))
			if err != nil {
				t.Fatalf("bad line %q: %v", l, err)
			}
			out = append(out, r.RRName+"/"+r.RRType.String())
		}
		slices.Sort(out)
		return strings.Join(out, " ")
	}
	_, _, body := get(t, srv, "/pdns/query/www.example.com", basic(nil))
	if got := names(body); got != "alias.example.org/CNAME www.example.com/A www.example.com/AAAA" {
		t.Errorf("name query: %q", got)
	}
	_, _, body = get(t, srv, "/pdns/query/192.0.2.20", basic(nil))
	if got := names(body); got != "mail.example.com/A" {
		t.Errorf("address query: %q", got)
	}
	// dnsdbq in CIRCL mode sends -i 192.0.2.0/24 in DNSDB's comma form,
	// percent-encoded; a range is taken as well.
	for path, want := range map[string]string{
		"/pdns/query/192.0.2.0%2C24":            "mail.example.com/A www.example.com/A",
		"/pdns/query/192.0.2.0,28":              "www.example.com/A",
		"/pdns/query/192.0.2.2-192.0.2.30":      "mail.example.com/A",
		"/pdns/query/203.0.113.0%2C24":          "",
		"/pdns/query/my-host-192.0.2.1.example": "",
	} {
		if _, _, body := get(t, srv, path, basic(nil)); names(body) != want {
			t.Errorf("%s: %q, want %q", path, names(body), want)
		}
	}
	_, _, body = get(t, srv, "/pdns/query/www.example.com", basic(map[string]string{"dribble-filter-rrtype": "AAAA,CNAME"}))
	if got := names(body); got != "alias.example.org/CNAME www.example.com/AAAA" {
		t.Errorf("filtered: %q", got)
	}
	// Pages of 2 through the cursor until it is absent.
	var all []string
	cursor := ""
	for pages := 0; pages < 5; pages++ {
		h := map[string]string{"dribble-paginate-count": "2"}
		if cursor != "" {
			h["dribble-paginate-cursor"] = cursor
		}
		_, hdr, body := get(t, srv, "/pdns/query/www.example.com", basic(h))
		if got := names(body); got != "" {
			all = append(all, strings.Split(got, " ")...)
		}
		if cursor = hdr.Get("x-dribble-cursor"); cursor == "" {
			break
		}
	}
	if len(all) != 3 || cursor != "" {
		t.Errorf("paginated: %v, last cursor %q", all, cursor)
	}
}
