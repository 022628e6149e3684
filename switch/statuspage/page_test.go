package statuspage_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"github.com/cofswitch/cofswitch/switch/exchange/exchangetest"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/cofswitch/cofswitch/ops"
	"github.com/cofswitch/cofswitch/routing"
	"github.com/cofswitch/cofswitch/switch/exchange"
	"github.com/cofswitch/cofswitch/switch/statuspage"
)

const twoSensors = `
nats: {auth: none}
sensors:
  - {id: s1, organisation: org-a}
  - {id: s2, organisation: org-a}
policies:
  share: {tlp: AMBER, transforms: {truncate_ip: {ipv4: 24, ipv6: 48}}}
peers:
  - {id: p, organisation: org-a, consumers: [sink], subscriptions: [{sensors: [s1, s2]}]}
  - {id: q, organisation: org-b, consumers: [sink], subscriptions: [{sensors: [s1], policy: share}]}
`

// publish stores one input batch of n valid records (and a bad line when
// bad) for sensor, and waits until the switch has taken it.
func publish(t *testing.T, ctx context.Context, x *exchange.Exchange, sensor string, n int, bad bool) {
	t.Helper()
	var body strings.Builder
	for i := range n {
		fmt.Fprintf(&body, `{"rrname":"h%d.example.com","rrtype":"A","rdata":["192.0.2.%d"],"time_first":%d,"time_last":%d,"count":1}`+"\n",
			i, i%250+1, time.Now().Unix()-60, time.Now().Unix())
	}
	if bad {
		body.WriteString(`{"rrname":"bad.example.com","rrtype":"A","rdata":["192.0.2.300"],"time_first":1,"time_last":2}` + "\n")
	}
	if _, err := x.JetStream().Publish(ctx, routing.InSubject(sensor), []byte(body.String())); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the switch to take the batch", func() bool {
		info, err := stream(t, ctx, x, routing.InStream(sensor)).Info(ctx)
		return err == nil && info.State.Msgs == 0
	})
}

