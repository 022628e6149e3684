package main

import (
	"bytes"
	"context"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/cofswitch/cofswitch/bus/bustest"
	"github.com/cofswitch/cofswitch/cof"
	"github.com/cofswitch/cofswitch/peers/db"
	"github.com/cofswitch/cofswitch/routing"
	"github.com/cofswitch/cofswitch/switch/exchange/exchangetest"
)

// freeAddr returns a loopback address nothing listens on.
func freeAddr(t *testing.T) string { return bustest.FreeAddr(t) }

// httpGet returns the status and body of a GET with headers; status 0 if
// nothing answers.
func httpGet(t *testing.T, url string, hdr map[string]string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// scrape parses the metrics at url with the Prometheus text parser.
func scrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return mfs
}

// sample finds the metric of family name whose labels are labels
// (name=value pairs); nil if none.
func sample(mfs map[string]*dto.MetricFamily, name string, labels ...string) *dto.Metric {
	mf := mfs[name]
	if mf == nil {
		return nil
	}
next:
	for _, m := range mf.GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		for i := 0; i+1 < len(labels); i += 2 {
			if have[labels[i]] != labels[i+1] {
				continue next
			}
		}
		return m
	}
	return nil
}

// value is a counter's or gauge's value, or a histogram's sample count;
// -1 if the metric is absent.
func value(mfs map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	m := sample(mfs, name, labels...)
	switch {
	case m == nil:
		return -1
	case m.Counter != nil:
		return m.GetCounter().GetValue()
	case m.Gauge != nil:
		return m.GetGauge().GetValue()
	case m.Histogram != nil:
		return float64(m.GetHistogram().GetSampleCount())
	}
	return -1
}

// snapshotOf returns the bytes of a snapshot of an earlier version's
// in-memory store holding one rrset (migrated at the first start).
func snapshotOf(t *testing.T) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw, err := zstd.NewWriter(&buf)
	if err != nil {
		t.Fatal(err)
	}
	zw.Write([]byte(`{"format":"cofswitch-pdnsdb-1","applied":{},"rrsets":1}
{"rrname":"old.example","rrtype":"A","rdata":["192.0.2.9"],"time_first":1,"time_last":2,"count":1}
`))
	zw.Close()
	return buf.Bytes()
}

func checkFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestDBServeMetrics runs 'db serve --metrics' on the embedded store
// against a real feed. /readyz is 503 while the snapshot loads (a FIFO
// holds the load until the test writes it) and once the consumer is
// deleted, 200 in between (the FIFO stands for the snapshot of an
// earlier version, which the first start migrates); /metrics, parsed as Prometheus parses it,
// counts the records ingested and the queries of each API by outcome.
func TestDBServeMetrics(t *testing.T) {
	t.Setenv("COFSWITCH_DB_API_KEYS", "k3y")
	nc, js := exchangetest.PeerFeed(t)
	store := t.TempDir()
	fifo := filepath.Join(store, db.SnapshotFile)
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	httpAddr, metricsAddr := freeAddr(t), freeAddr(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	exited, stderr := runInBackground(ctx, "db", "serve", "--peer", exchangetest.Peer, "--store", store, "--http", httpAddr,
		"--metrics", metricsAddr, "--nats-url", nc.ConnectedUrl(), "--checkpoint", "50ms")
	base := "http://" + metricsAddr
	var code int
	var body string
	checkFor(t, "/readyz", func() bool { code, body = httpGet(t, base+"/readyz", nil); return code != 0 })
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "store is not loaded") {
		t.Fatalf("/readyz while the snapshot loads: %d %q, want 503 saying so", code, body)
	}
	if code, _ := httpGet(t, base+"/healthz", nil); code != http.StatusOK {
		t.Errorf("/healthz while loading: %d", code)
	}
	if err := os.WriteFile(fifo, snapshotOf(t), 0o600); err != nil {
		t.Fatal(err)
	}
	checkFor(t, "ready", func() bool { code, body = httpGet(t, base+"/readyz", nil); return code == http.StatusOK })

	for i := range 3 {
		exchangetest.Store(t, js, exchangetest.Batch(i, 4), cof.Zstd, nil)
	}
	var mfs map[string]*dto.MetricFamily
	checkFor(t, "12 records applied and checkpointed", func() bool {
		mfs = scrape(t, base+"/metrics")
		return value(mfs, "cofswitch_db_records_applied_total") == 12 && value(mfs, "cofswitch_db_checkpoint_duration_seconds") > 0
	})
	queryEachAPI(t, "http://"+httpAddr)

	checkDBMetrics(t, scrape(t, base+"/metrics"))

	if err := js.DeleteConsumer(t.Context(), routing.PeerStream(exchangetest.Peer), routing.PeerConsumer); err != nil {
		t.Fatal(err)
	}
	code, body = httpGet(t, base+"/readyz", nil)
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "consumer not found") {
		t.Errorf("/readyz without the consumer: %d %q, want 503 saying so", code, body)
	}
	cancel()
	if c := <-exited; c != exitOK {
		t.Errorf("db serve exited %d: %s", c, stderr.String())
	}
}

