package integration

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cofswitch/cofswitch/cof"
	"github.com/cofswitch/cofswitch/config"
	"github.com/cofswitch/cofswitch/policy"
	"github.com/cofswitch/cofswitch/routing"
)

const policyYAML = `
streams:
  duplicate_window: 5m
switch:
  ack_wait: 2s
  require_tlp: true
policies:
  strict:
    tlp: AMBER
    include:
      rrtypes: [A, AAAA]
    exclude:
      zones: [internal-zones]
      rdata_cidrs: [special-purpose]
    transforms:
      pseudonymise_sensor: {key_env: COFSWITCH_KEY_STRICT}
      truncate_ip: {ipv4: 24, ipv6: 48}
      coarsen_time: 1h
      release: immediate # these tests are about views and reloads, not timing
      drop_fields: [origin]
  research:
    tlp: RED
    exclude:
      zones: [internal-zones]
      rdata_cidrs: [special-purpose]
    transforms:
      cryptopan: {key_env: COFSWITCH_KEY_CRYPTOPAN}
      hash_labels: {key_env: COFSWITCH_KEY_LABELS}
sensors:
  - id: org-a-s1
peers:
  - id: peer-strict
    subscriptions:
      - sensors: ["org-a-*"]
        policy: strict
  - id: peer-research
    subscriptions:
      - sensors: ["org-a-*"]
        policy: research
  - id: peer-raw
    subscriptions:
      - sensors: ["org-a-*"]
        policy: pass
        tlp: RED
`

func policyEnv(t *testing.T) {
	t.Setenv("COFSWITCH_KEY_STRICT", strings.Repeat("ab", 32))
	t.Setenv("COFSWITCH_KEY_CRYPTOPAN", strings.Repeat("cd", 32))
	t.Setenv("COFSWITCH_KEY_LABELS", strings.Repeat("ef", 32))
}

// sensorData is one sensor's mix: public A/AAAA, private addresses,
// internal names, other types, with an origin.
func sensorData(n int) []byte {
	var b []byte
	for i := range n {
		var line string
		switch i % 5 {
		case 0:
			line = fmt.Sprintf(`{"rrname":"host%d.shop.example.co.uk","rrtype":"A","rdata":"93.184.%d.%d","time_first":1700000123,"time_last":1700003601,"origin":"https://sensor.org-a/","sensor_id":"org-a-s1"}`, i, i%200, i%250+1)
		case 1:
			line = fmt.Sprintf(`{"rrname":"v6-%d.example.net","rrtype":"AAAA","rdata":"2606:4700:%x:1::%x","time_first":1700000123,"time_last":1700003601,"sensor_id":"org-a-s1"}`, i, i%65535, i%65535+1)
		case 2:
			line = fmt.Sprintf(`{"rrname":"intranet%d.example.org","rrtype":"A","rdata":"10.%d.0.1","time_first":1,"time_last":2}`, i, i%250)
		case 3:
			line = fmt.Sprintf(`{"rrname":"nas%d.home.arpa","rrtype":"A","rdata":"93.184.216.34","time_first":1,"time_last":2}`, i)
		case 4:
			line = fmt.Sprintf(`{"rrname":"mail%d.example.com","rrtype":"MX","rdata":"10 mx.example.com.","time_first":1,"time_last":2}`, i)
		}
		b = append(b, line+"\n"...)
	}
	return b
}