func stream(t *testing.T, ctx context.Context, x *exchange.Exchange, name string) jetstream.Stream {
	s, err := x.JetStream().Stream(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func sensor(t *testing.T, v *statuspage.View, id string) statuspage.SensorView {
	t.Helper()
	for _, s := range v.Sensors {
		if s.ID == id {
			return s
		}
	}
	t.Fatalf("sensor %s not on the page: %+v", id, v.Sensors)
	return statuspage.SensorView{}
}

func peer(t *testing.T, v *statuspage.View, id string) statuspage.PeerView {
	t.Helper()
	for _, p := range v.Peers {
		if p.ID == id {
			return p
		}
	}
	t.Fatalf("peer %s not on the page: %+v", id, v.Peers)
	return statuspage.PeerView{}
}

func TestViewShowsSensorsPeersAndReasons(t *testing.T) {
	ctx, x := exchangetest.Embedded(t, twoSensors)
	page := statuspage.New(x, statuspage.Options{Every: time.Second})
	page.Sample(ctx)
	publish(t, ctx, x, "s1", 10, true)
	page.Sample(ctx)
	v := page.View()
	if v.PolicyVersion == "" || v.NotReady != "" {
		t.Errorf("version %q, not ready %q", v.PolicyVersion, v.NotReady)
	}
	s1, s2 := sensor(t, v, "s1"), sensor(t, v, "s2")
	if s1.State != statuspage.StateOK || s1.Rate <= 0 || s1.DeadLetters != 1 {
		t.Errorf("s1 = %+v, want ok, a rate, 1 dead letter", s1)
	}
	if len(s1.Reasons) != 1 || !strings.Contains(s1.Reasons[0], "line 11 bad_rdata") || !strings.Contains(s1.Reasons[0], "192.0.2.300") {
		t.Errorf("s1 reasons = %q, want the bad line's", s1.Reasons)
	}
	if s2.State != statuspage.StateNoInput || !s2.LastInput.IsZero() {
		t.Errorf("s2 = %+v, want no input yet", s2)
	}
	p, q := peer(t, v, "p"), peer(t, v, "q")
	if !slices.Equal(q.TLP, []string{"TLP:AMBER"}) || !slices.Equal(q.Policies, []string{"share"}) || q.Organisation != "org-b" {
		t.Errorf("q = %+v, want TLP:AMBER under share, org-b", q)
	}
	if !slices.Equal(p.Policies, []string{"pass"}) || p.Pending != 1 || p.Stored != 1 || p.Rate <= 0 || p.LastDelivery.IsZero() {
		t.Errorf("p = %+v, want pass, 1 pending and stored, a rate", p)
	}
	if len(v.Warnings) != 0 {
		t.Errorf("warnings on a healthy exchange: %q", v.Warnings)
	}
}

// A sensor that stops feeding becomes silent, a peer whose consumer does
// not keep up becomes behind, both say so in the warnings, and both clear
// when fed and read again.
func TestSilentSensorAndPeerFallingBehind(t *testing.T) {
	ctx, x := exchangetest.Embedded(t, twoSensors)
	o := statuspage.Options{Every: 100 * time.Millisecond, SilentAfter: 1500 * time.Millisecond, BehindAfter: 500 * time.Millisecond}
	page := statuspage.New(x, o)
	start := time.Now()
	for time.Since(start) < 800*time.Millisecond {
		publish(t, ctx, x, "s1", 5, false)
		page.Sample(ctx)
		time.Sleep(50 * time.Millisecond)
	}
	v := page.View()
	if p := peer(t, v, "p"); p.State != statuspage.StateBehind {
		t.Fatalf("p = %+v after 800 ms of unread batches, want behind", p)
	}
	if !hasWarning(v, "peer p is falling behind") {
		t.Errorf("warnings %q lack peer p", v.Warnings)
	}
	if s := sensor(t, v, "s1"); s.State != statuspage.StateOK {
		t.Errorf("s1 = %s while feeding", s.State)
	}
	waitFor(t, "s1 silent", func() bool {
		page.Sample(ctx)
		return sensor(t, page.View(), "s1").State == statuspage.StateSilent
	})
	if !hasWarning(page.View(), "sensor s1 is silent: last input") {
		t.Errorf("warnings %q lack sensor s1", page.View().Warnings)
	}
	if p := peer(t, page.View(), "p"); p.State == statuspage.StateBehind {
		t.Errorf("p behind while its backlog stays the same: %+v", p)
	}

	drain(t, ctx, x, "p")
	publish(t, ctx, x, "s1", 1, false)
	page.Sample(ctx)
	v = page.View()
	if s, p := sensor(t, v, "s1"), peer(t, v, "p"); s.State != statuspage.StateOK || p.State != statuspage.StateOK {
		t.Errorf("after feeding and reading: s1 %s, p %s (pending %d), want ok", s.State, p.State, p.Pending)
	}
}

func hasWarning(v *statuspage.View, prefix string) bool {
	return slices.ContainsFunc(v.Warnings, func(w string) bool { return strings.HasPrefix(w, prefix) })
}

// drain reads and acks everything on the peer's consumer.
func drain(t *testing.T, ctx context.Context, x *exchange.Exchange, peer string) {
	t.Helper()
	c, err := x.JetStream().Consumer(ctx, routing.PeerStream(peer), "sink")
	if err != nil {
		t.Fatal(err)
	}
	for {
		b, err := c.FetchNoWait(100)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for m := range b.Messages() {
			_ = m.Ack()
			n++
		}
		if n == 0 {
			return
		}
	}
}

// The page, its JSON and its live stream, served beside /metrics, and
// /readyz's warnings.
func TestServedBesideMetrics(t *testing.T) {
	ctx, x := exchangetest.Embedded(t, twoSensors)
	page := statuspage.New(x, statuspage.Options{Every: 100 * time.Millisecond, SilentAfter: 200 * time.Millisecond})
	runCtx, stop := context.WithCancel(ctx)
	sampled := make(chan struct{})
	go func() { page.Run(runCtx); close(sampled) }()
	t.Cleanup(func() { stop(); <-sampled }) // before the exchange stops
	waitFor(t, "the first sample", func() bool { return page.View() != nil })
	srv, err := ops.Serve("127.0.0.1:0", nil, x.Ready)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	srv.Handle("/", page)
	srv.SetWarnings(page.Warnings)
	base := strings.TrimSuffix(srv.URL(), "metrics")
	publish(t, ctx, x, "s1", 3, false)

	resp, body := get(t, base)
	csp := resp.Header.Get("Content-Security-Policy")
	if resp.StatusCode != 200 || !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "script-src 'nonce-") {
		t.Errorf("page: %s, CSP %q", resp.Status, csp)
	}
	for _, want := range []string{`data-sensor="s1"`, `data-sensor="s2"`, `data-peer="p"`, `data-peer="q"`, "TLP:AMBER", `new EventSource("events")`} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %s", want)
		}
	}
	if strings.Contains(body, "http://") || strings.Contains(body, "https://") || strings.Contains(body, "src=") {
		t.Errorf("page refers to an external asset")
	}
	if resp, _ := get(t, base+"nothing-here"); resp.StatusCode != 404 {
		t.Errorf("unknown path: %s", resp.Status)
	}

	_, js := get(t, base+"status.json")
	var v statuspage.View
	if err := json.Unmarshal([]byte(js), &v); err != nil || len(v.Sensors) != 2 || len(v.Peers) != 2 {
		t.Fatalf("status.json: %v, %s", err, js)
	}

	waitFor(t, "s1 silent on /readyz", func() bool {
		resp, body := get(t, base+"readyz")
		return resp.StatusCode == 200 && strings.Contains(body, "ready\nwarning: sensor s1 is silent")
	})

	events := readEvents(t, base+"events", 2)
	for i, e := range events {
		if !strings.Contains(e, `data-sensor="s1"`) || !strings.Contains(e, `data-peer="q"`) {
			t.Errorf("event %d lacks the sensor or the peer: %.200s", i, e)
		}
	}
}

