package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cofswitch/cofswitch/peers/db"
	"github.com/cofswitch/cofswitch/peers/db/dbtest"
)

// TestOpenAPIDocument checks the document itself: OpenAPI 3.1, every
// $ref resolves, every operation has a unique operationId, every schema
// of the components compiles, and the server's routes are all in it.
func TestOpenAPIDocument(t *testing.T) {
	d := loadAPIDoc(t)
	if v, _ := d.root["openapi"].(string); !strings.HasPrefix(v, "3.1.") {
		t.Errorf("openapi %q, want 3.1.x", v)
	}
	var walk func(ptr string, v any)
	walk = func(ptr string, v any) {
		switch n := v.(type) {
		case map[string]any:
			if ref, ok := n["$ref"].(string); ok {
				if _, err := d.at(ref); err != nil {
					t.Errorf("%s: $ref %v", ptr, err)
				}
			}
			for k, c := range n {
				walk(ptr+"/"+k, c)
			}
		case []any:
			for i, c := range n {
				walk(ptr+"/"+strconv.Itoa(i), c)
			}
		}
	}
	walk("#", d.root)

	ids := map[string]string{}
	for _, tmpl := range d.templates() {
		item, _ := d.get(node{"#/paths", d.root["paths"].(map[string]any)}, tmpl)
		for method := range item.v {
			if method == "parameters" || method == "summary" || method == "description" {
				continue
			}
			if method != "get" {
				t.Errorf("%s: %s: the server answers GET only", tmpl, method)
			}
			op, _ := d.get(item, method)
			id, _ := op.v["operationId"].(string)
			if id == "" {
				t.Errorf("%s %s: no operationId", method, tmpl)
			} else if other, dup := ids[id]; dup {
				t.Errorf("operationId %s: both %s and %s", id, other, tmpl)
			}
			ids[id] = tmpl
		}
	}

	comps, _ := d.get(node{"#", d.root}, "components")
	schemas, _ := d.get(comps, "schemas")
	for name := range schemas.v {
		s, _ := d.get(schemas, name)
		d.schema(t, s)
	}
	schemes, _ := d.get(comps, "securitySchemes")
	if k, _ := d.get(schemes, "ApiKey"); k.v["type"] != "apiKey" || k.v["in"] != "header" || k.v["name"] != "X-Api-Key" {
		t.Errorf("ApiKey scheme: %v", k.v)
	}
	if b, _ := d.get(schemes, "Basic"); b.v["type"] != "http" || b.v["scheme"] != "basic" {
		t.Errorf("Basic scheme: %v", b.v)
	}

	// The routes of Handler, each with a request it serves: each must
	// fall in a documented path. (A ServeMux cannot list its patterns.)
	routes := []struct{ pattern, example string }{
		{"GET /dnsdb/v2/rate_limit", "/dnsdb/v2/rate_limit"},
		{"GET /dnsdb/v2/ping", "/dnsdb/v2/ping"},
		{"GET /openapi.json", "/openapi.json"},
		{"GET /pdns/query/ (a value)", "/pdns/query/www.example.com"},
		{"GET /pdns/query/ (a CIDR with a slash)", "/pdns/query/192.0.2.0/24"},
	}
	for _, verb := range []string{"lookup", "summarize"} {
		for _, form := range []string{"rrset/name/N", "rrset/name/N/A", "rrset/name/N/A/B", "rdata/name/N", "rdata/name/N/A", "rdata/ip/192.0.2.1", "rdata/ip/192.0.2.1/A"} {
			routes = append(routes, struct{ pattern, example string }{"GET /dnsdb/v2/{verb}/{kind}/{by}/", "/dnsdb/v2/" + verb + "/" + form})
		}
	}
	for _, r := range routes {
		if _, _, ok := d.match(r.example); !ok {
			t.Errorf("route %s (%s) is not documented", r.pattern, r.example)
		}
	}
}

// apiCase is one request to a server and the answer the document leads
// a client to expect.
type apiCase struct {
	name   string
	server string // "main" (the default), "unlimited", "guarded", "failing"
	path   string // escaped, as a client sends it
	hdr    map[string]string
	status int
	// pending names the API change this expectation waits for; "" when
	// the server of this tree meets it.
	pending string
	check   func(t *testing.T, lines []any, hdr http.Header)
}