// TestTwoPoliciesTwoViews: two peers subscribed to the same sensor under
// different policies receive different views, and neither view holds what
// its policy removes; a third peer without policy gets the raw records.
func TestTwoPoliciesTwoViews(t *testing.T) {
	policyEnv(t)
	srv, _, js := startServer(t)
	url := srv.ClientURL()
	data := t.TempDir() // the switch keeps its secret here
	cfg := writeFile(t, "c.yaml", policyYAML)
	sw := start(t, "serve", "--config", cfg, "--data", data, "--nats-url", url)
	waitFor(t, "switch ready", 15*time.Second, func() bool { return contains(sw.output(), "exchange ready") })
	input := writeFile(t, "d.ndjson", string(sensorData(500)))
	if _, stderr, code := run(t, nil, "publish", "--sensor", "org-a-s1", "--nats-url", url, input); code != 0 {
		t.Fatalf("publish: %s", stderr)
	}
	waitFor(t, "input switched", 15*time.Second, func() bool { return inputMsgs(t, js) == 0 })

	view := func(peer string) []map[string]any {
		out, stderr, code := run(t, nil, "tail", "--peer", peer, "--from-start", "--wait", "1s", "--nats-url", url)
		if code != 0 {
			t.Fatalf("tail %s: %s", peer, stderr)
		}
		var recs []map[string]any
		for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
			if l == "" {
				continue
			}
			var m map[string]any
			if err := json.Unmarshal([]byte(l), &m); err != nil {
				t.Fatal(err)
			}
			recs = append(recs, m)
		}
		return recs
	}
	raw, strict, research := view("peer-raw"), view("peer-strict"), view("peer-research")
	if len(raw) != 500 || len(strict) != 200 || len(research) != 300 {
		t.Fatalf("views: raw %d, strict %d, research %d; want 500, 200, 300", len(raw), len(strict), len(research))
	}
	for _, r := range strict {
		name, typ, sid := r["rrname"].(string), r["rrtype"].(string), r["sensor_id"].(string)
		addr := netip.MustParseAddr(r["rdata"].([]any)[0].(string))
		switch {
		case typ != "A" && typ != "AAAA":
			t.Fatalf("strict view holds a %s record", typ)
		case strings.HasSuffix(name, ".home.arpa") || addr.IsPrivate():
			t.Fatalf("strict view holds internal data: %v", r)
		case addr.Is4() && addr.As4()[3] != 0, addr.Is6() && !netip.PrefixFrom(addr, 48).Masked().Addr().Less(addr.Next()):
			t.Fatalf("strict view holds an untruncated address: %v", r)
		case sid == "org-a-s1" || !strings.HasPrefix(sid, "pseudo-"):
			t.Fatalf("strict view names the sensor: %v", r)
		case r["origin"] != nil:
			t.Fatalf("strict view keeps origin: %v", r)
		case int64(r["time_first"].(float64))%3600 != 0 || int64(r["time_last"].(float64))%3600 != 0:
			t.Fatalf("strict view keeps exact times: %v", r)
		}
	}
	for _, r := range research {
		name := r["rrname"].(string)
		if r["rrtype"] == "A" || r["rrtype"] == "AAAA" {
			addr := netip.MustParseAddr(r["rdata"].([]any)[0].(string))
			if addr.IsPrivate() || strings.HasPrefix(addr.String(), "93.184.") || strings.HasPrefix(addr.String(), "2606:4700:") {
				t.Fatalf("research view holds a real or private address: %v", r)
			}
		}
		if strings.HasPrefix(name, "host") || strings.HasPrefix(name, "v6-") || strings.HasPrefix(name, "mail") || strings.HasPrefix(name, "nas") {
			t.Fatalf("research view holds a readable host label: %v", r)
		}
		if r["sensor_id"] != "org-a-s1" {
			t.Fatalf("research view changed the sensor: %v", r)
		}
	}
	// TLP labels travel with each batch.
	for peer, want := range map[string]string{"peer-strict": "TLP:AMBER", "peer-research": "TLP:RED", "peer-raw": "TLP:RED"} {
		for _, label := range batchHeaders(t, js, peer, "Cofswitch-TLP") {
			if label != want {
				t.Errorf("%s batch labelled %q, want %q", peer, label, want)
			}
		}
	}
}

