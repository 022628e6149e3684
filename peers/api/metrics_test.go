package api

import (
	"encoding/base64"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// counts reads queries_total and the sample count of
// query_duration_seconds, by api and outcome, from a registry of m.
func counts(t *testing.T, m *Metrics) (queries map[[2]string]float64, timed map[string]uint64) {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(m)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	queries, timed = map[[2]string]float64{}, map[string]uint64{}
	for _, mf := range mfs {
		for _, mt := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range mt.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			switch mf.GetName() {
			case "cofswitch_db_queries_total":
				queries[[2]string{labels["api"], labels["outcome"]}] = mt.GetCounter().GetValue()
			case "cofswitch_db_query_duration_seconds":
				timed[labels["api"]] = mt.GetHistogram().GetSampleCount()
			}
		}
	}
	return queries, timed
}

// TestQueryMetrics: each kind of request to each API is counted under its
// api and outcome, and timed under its api; every series exists from the
// start, at zero.
func TestQueryMetrics(t *testing.T) {
	m := NewMetrics()
	q, _ := counts(t, m)
	if len(q) != len(apiLabels)*len(outcomeLabels) {
		t.Fatalf("%d series before any request, want every api and outcome: %v", len(q), q)
	}
	srv := testServerWith(t, WithMetrics(m), WithRateLimit(Rate{N: 1, Per: time.Hour}, 6))
	basic := func(user, pw string) map[string]string {
		return map[string]string{"Authorization": "Basic " + basicAuth(user, pw)}
	}
	tests := []struct {
		name, path   string
		hdr          map[string]string
		status       int
		api, outcome string
	}{
		{name: "DNSDB match", path: "/dnsdb/v2/lookup/rrset/name/www.example.com", hdr: key, status: 200, api: "dnsdb", outcome: "ok"},
		{name: "DNSDB no match", path: "/dnsdb/v2/lookup/rrset/name/absent.example", hdr: key, status: 200, api: "dnsdb", outcome: "not_found"},
		{name: "DNSDB bad rrtype", path: "/dnsdb/v2/lookup/rrset/name/www.example.com/NOPE", hdr: key, status: 400, api: "dnsdb", outcome: "bad_request"},
		{name: "DNSDB wrong key", path: "/dnsdb/v2/lookup/rrset/name/www.example.com", hdr: map[string]string{"X-Api-Key": "wrong"}, status: 401, api: "dnsdb", outcome: "unauthorized"},
		{name: "DNSDB rate_limit", path: "/dnsdb/v2/rate_limit", hdr: key, status: 200, api: "dnsdb", outcome: "ok"},
		{name: "CIRCL match", path: "/pdns/query/www.example.com", hdr: basic("alice", "pw"), status: 200, api: "circl", outcome: "ok"},
		{name: "CIRCL no match", path: "/pdns/query/absent.example", hdr: basic("alice", "pw"), status: 200, api: "circl", outcome: "not_found"},
		{name: "CIRCL bad type filter", path: "/pdns/query/www.example.com", hdr: map[string]string{"X-Api-Key": "k3y", "dribble-filter-rrtype": "NOPE"}, status: 400, api: "circl", outcome: "bad_request"},
		{name: "CIRCL wrong password", path: "/pdns/query/www.example.com", hdr: basic("alice", "nope"), status: 401, api: "circl", outcome: "unauthorized"},
		{name: "CIRCL no credentials", path: "/pdns/query/www.example.com", status: 401, api: "circl", outcome: "unauthorized"},
		{name: "an unknown path", path: "/wp-login.php", status: 404, api: "other", outcome: "not_found"},
	}
	want := map[[2]string]float64{}
	wantTimed := map[string]uint64{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if code, _, body := get(t, srv, tt.path, tt.hdr); code != tt.status {
				t.Fatalf("status %d, want %d: %s", code, tt.status, body)
			}
			want[[2]string{tt.api, tt.outcome}]++
			wantTimed[tt.api]++
		})
	}
	// Four of the key's burst of 6 are spent above (rate_limit and failed
	// logins spend none, alice has her own); two more, and the next query
	// is refused.
	for range 2 {
		get(t, srv, "/dnsdb/v2/lookup/rrset/name/www.example.com", key)
	}
	if code, _, _ := get(t, srv, "/pdns/query/www.example.com", key); code != http.StatusTooManyRequests {
		t.Fatalf("status %d after the burst, want 429", code)
	}
	want[[2]string{"dnsdb", "ok"}] += 2
	want[[2]string{"circl", "rate_limited"}]++
	wantTimed["dnsdb"] += 2
	wantTimed["circl"]++

	got, timed := counts(t, m)
	for _, a := range apiLabels {
		for _, o := range outcomeLabels {
			if k := [2]string{a, o}; got[k] != want[k] {
				t.Errorf("queries_total{api=%q,outcome=%q} = %v, want %v", a, o, got[k], want[k])
			}
		}
		if timed[a] != wantTimed[a] {
			t.Errorf("query_duration_seconds{api=%q} counted %d requests, want %d", a, timed[a], wantTimed[a])
		}
	}
}

// TestQueryMetricsTimeout: an answer cut off because the client stopped
// reading past the write timeout is counted as a timeout, though its
// status was 200.
func TestQueryMetricsTimeout(t *testing.T) {
	const writeTimeout = 200 * time.Millisecond
	m := NewMetrics()
	s := newServer(t, bigStore(t, 10000, 1000), WithMetrics(m), WithTimeouts(Timeouts{Write: writeTimeout}))
	addr := serve(t, s, func(ln net.Listener) net.Listener { return smallBuffers{ln} })
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.(*net.TCPConn).SetReadBuffer(32 << 10)
	_, _ = io.WriteString(c, "GET /dnsdb/v2/lookup/rrset/name/%2A.big.example HTTP/1.1\r\nHost: x\r\nX-Api-Key: k3y\r\nConnection: close\r\n\r\n")
	timeouts := m.queries.WithLabelValues("dnsdb", "timeout")
	deadline := time.Now().Add(10 * time.Second)
	for testutil.ToFloat64(timeouts) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no timeout counted; ok: %v", testutil.ToFloat64(m.queries.WithLabelValues("dnsdb", "ok")))
		}
		time.Sleep(50 * time.Millisecond) // not reading: the answer stalls
	}
	if ok := testutil.ToFloat64(m.queries.WithLabelValues("dnsdb", "ok")); ok != 0 {
		t.Errorf("the cut-off answer was also counted ok (%v)", ok)
	}
}

func TestOutcomeOf(t *testing.T) {
	tests := []struct {
		status int
		empty  bool
		want   string
	}{
		{status: 200, want: "ok"},
		{status: 200, empty: true, want: "not_found"},
		{status: 301, want: "ok"},
		{status: 400, want: "bad_request"},
		{status: 405, want: "bad_request"},
		{status: 401, want: "unauthorized"},
		{status: 403, want: "unauthorized"},
		{status: 404, want: "not_found"},
		{status: 408, want: "timeout"},
		{status: 429, want: "rate_limited"},
		{status: 500, want: "error"},
		{status: 503, want: "error"},
		{status: 504, want: "timeout"},
	}
	for _, tt := range tests {
		if got := outcomeOf(tt.status, tt.empty); got != tt.want {
			t.Errorf("outcomeOf(%d, empty %v) = %q, want %q", tt.status, tt.empty, got, tt.want)
		}
	}
}

func basicAuth(user, pw string) string {
	return base64.StdEncoding.EncodeToString([]byte(user + ":" + pw))
}