// checkDBMetrics checks the scrape of TestDBServeMetrics: 3 batches of 4
// records applied and checkpointed, and each query of queryEachAPI
// counted once under its api and outcome.
func checkDBMetrics(t *testing.T, mfs map[string]*dto.MetricFamily) {
	t.Helper()
	for _, tt := range []struct {
		name   string
		labels []string
		want   float64 // -2: any positive value
		tol    float64 // how far from want is still right
	}{
		{name: "cofswitch_db_records_applied_total", want: 12},
		{name: "cofswitch_db_batches_applied_total", want: 3},
		// The snapshot's one and 12 new, counted by a HyperLogLog
		// sketch: two rrsets in one register (p = 14: 0.5% for 13) read 12.
		{name: "cofswitch_db_rrsets", want: 13, tol: 1},
		{name: "cofswitch_db_store_bytes", want: -2},
		{name: "cofswitch_db_checkpoint_duration_seconds", want: -2},
		{name: "cofswitch_db_queries_total", labels: []string{"api", "dnsdb", "outcome", "ok"}, want: 1},
		{name: "cofswitch_db_queries_total", labels: []string{"api", "dnsdb", "outcome", "not_found"}, want: 1},
		{name: "cofswitch_db_queries_total", labels: []string{"api", "dnsdb", "outcome", "bad_request"}, want: 1},
		{name: "cofswitch_db_queries_total", labels: []string{"api", "dnsdb", "outcome", "unauthorized"}, want: 1},
		{name: "cofswitch_db_queries_total", labels: []string{"api", "dnsdb", "outcome", "error"}, want: 0},
		{name: "cofswitch_db_queries_total", labels: []string{"api", "circl", "outcome", "ok"}, want: 1},
		{name: "cofswitch_db_queries_total", labels: []string{"api", "circl", "outcome", "not_found"}, want: 1},
		{name: "cofswitch_db_queries_total", labels: []string{"api", "circl", "outcome", "bad_request"}, want: 1},
		{name: "cofswitch_db_queries_total", labels: []string{"api", "circl", "outcome", "unauthorized"}, want: 1},
		{name: "cofswitch_db_queries_total", labels: []string{"api", "circl", "outcome", "rate_limited"}, want: 0},
		{name: "cofswitch_db_query_duration_seconds", labels: []string{"api", "dnsdb"}, want: 4},
		{name: "cofswitch_db_query_duration_seconds", labels: []string{"api", "circl"}, want: 4},
	} {
		got := value(mfs, tt.name, tt.labels...)
		if (tt.want == -2 && got <= 0) || (tt.want != -2 && math.Abs(got-tt.want) > tt.tol) {
			t.Errorf("%s%v = %v, want %v", tt.name, tt.labels, got, tt.want)
		}
	}
}

// queryEachAPI asks each API a query that matches, one that matches
// nothing, a bad one and one with a wrong key.
func queryEachAPI(t *testing.T, base string) {
	t.Helper()
	key := map[string]string{"X-Api-Key": "k3y"}
	for _, q := range []struct {
		path   string
		hdr    map[string]string
		status int
	}{
		{"/dnsdb/v2/lookup/rrset/name/b0-r0.example", key, 200},
		{"/dnsdb/v2/lookup/rrset/name/absent.example", key, 200},
		{"/dnsdb/v2/lookup/rrset/name/b0-r0.example/NOPE", key, 400},
		{"/dnsdb/v2/lookup/rrset/name/b0-r0.example", map[string]string{"X-Api-Key": "wrong"}, 401},
		{"/pdns/query/old.example", key, 200},
		{"/pdns/query/absent.example", key, 200},
		{"/pdns/query/old.example", map[string]string{"X-Api-Key": "k3y", "dribble-filter-rrtype": "NOPE"}, 400},
		{"/pdns/query/old.example", map[string]string{"X-Api-Key": "wrong"}, 401},
	} {
		if code, body := httpGet(t, base+q.path, q.hdr); code != q.status {
			t.Errorf("GET %s: %d %q, want %d", q.path, code, body, q.status)
		}
	}
}