func get(t *testing.T, url string) (*http.Response, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// readEvents reads n "status" events of the stream at url and returns
// their data.
func readEvents(t *testing.T, url string, n int) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("events: content type %q", ct)
	}
	var out []string
	var data strings.Builder
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() && len(out) < n {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "data: "):
			data.WriteString(line[len("data: "):] + "\n")
		case line == "" && data.Len() > 0:
			out = append(out, data.String())
			data.Reset()
		}
	}
	if len(out) < n {
		t.Fatalf("%d events of %d: %v", len(out), n, sc.Err())
	}
	return out
}

// Live pages are bounded: one more than the limit is refused, and a
// closed one frees its place.
func TestLivePagesBounded(t *testing.T) {
	_, x := exchangetest.Embedded(t, twoSensors)
	page := statuspage.New(x, statuspage.Options{Every: time.Hour})
	srv := httptest.NewServer(page)
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	var open []*http.Response
	for {
		req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/events", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != 200 {
			resp.Body.Close()
			if resp.StatusCode != http.StatusServiceUnavailable || len(open) != 64 {
				t.Fatalf("refused with %s after %d open", resp.Status, len(open))
			}
			break
		}
		open = append(open, resp)
		if len(open) > 64 {
			t.Fatalf("more than 64 live pages accepted")
		}
	}
	cancel()
	for _, r := range open {
		r.Body.Close()
	}
	waitFor(t, "a place freed", func() bool {
		resp, err := http.Get(srv.URL + "/events")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		return resp.StatusCode == 200
	})
}