// The pending changes of peers/api (dnsdb.go, circl.go, api.go) that the
// document already describes.
const (
	pendPing      = "GET /dnsdb/v2/ping behind s.auth"
	pendOffset416 = "offset beyond offset_max answers 416, not 400"
	pendNegFence  = "negative time fences (seconds before now)"
	pendAggr      = "aggr=f|false and humantime=true refused with 400"
	pendLimitMsg  = "the limited msg names the offset to continue with"
	pendSlashCIDR = "GET /pdns/query/{address}/{prefixlen}"
	pendCIRCLType = "CIRCL rrtype: the type number for types without a plain mnemonic"
)

// openAPIRecords fill the store of the live test: every kind of rdata the
// schemas must take.
var openAPIRecords = []string{
	`{"rrname":"www.example.com","rrtype":"A","rdata":["192.0.2.1"],"time_first":100,"time_last":200,"count":2,"bailiwick":"example.com"}`,
	`{"rrname":"www.example.com","rrtype":"AAAA","rdata":["2001:db8::1"],"time_first":100,"time_last":300}`,
	`{"rrname":"mail.example.com","rrtype":"A","rdata":["192.0.2.20"],"time_first":300,"time_last":400}`,
	`{"rrname":"alias.example.org","rrtype":"CNAME","rdata":["www.example.com."],"time_first":10,"time_last":20}`,
	`{"rrname":"example.com","rrtype":"NS","rdata":["ns1.example.net.","ns2.example.net."],"time_first":1,"time_last":2,"zone_time_first":1,"zone_time_last":5,"bailiwick":"com"}`,
	`{"rrname":"example.com","rrtype":"MX","rdata":["10 mail.example.com."],"time_first":50,"time_last":60,"count":7}`,
	`{"rrname":"example.com","rrtype":"TXT","rdata":["\"v=spf1 -all\"","\"tab\\there \\\"quoted\\\"\""],"time_first":50,"time_last":70}`,
	`{"rrname":"odd.example.com","rrtype":"TYPE65280","rdata":["\\# 2 abcd"],"time_first":80,"time_last":90}`,
	`{"rrname":"nsap.example.com","rrtype":"NSAP-PTR","rdata":["host.example.net."],"time_first":80,"time_last":90}`,
}

// openAPIStore is a disk store of openAPIRecords and 30 A rrsets
// h00..h29.many.example (for limits and pages).
func openAPIStore(t *testing.T) db.Store {
	t.Helper()
	store := dbtest.New(t)
	lines := slices.Clone(openAPIRecords)
	for i := range 30 {
		lines = append(lines, fmt.Sprintf(`{"rrname":"h%02d.many.example","rrtype":"A","rdata":["198.51.100.%d"],"time_first":1,"time_last":2}`, i, i+1))
	}
	applyLines(t, store, lines)
	return store
}

// failingStore fails every lookup: the 500 answers.
type failingStore struct{ db.Store }

func (failingStore) Lookup(context.Context, db.Query) ([]*db.RRset, error) {
	return nil, errors.New("disk on fire")
}

var (
	basicAlice = map[string]string{"Authorization": "Basic " + basicAuth("alice", "pw"), "Accept": "application/json"}
	noCreds    = map[string]string{"Accept": "application/x-ndjson"}
)