// TestReloadUnderLoad rewrites the policy file while sensors publish: no
// record is lost or duplicated, and each output batch is wholly under one
// policy version, the one its header names.
func TestReloadUnderLoad(t *testing.T) {
	policyEnv(t)
	srv, _, js := startServer(t)
	url := srv.ClientURL()
	data := t.TempDir() // the switch keeps its secret here
	cfgYAML := func(bits int) string {
		return strings.Replace(policyYAML, "ipv4: 24, ipv6: 48", fmt.Sprintf("ipv4: %d, ipv6: 48", bits), 1)
	}
	cfg := writeFile(t, "c.yaml", cfgYAML(24))
	sw := start(t, "serve", "--config", cfg, "--data", data, "--nats-url", url, "--reload-check", "100ms")
	waitFor(t, "switch ready", 15*time.Second, func() bool { return contains(sw.output(), "exchange ready") })
	codec, _ := cof.NewCodec()
	defer codec.Close()

	const batches, per = 300, 50
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // the load
		defer wg.Done()
		for i := range batches {
			var body []byte
			for j := range per {
				body = fmt.Appendf(body, `{"rrname":"r%d-%d.example.com","rrtype":"A","rdata":"93.184.%d.%d","time_first":1,"time_last":2,"sensor_id":"org-a-s1"}`+"\n", i, j, j, j+1)
			}
			m := natsMsgZstd(codec, routing.InSubject("org-a-s1"), body)
			if _, err := js.PublishMsg(t.Context(), m); err != nil {
				t.Error(err)
				return
			}
			time.Sleep(2 * time.Millisecond)
		}
	}()
	versions := map[string]int{}
	for i, bits := range []int{16, 8, 24, 16} { // reloads during the load
		time.Sleep(150 * time.Millisecond)
		if err := os.WriteFile(cfg, []byte(cfgYAML(bits)), 0o600); err != nil {
			t.Fatal(err)
		}
		if i == 1 {
			_ = sw.cmd.Process.Signal(syscall.SIGHUP)
		}
	}
	wg.Wait()
	waitFor(t, "input switched", 30*time.Second, func() bool { return inputMsgs(t, js) == 0 })

	// peer-strict: every record once, and each batch wholly under the
	// version its header names: its addresses cut to that version's bits.
	bitsOf := map[string]int{}
	for _, bits := range []int{8, 16, 24} {
		c, err := config.Parse("c.yaml", []byte(cfgYAML(bits)))
		if err != nil {
			t.Fatal(err)
		}
		_, pols, err := c.Compile(policy.DefaultEnv())
		if err != nil {
			t.Fatal(err)
		}
		strict, _ := pols.Lookup("strict")
		bitsOf[strict.Version()] = bits
	}
	names := map[string]bool{}
	for _, b := range readBatches(t, js, "peer-strict") {
		version := b.header.Get("Cofswitch-Policy-Version")
		bits, ok := bitsOf[version]
		if !ok {
			t.Fatalf("batch under unknown version %q", version)
		}
		versions[version]++
		for _, r := range b.records {
			if names[r.RRName] {
				t.Fatalf("%s delivered twice", r.RRName)
			}
			names[r.RRName] = true
			var i, j int
			if _, err := fmt.Sscanf(r.RRName, "r%d-%d.example.com", &i, &j); err != nil {
				t.Fatal(err)
			}
			orig := netip.AddrFrom4([4]byte{93, 184, byte(j), byte(j + 1)})
			want, _ := orig.Prefix(bits)
			if r.RData[0] != want.Addr().String() {
				t.Fatalf("batch under version %s (/%d) holds %s for %s", version, bits, r.RData[0], orig)
			}
		}
	}
	if len(names) != batches*per {
		t.Errorf("peer-strict received %d distinct records, want %d", len(names), batches*per)
	}
	if len(versions) < 2 {
		t.Errorf("outputs carry %d policy versions (%v): the reloads did not take effect under load", len(versions), versions)
	}
	if n := strings.Count(sw.output(), "configuration reloaded"); n < 3 {
		t.Errorf("%d reloads logged, want at least 3", n)
	}
}
