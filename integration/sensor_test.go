package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/cofswitch/cofswitch/bus/bustest"
	"github.com/cofswitch/cofswitch/cof"
	"github.com/cofswitch/cofswitch/sensor/dnstap/dnstaptest"
)

// peerRecords reads a peer's stream as parsed records (the operator's
// view, on a server without authentication).
func peerRecords(t *testing.T, url, peer string) []cof.Record {
	t.Helper()
	out, stderr, code := run(t, nil, "tail", "--peer", peer, "--from-start", "--wait", "300ms", "--nats-url", url)
	if code != 0 {
		t.Fatalf("tail %s: exit %d: %s", peer, code, stderr)
	}
	var recs []cof.Record
	for line := range strings.SplitSeq(strings.TrimSpace(out), "\n") {
		if line == "" {
			continue
		}
		r, err := cof.Parse([]byte(line))
		if err != nil {
			t.Fatalf("peer received %q: %v", line, err)
		}
		recs = append(recs, r)
	}
	return recs
}

// TestSensorFromUnboundToAPeer: Debian's unbound resolves through a stub
// zone served by the test and sends dnstap to 'cofswitch sensor', which
// filters, aggregates and publishes to a running exchange: the peer gets
// the right COF records, field by field, and no client address anywhere.
func TestSensorFromUnboundToAPeer(t *testing.T) {
	bin := dnstaptest.Bin(t)
	url, _, _ := serveExternal(t, `
sensors:
  - {id: resolver-1, organisation: org-a}
peers:
  - {id: hub, organisation: org-a, consumers: [sink], subscriptions: [{sensors: [resolver-1]}]}
`)
	dir := dnstaptest.ShortTempDir(t)
	// The default filter withholds .test (an internal zone); this one only
	// loopback addresses, to see a filter at work on real answers.
	filter := writeFile(t, "filter.yaml", "exclude: {rdata_cidrs: [127.0.0.0/8]}\n")
	metrics := freeAddr(t)
	sn := start(t, "sensor", "--sensor", "resolver-1", "--input", "dnstap-unix:"+filepath.Join(dir, "dnstap.sock"),
		"--spool", filepath.Join(dir, "spool"), "--window", "1s", "--filter", filter, "--nats-url", url, "--metrics", metrics)
	waitFor(t, "sensor running", 10*time.Second, func() bool { return contains(sn.output(), "sensor running") })

	before := time.Now().Unix()
	port := dnstaptest.FreePort(t)
	dnstaptest.StartUnbound(t, bin, dir, dnstaptest.Conf(port, dir, dnstaptest.StartAuth(t)))
	resolver := fmt.Sprintf("127.0.0.1:%d", port)
	for _, q := range []struct {
		name  string
		qtype uint16
	}{{"www.example.test.", dns.TypeA}, {"alias.example.test.", dns.TypeA}, {"v6.example.test.", dns.TypeAAAA},
		{"example.test.", dns.TypeMX}, {"example.test.", dns.TypeTXT}, {"ns.example.test.", dns.TypeA},
		{"nope.example.test.", dns.TypeA}} {
		dnstaptest.Query(t, resolver, q.name, q.qtype)
	}
	want := map[string]string{
		"www.example.test A":       `192.0.2.10 192.0.2.11`,
		"alias.example.test CNAME": `www.example.test`,
		"v6.example.test AAAA":     `2001:db8::10`,
		"example.test MX":          `10 mx.example.test`,
		"example.test TXT":         `"v=spf1 -all"`,
	}
	var got map[string]cof.Record
	waitFor(t, "the resolver's records at the peer", 20*time.Second, func() bool {
		got = map[string]cof.Record{}
		for _, r := range peerRecords(t, url, "hub") {
			got[r.RRName+" "+r.RRType.String()] = r
		}
		return len(got) >= len(want)
	})
	after := time.Now().Unix()
	for key, rdata := range want {
		r, ok := got[key]
		if !ok {
			t.Errorf("%s missing at the peer; got %v", key, slices.Sorted(mapKeys(got)))
			continue
		}
		if strings.Join(r.RData, " ") != rdata || r.Bailiwick != "example.test" || r.SensorID != "resolver-1" ||
			r.TimeFirst < before || r.TimeLast > after || r.TimeFirst > r.TimeLast || r.Count < 1 {
			t.Errorf("%s: rdata %q bailiwick %q sensor %q times %d..%d count %d", key, r.RData, r.Bailiwick, r.SensorID,
				r.TimeFirst, r.TimeLast, r.Count)
		}
	}
	if _, ok := got["ns.example.test A"]; ok {
		t.Errorf("ns.example.test A 127.0.0.1 passed the sensor's filter")
	}
	if _, ok := got["nope.example.test A"]; ok {
		t.Errorf("an NXDOMAIN became a record")
	}
	out, _, _ := run(t, nil, "tail", "--peer", "hub", "--from-start", "--wait", "300ms", "--nats-url", url)
	if strings.Contains(out, "127.0.0.1") || strings.Contains(out, "unbound") {
		t.Errorf("a client address or the resolver's identity reached the peer:\n%s", out)
	}
	m := get(metrics)
	for _, want := range []string{"cofswitch_sensor_observations_total", "cofswitch_sensor_withheld_total", "cofswitch_sensor_stored_batches_total",
		`cofswitch_sensor_dnstap_negative_answers_total{rcode="NXDOMAIN"} 1`} {
		if !strings.Contains(m, want) {
			t.Errorf("sensor metrics lack %s", want)
		}
	}
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// TestSensorSpoolsAcrossOutageAndKill9: a sensor follows a log while the
// exchange's server stops; it is killed with SIGKILL meanwhile and
// restarted, the log grows, then the server comes back: every line's
// record reaches the peer exactly once.
func TestSensorSpoolsAcrossOutageAndKill9(t *testing.T) {
	ns := bustest.NewRestartable(t)
	url := ns.URL()
	cfg := writeFile(t, "c.yaml", `
sensors:
  - {id: s1, organisation: org-a}
peers:
  - {id: hub, organisation: org-a, consumers: [sink], subscriptions: [{sensors: [s1]}]}
`)
	sw := start(t, "serve", "--config", cfg, "--data", t.TempDir(), "--nats-url", url)
	waitFor(t, "switch ready", 15*time.Second, func() bool { return contains(sw.output(), "exchange ready") })
	dir := t.TempDir()
	logFile := filepath.Join(dir, "records.ndjson")
	appendLines := func(from, n int) {
		f, err := os.OpenFile(logFile, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		for i := from; i < from+n; i++ {
			fmt.Fprintf(f, `{"rrname":"h%d.example.com","rrtype":"A","rdata":["198.51.100.%d"],"time_first":1700000000,"time_last":1700000000}`+"\n", i, i%250+1)
		}
		f.Close()
	}
	sensorArgs := []string{"sensor", "--sensor", "s1", "--input", "cof:" + logFile, "--spool", filepath.Join(dir, "spool"),
		"--window", "200ms", "--no-filter", "--batch", "100", "--nats-url", url}
	count := func() int { return len(peerRecords(t, url, "hub")) }

	appendLines(0, 1000)
	sn := start(t, sensorArgs...)
	waitFor(t, "the first 1000 at the peer", 20*time.Second, func() bool { return count() == 1000 })

	ns.Stop()
	appendLines(1000, 1000)
	waitFor(t, "the sensor to spool while the server is down", 10*time.Second, func() bool {
		es, _ := os.ReadDir(filepath.Join(dir, "spool"))
		n := 0
		for _, e := range es {
			if strings.HasSuffix(e.Name(), ".batch") {
				n++
			}
		}
		return n >= 10
	})
	_ = sn.stop(t, syscall.SIGKILL)
	appendLines(2000, 500)
	start(t, sensorArgs...)
	time.Sleep(500 * time.Millisecond) // it reads the new lines into the spool
	ns.Start()

	waitFor(t, "2500 records at the peer", 30*time.Second, func() bool { return count() >= 2500 })
	time.Sleep(time.Second) // anything doubled would arrive meanwhile
	seen := map[string]int{}
	for _, r := range peerRecords(t, url, "hub") {
		seen[r.RRName]++
	}
	if len(seen) != 2500 {
		t.Errorf("%d distinct records at the peer, want 2500", len(seen))
	}
	for name, n := range seen {
		if n != 1 {
			t.Errorf("%s arrived %d times", name, n)
		}
	}
}
