package integration

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/cofswitch/cofswitch/cof"
	"github.com/cofswitch/cofswitch/peers/db/pgtest"
	"github.com/cofswitch/cofswitch/routing"
	"github.com/cofswitch/cofswitch/switch/exchange"
)

// dnsdbSummary asks the database's DNSDB API for the summary of a query.
func dnsdbSummary(t *testing.T, addr, path string) (count, results int64) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/dnsdb/v2/summarize/"+path, nil)
	req.Header.Set("X-Api-Key", "test-key")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return -1, -1
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, l := range strings.Split(string(body), "\n") {
		var m struct {
			Obj struct {
				Count      int64 `json:"count"`
				NumResults int64 `json:"num_results"`
			} `json:"obj"`
		}
		if json.Unmarshal([]byte(l), &m) == nil && strings.HasPrefix(l, `{"obj"`) {
			return m.Obj.Count, m.Obj.NumResults
		}
	}
	return -1, -1
}

// TestDBSurvivesKill9: the database is killed with SIGKILL twice while it
// ingests; after restarts its counts are exact: nothing lost, nothing
// counted twice. It runs on the embedded store and, when a server is
// given, on PostgreSQL.
func TestDBSurvivesKill9(t *testing.T) {
	t.Run("embedded", func(t *testing.T) { dbKill9(t, nil) })
	t.Run("postgres", func(t *testing.T) {
		dbKill9(t, []string{"--postgres", pgtest.DSN(t)})
	})
}

func dbKill9(t *testing.T, extra []string) {
	t.Setenv("COFSWITCH_DB_API_KEYS", "test-key")
	srv, _, js := startServer(t)
	if err := ensureStreams(t.Context(), js, writeFile(t, "c.yaml", exchangeYAML)); err != nil {
		t.Fatal(err)
	}
	cc := exchange.PeerConsumerConfig("sink")
	cc.AckWait = 2 * time.Second
	cons, err := js.CreateOrUpdateConsumer(t.Context(), routing.PeerStream("peer-hub"), cc)
	if err != nil {
		t.Fatal(err)
	}
	codec, _ := cof.NewCodec()
	defer codec.Close()
	const batches, per, distinct = 1000, 50, 100
	for i := range batches {
		var body []byte
		for j := range per {
			k := (i*per + j) % distinct
			body = fmt.Appendf(body, `{"rrname":"x%d.example","rrtype":"A","rdata":["192.0.2.%d"],"time_first":%d,"time_last":%d,"sensor_id":"s1"}`+"\n", k, k+1, 1000+i, 2000+i)
		}
		m := natsMsgZstd(codec, routing.OutSubject("peer-hub"), body)
		if _, err := js.PublishMsgAsync(m); err != nil {
			t.Fatal(err)
		}
	}
	<-js.PublishAsyncComplete()
	info := func() *jetstream.ConsumerInfo {
		ci, err := cons.Info(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		return ci
	}
	store := filepath.Join(t.TempDir(), "db")
	addr := freeAddr(t)
	args := append([]string{"db", "serve", "--peer", "peer-hub", "--store", store, "--http", addr, "--nats-url", srv.ClientURL(), "--checkpoint", "100ms"}, extra...)
	for kill := 0; kill < 2; kill++ {
		before := info().Delivered.Consumer
		p := start(t, args...)
		waitFor(t, "ingest", 20*time.Second, func() bool { return info().Delivered.Consumer > before+100 })
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
		<-p.done
	}
	if info().AckFloor.Stream >= batches {
		t.Fatal("ingest finished before the second kill: make the input larger")
	}
	p := start(t, args...)
	waitFor(t, "all ingested and checkpointed", 60*time.Second, func() bool { return info().AckFloor.Stream == batches })
	waitFor(t, "the API", 10*time.Second, func() bool { c, _ := dnsdbSummary(t, addr, "rrset/name/%2A.example"); return c >= 0 })
	count, results := dnsdbSummary(t, addr, "rrset/name/%2A.example")
	if count != batches*per || results != distinct {
		t.Errorf("summary: count %d over %d rrsets, want %d over %d: records lost or counted twice", count, results, batches*per, distinct)
	}
	if err := p.stop(t, syscall.SIGTERM); err != nil {
		t.Errorf("db after SIGTERM: %v", err)
	}
	// The snapshot left by the clean stop answers the same after a restart.
	p2 := start(t, args...)
	waitFor(t, "the API after restart", 10*time.Second, func() bool { c, _ := dnsdbSummary(t, addr, "rrset/name/%2A.example"); return c == batches*per })
	_ = p2.stop(t, syscall.SIGTERM)
}

func TestDBImportAndRefusesAnonymousAccess(t *testing.T) {
	store := filepath.Join(t.TempDir(), "db")
	out, stderr, code := run(t, nil, "db", "import", "--store", store, "../testdata/cof/sample.ndjson", "../testdata/cof/invalid.ndjson")
	if code != 1 || !contains(out, "imported 10 records from 2 files (7 invalid lines skipped)") || !contains(stderr, "invalid.ndjson:2: rdata: missing") {
		t.Errorf("import: exit %d, %q, %q", code, out, stderr)
	}
	t.Setenv("COFSWITCH_DB_API_KEYS", "")
	_, stderr, code = run(t, nil, "db", "serve", "--peer", "p", "--store", store)
	if code != 2 || !contains(stderr, "no API key and no user") {
		t.Errorf("db serve without credentials: exit %d, %s", code, stderr)
	}
}