func with(h map[string]string, kv ...string) map[string]string {
	out := map[string]string{}
	for k, v := range h {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}

// objs returns the obj members of SAF lines.
func objs(lines []any) []map[string]any {
	var out []map[string]any
	for _, l := range lines {
		if m, ok := l.(map[string]any)["obj"].(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}

// records returns CIRCL lines as objects.
func records(lines []any) []map[string]any {
	var out []map[string]any
	for _, l := range lines {
		out = append(out, l.(map[string]any))
	}
	return out
}

// wantType checks the rrtype of each record named name (SAF objects or
// CIRCL records).
func wantType(name string, want any) func(*testing.T, []any, http.Header) {
	return func(t *testing.T, lines []any, _ http.Header) {
		recs := objs(lines)
		if recs == nil {
			recs = records(lines)
		}
		found := false
		for _, r := range recs {
			if r["rrname"] == name {
				found = true
				if got := fmt.Sprint(r["rrtype"]); got != fmt.Sprint(want) {
					t.Errorf("%s: rrtype %v (%T), want %v", name, r["rrtype"], r["rrtype"], want)
				}
			}
		}
		if !found {
			t.Errorf("no record of %s", name)
		}
	}
}

func wantCount(n int) func(*testing.T, []any, http.Header) {
	return func(t *testing.T, lines []any, _ http.Header) {
		recs := objs(lines)
		if len(lines) > 0 && recs == nil {
			if _, saf := lines[0].(map[string]any)["cond"]; !saf {
				recs = records(lines)
			}
		}
		if len(recs) != n {
			t.Errorf("%d results, want %d", len(recs), n)
		}
	}
}

func wantEnd(cond string, msg *regexp.Regexp) func(*testing.T, []any, http.Header) {
	return func(t *testing.T, lines []any, _ http.Header) {
		last, _ := lines[len(lines)-1].(map[string]any)
		got, _ := last["msg"].(string)
		if last["cond"] != cond || msg != nil && !msg.MatchString(got) {
			t.Errorf("terminator %v, want cond %s with msg matching %v", last, cond, msg)
		}
	}
}

// TestOpenAPILive requests every documented path from real servers over
// a disk store and validates every answer against the document: its
// status and media type are documented, each NDJSON line (SAF lines,
// CIRCL records) and JSON body validates against its schema, required
// headers are there. Then every (path, status) the document lists must
// have been answered, so the document holds no path or status the tests
// never saw.
func TestOpenAPILive(t *testing.T) {
	d := loadAPIDoc(t)
	clock := newFakeClock()
	store := openAPIStore(t)
	servers := map[string]*httptest.Server{}
	_, servers["main"] = newTestServer(t, store, WithRateLimit(Rate{N: 1000, Per: time.Second}, 1000))
	_, servers["unlimited"] = newTestServer(t, store, WithRateLimit(Rate{}, 0))
	_, servers["failing"] = newTestServer(t, failingStore{}, WithRateLimit(Rate{}, 0))
	_, servers["slow"] = newTestServer(t, store, WithRateLimit(Rate{}, 0), WithQueryTimeout(time.Nanosecond))
	// One failed login uses the guarded server's allowance: everything
	// after it from this address is 429 until the clock moves.
	_, servers["guarded"] = newTestServer(t, store, WithClock(clock.now), WithLoginLimit(1, time.Hour))
	if code, _, _ := get(t, servers["guarded"], "/dnsdb/v2/rate_limit", map[string]string{"X-Api-Key": "wrong"}); code != http.StatusUnauthorized {
		t.Fatalf("wrong key on the guarded server: %d", code)
	}

	limitedAt := func(next int) *regexp.Regexp {
		return regexp.MustCompile(`^Result limit reached.*\boffset\D*\b` + strconv.Itoa(next) + `\b`)
	}
	cases := []apiCase{
		// DNSDB lookup: names, wildcards, types, bailiwicks.
		{name: "rrset name", path: "/dnsdb/v2/lookup/rrset/name/www.example.com", check: wantCount(2)},
		{name: "rrset name any case, final dot", path: "/dnsdb/v2/lookup/rrset/name/WWW.Example.COM.", check: wantCount(2)},
		{name: "rrset left-hand wildcard", path: "/dnsdb/v2/lookup/rrset/name/%2A.example.com", check: wantCount(5)},
		{name: "rrset right-hand wildcard", path: "/dnsdb/v2/lookup/rrset/name/www.example.%2A", check: wantCount(2)},
		{name: "rrset zone apex, all types", path: "/dnsdb/v2/lookup/rrset/name/example.com", check: wantCount(3)},
		{name: "nothing matches: 200, begin then succeeded", path: "/dnsdb/v2/lookup/rrset/name/nothing.example", check: wantCount(0)},
		{name: "rrset type", path: "/dnsdb/v2/lookup/rrset/name/example.com/MX", check: wantCount(1)},
		{name: "rrset type lower case", path: "/dnsdb/v2/lookup/rrset/name/example.com/txt", check: wantCount(1)},
		{name: "rrset unknown type as TYPEnnn", path: "/dnsdb/v2/lookup/rrset/name/odd.example.com/TYPE65280", check: wantType("odd.example.com", "TYPE65280")},
		{name: "rrset hyphenated type", path: "/dnsdb/v2/lookup/rrset/name/nsap.example.com/NSAP-PTR", check: wantType("nsap.example.com", "NSAP-PTR")},
		{name: "rrset ANY with bailiwick", path: "/dnsdb/v2/lookup/rrset/name/www.example.com/ANY/example.com", check: wantCount(1)},
		{name: "rrset type with bailiwick", path: "/dnsdb/v2/lookup/rrset/name/example.com/NS/com.", check: wantCount(1)},
		{name: "limited", path: "/dnsdb/v2/lookup/rrset/name/%2A.many.example?limit=5", check: wantEnd("limited", regexp.MustCompile(`^Result limit reached`))},
		{name: "limited msg names the next offset", path: "/dnsdb/v2/lookup/rrset/name/%2A.many.example?limit=5&offset=3", pending: pendLimitMsg, check: wantEnd("limited", limitedAt(8))},
		{name: "offset to the end", path: "/dnsdb/v2/lookup/rrset/name/%2A.many.example?limit=5&offset=28", check: wantEnd("succeeded", nil)},
		{name: "limit 0 is the maximum", path: "/dnsdb/v2/lookup/rrset/name/%2A.many.example?limit=0", check: wantCount(30)},
		{name: "time fences", path: "/dnsdb/v2/lookup/rrset/name/%2A.example.com?time_first_after=40&time_first_before=200&time_last_after=55&time_last_before=250", check: wantCount(3)},
		{name: "what dnsdbq always sends", path: "/dnsdb/v2/lookup/rrset/name/www.example.com?swclient=dnsdbq&version=2.6.8", check: wantCount(2)},
		{name: "aggr=t, humantime=f", path: "/dnsdb/v2/lookup/rrset/name/www.example.com?aggr=t&humantime=f", check: wantCount(2)},
		{name: "aggr=True, humantime=false", path: "/dnsdb/v2/lookup/rrset/name/www.example.com?aggr=True&humantime=false", check: wantCount(2)},
		{name: "negative fence: seconds before now", path: "/dnsdb/v2/lookup/rrset/name/www.example.com?time_last_after=-31536000", pending: pendNegFence, check: wantCount(0)},
		{name: "rdata name", path: "/dnsdb/v2/lookup/rdata/name/www.example.com.", check: wantCount(1)},
		{name: "rdata name wildcard", path: "/dnsdb/v2/lookup/rdata/name/%2A.example.net"},
		{name: "rdata name type", path: "/dnsdb/v2/lookup/rdata/name/mail.example.com/MX", check: wantCount(1)},
		{name: "rdata ip", path: "/dnsdb/v2/lookup/rdata/ip/192.0.2.20", check: wantCount(1)},
		{name: "rdata ip6 as dnsdbq escapes it", path: "/dnsdb/v2/lookup/rdata/ip/2001%3Adb8%3A%3A1", check: wantCount(1)},
		{name: "rdata cidr, comma", path: "/dnsdb/v2/lookup/rdata/ip/192.0.2.0,24", check: wantCount(2)},
		{name: "rdata cidr, escaped comma (dnsdbq -f)", path: "/dnsdb/v2/lookup/rdata/ip/192.0.2.0%2C24", check: wantCount(2)},
		{name: "rdata range", path: "/dnsdb/v2/lookup/rdata/ip/192.0.2.1-192.0.2.10", check: wantCount(1)},
		{name: "rdata ip type", path: "/dnsdb/v2/lookup/rdata/ip/192.0.2.0,24/A", check: wantCount(2)},
		// DNSDB errors.
		{name: "unknown rrtype", path: "/dnsdb/v2/lookup/rrset/name/www.example.com/BOGUS", status: 400},
		{name: "bad address", path: "/dnsdb/v2/lookup/rdata/ip/nope", status: 400},
		{name: "negative limit", path: "/dnsdb/v2/lookup/rrset/name/www.example.com?limit=-1", status: 400},
		{name: "aggr=f (dnsdbq -g)", path: "/dnsdb/v2/lookup/rrset/name/www.example.com?aggr=f", status: 400, pending: pendAggr, check: wantEnd("failed", regexp.MustCompile(`not supported`))},
		{name: "aggr=false", path: "/dnsdb/v2/lookup/rrset/name/www.example.com?aggr=false", status: 400, pending: pendAggr},
		{name: "humantime=true", path: "/dnsdb/v2/lookup/rrset/name/www.example.com?humantime=true", status: 400, pending: pendAggr},
		{name: "offset past offset_max", path: "/dnsdb/v2/lookup/rrset/name/www.example.com?offset=100001", status: 416, pending: pendOffset416, check: wantEnd("failed", regexp.MustCompile(`offset_max`))},
		// DNSDB summarize.
		{name: "summarize wildcard", path: "/dnsdb/v2/summarize/rrset/name/%2A.example.com", check: func(t *testing.T, lines []any, _ http.Header) {
			if o := objs(lines); len(o) != 1 || fmt.Sprint(o[0]["num_results"]) != "5" {
				t.Errorf("summary %v, want num_results 5", o)
			}
		}},
		{name: "summarize nothing", path: "/dnsdb/v2/summarize/rrset/name/nothing.example", check: wantCount(1)},
		{name: "summarize type", path: "/dnsdb/v2/summarize/rrset/name/www.example.com/A?max_count=10"},
		{name: "summarize bailiwick", path: "/dnsdb/v2/summarize/rrset/name/www.example.com/A/example.com"},
		{name: "summarize rdata name", path: "/dnsdb/v2/summarize/rdata/name/www.example.com."},
		{name: "summarize rdata name type", path: "/dnsdb/v2/summarize/rdata/name/www.example.com./CNAME"},
		{name: "summarize rdata ip", path: "/dnsdb/v2/summarize/rdata/ip/192.0.2.0,24"},
		{name: "summarize rdata ip type", path: "/dnsdb/v2/summarize/rdata/ip/192.0.2.0,24/A"},
		// rate_limit and ping.
		{name: "rate_limit, limited key", path: "/dnsdb/v2/rate_limit?swclient=dnsdbq&version=2.6.8"},
		{name: "rate_limit, unlimited", server: "unlimited", path: "/dnsdb/v2/rate_limit"},
		{name: "rate_limit, Basic", path: "/dnsdb/v2/rate_limit", hdr: basicAlice},
		{name: "ping", path: "/dnsdb/v2/ping", pending: pendPing},
		{name: "openapi.json without credentials", path: "/openapi.json", hdr: map[string]string{}},
		{name: "openapi.json to an address that failed logins", server: "guarded", path: "/openapi.json", hdr: map[string]string{}},
		// CIRCL.
		{name: "circl name, Basic", path: "/pdns/query/www.example.com", hdr: basicAlice, check: wantCount(3)},
		{name: "circl name, X-Api-Key", path: "/pdns/query/WWW.example.com.", check: wantCount(3)},
		{name: "circl left-hand wildcard", path: "/pdns/query/%2A.example.org", hdr: basicAlice, check: wantCount(1)},
		{name: "circl wildcard, raw star (PyPDNS)", path: "/pdns/query/*.many.example", hdr: basicAlice, check: wantCount(30)},
		{name: "circl right-hand wildcard", path: "/pdns/query/mail.example.%2A", hdr: basicAlice},
		{name: "circl address", path: "/pdns/query/192.0.2.20", hdr: basicAlice, check: wantCount(1)},
		{name: "circl ip6 raw (PyPDNS)", path: "/pdns/query/2001:db8::1", hdr: basicAlice, check: wantCount(1)},
		{name: "circl cidr, comma (dnsdbq -u circl)", path: "/pdns/query/192.0.2.0%2C24", hdr: basicAlice, check: wantCount(2)},
		{name: "circl cidr, escaped slash", path: "/pdns/query/192.0.2.0%2F24", hdr: basicAlice, check: wantCount(2)},
		{name: "circl cidr, slash (PyPDNS)", path: "/pdns/query/192.0.2.0/24", hdr: basicAlice, pending: pendSlashCIDR, check: wantCount(2)},
		{name: "circl range", path: "/pdns/query/192.0.2.2-192.0.2.30", hdr: basicAlice, check: wantCount(1)},
		{name: "circl nothing: 200, empty body", path: "/pdns/query/nothing.example", hdr: basicAlice, check: wantCount(0)},
		{name: "circl filter", path: "/pdns/query/www.example.com", hdr: with(basicAlice, "dribble-filter-rrtype", "AAAA,CNAME", "dribble-disable-active-query", "1"), check: wantCount(2)},
		{name: "circl page", path: "/pdns/query/%2A.many.example", hdr: with(basicAlice, "dribble-paginate-count", "50"), check: wantCount(30)},
		{name: "circl first page of 10", path: "/pdns/query/%2A.many.example", hdr: with(basicAlice, "dribble-paginate-count", "10"), check: func(t *testing.T, lines []any, hdr http.Header) {
			if len(lines) != 10 || hdr.Get("x-dribble-cursor") == "" {
				t.Errorf("%d records, cursor %q: want 10 and a cursor", len(lines), hdr.Get("x-dribble-cursor"))
			}
		}},
		{name: "circl next page", path: "/pdns/query/%2A.many.example", hdr: with(basicAlice, "dribble-paginate-count", "10", "dribble-paginate-cursor", "10"), check: wantCount(10)},
		{name: "circl MX, TXT, NS", path: "/pdns/query/example.com", hdr: with(basicAlice, "dribble-filter-rrtype", "MX,TXT,NS"), check: wantCount(3)},
		{name: "circl unknown type as a number", path: "/pdns/query/odd.example.com", hdr: basicAlice, pending: pendCIRCLType, check: wantType("odd.example.com", 65280)},
		{name: "circl hyphenated type as a number", path: "/pdns/query/nsap.example.com", hdr: basicAlice, pending: pendCIRCLType, check: wantType("nsap.example.com", 23)},
		{name: "circl unknown filter type", path: "/pdns/query/www.example.com", hdr: with(basicAlice, "dribble-filter-rrtype", "BOGUS"), status: 400},
		{name: "circl zero page", path: "/pdns/query/www.example.com", hdr: with(basicAlice, "dribble-paginate-count", "0"), status: 400},
		{name: "circl bad cursor", path: "/pdns/query/www.example.com", hdr: with(basicAlice, "dribble-paginate-cursor", "x"), status: 400},
		{name: "circl slash cidr, bad cursor", path: "/pdns/query/192.0.2.0/24", hdr: with(basicAlice, "dribble-paginate-cursor", "x"), status: 400},
	}

	// Every (path, status) the document lists that no case above answers
	// gets a generated case on one sample request of the path.
	samples := map[string]apiCase{}
	for _, c := range cases {
		if tmpl, _, ok := d.match(pathOnly(c.path)); ok && c.status == 0 {
			if _, seen := samples[tmpl]; !seen {
				samples[tmpl] = c
			}
		}
	}
	covered := map[string]bool{}
	for _, c := range cases {
		if tmpl, _, ok := d.match(pathOnly(c.path)); ok {
			covered[tmpl+" "+strconv.Itoa(statusOr(c.status, 200))] = true
		}
	}
	for _, tmpl := range d.templates() {
		op, _ := d.operation(tmpl)
		sample, ok := samples[tmpl]
		if !ok {
			t.Errorf("%s: documented, never requested", tmpl)
			continue
		}
		// Every path that takes credentials answers 401 without them and
		// 429 to an address that failed too often: documented or not.
		statuses := d.statuses(op)
		if sec, open := op.v["security"].([]any); !open || len(sec) > 0 {
			statuses = append(statuses, http.StatusUnauthorized, http.StatusTooManyRequests)
		}
		slices.Sort(statuses)
		for _, status := range slices.Compact(statuses) {
			if covered[tmpl+" "+strconv.Itoa(status)] {
				continue
			}
			c, ok := errorCase(sample, status)
			if !ok {
				t.Errorf("%s: status %d is documented, and no case makes it", tmpl, status)
				continue
			}
			cases = append(cases, c)
		}
	}

	answered := map[string]bool{}
	waits := map[string]string{} // (path, status) -> the pending change a failed case waited for
	for _, c := range cases {
		c.status = statusOr(c.status, 200)
		name := c.name
		if c.pending != "" {
			name += " [pending: " + c.pending + "]"
		}
		t.Run(name, func(t *testing.T) {
			if c.pending != "" {
				t.Logf("depends on a pending API change: %s", c.pending)
			}
			srv := servers[strOr(c.server, "main")]
			hdr := c.hdr
			if hdr == nil {
				hdr = key
			}
			esc := pathOnly(c.path)
			tmpl, params, ok := d.match(esc)
			if !ok {
				t.Fatalf("%s is in no documented path", esc)
			}
			op, _ := d.operation(tmpl)
			u, _ := url.Parse(c.path)
			d.checkRequest(t, op, params, u.Query(), hdr, c.status < 300)
			code, rh, body := get(t, srv, c.path, hdr)
			if code != c.status {
				t.Fatalf("status %d, want %d; body %.300q", code, c.status, body)
			}
			lines := d.checkAnswer(t, op, code, rh, body)
			if strings.HasPrefix(tmpl, "/dnsdb/v2/") && rh.Get("Content-Type") == "application/x-ndjson" {
				checkSAF(t, lines)
			}
			if tmpl == "/openapi.json" && body != string(openAPIDocument) {
				t.Error("/openapi.json is not the embedded document")
			}
			if c.check != nil {
				c.check(t, lines, rh)
			}
			if !t.Failed() {
				answered[tmpl+" "+strconv.Itoa(code)] = true
			}
		})
		if tmpl, _, ok := d.match(pathOnly(c.path)); ok && c.pending != "" {
			waits[tmpl+" "+strconv.Itoa(c.status)] = c.pending
		}
	}
	for _, tmpl := range d.templates() {
		op, _ := d.operation(tmpl)
		for _, status := range d.statuses(op) {
			k := tmpl + " " + strconv.Itoa(status)
			if answered[k] {
				continue
			}
			if p := waits[k]; p != "" {
				t.Errorf("%s %d: documented, never answered as documented [pending: %s]", tmpl, status, p)
			} else {
				t.Errorf("%s %d: documented, never answered as documented", tmpl, status)
			}
		}
	}

	// Conversely: paths beside the documented ones are not served.
	for _, p := range []string{"/", "/dnsdb/v2", "/dnsdb/v2/lookup", "/dnsdb/v2/lookup/rrset", "/dnsdb/v1/lookup/rrset/name/x", "/dnsdb/v2/rate_limit/x", "/pdns/other/x", "/openapi.yaml"} {
		if code, _, _ := get(t, servers["main"], p, key); code != http.StatusNotFound {
			t.Errorf("%s: %d, want 404 (not documented)", p, code)
		}
	}
}

// errorCase makes the request for a documented error status from a
// sample request of the path that succeeds.
func errorCase(sample apiCase, status int) (apiCase, bool) {
	c := apiCase{name: fmt.Sprintf("%s: %d", pathOnly(sample.path), status), path: pathOnly(sample.path), status: status, hdr: sample.hdr, pending: sample.pending}
	dnsdb := strings.HasPrefix(c.path, "/dnsdb/v2/")
	switch status {
	case http.StatusUnauthorized:
		c.hdr = noCreds
	case http.StatusTooManyRequests:
		c.server = "guarded"
	case http.StatusInternalServerError:
		c.server = "failing"
	case http.StatusServiceUnavailable:
		c.server = "slow"
	case http.StatusBadRequest:
		if dnsdb {
			c.path += "?limit=x"
		} else {
			c.hdr = with(hdrOr(c.hdr, key), "dribble-paginate-count", "x")
		}
	case http.StatusRequestedRangeNotSatisfiable:
		if !dnsdb {
			return c, false
		}
		c.path += "?offset=" + strconv.Itoa(MaxOffset+1)
		c.pending = strOr(c.pending, pendOffset416)
	default:
		return c, false
	}
	return c, true
}

func pathOnly(p string) string {
	p, _, _ = strings.Cut(p, "?")
	return p
}

func statusOr(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

func strOr(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

func hdrOr(v, def map[string]string) map[string]string {
	if v == nil {
		return def
	}
	return v
}
