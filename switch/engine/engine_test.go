package engine_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/cofswitch/cofswitch/cof"
	"github.com/cofswitch/cofswitch/routing"
	"github.com/cofswitch/cofswitch/switch/engine"
	"github.com/cofswitch/cofswitch/switch/exchange"
)

const exchangeYAML = `
sensors:
  - id: org-a-s1
    organisation: org-a
    relays: [org-a-edge-1]
  - id: org-a-s2
    organisation: org-a
  - id: org-b/s1
    organisation: org-b
peers:
  - id: peer-a
    organisation: org-a
    subscriptions:
      - sensors: ["org-b/*"]
        policy: pass
        tlp: CLEAR
  - id: peer-b
    organisation: org-b
    subscriptions:
      - sensors: ["org-a-*"]
        policy: pass
        tlp: CLEAR
  - id: peer-c
    organisation: org-c
    subscriptions:
      - sensors: ["*"]
        policy: pass
        tlp: CLEAR
  - id: peer-d
    organisation: org-d
    subscriptions:
      - sensors: ["org-a-s2"]
        policy: pass
        tlp: CLEAR
`

// TestOutputEncoding: outputs take the configured compression whatever the
// input's, or the input's own with WithOutputAsInput, and decode to the
// same records either way.
func TestOutputEncoding(t *testing.T) {
	inputs := []cof.Encoding{cof.Zstd, cof.S2, cof.Identity}
	for _, tc := range []struct {
		name string
		opt  engine.Option
		want []string // per input
	}{
		{"zstd", engine.WithOutputEncoding(cof.Zstd), []string{"zstd", "zstd", "zstd"}},
		{"none", engine.WithOutputEncoding(cof.Identity), []string{"", "", ""}},
		{"as input", engine.WithOutputAsInput(), []string{"zstd", "s2", ""}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x := newExchange(t, exchangeYAML)
			x.startSwitch(tc.opt)
			for i, enc := range inputs {
				x.publish("org-a-s2", records(fmt.Sprintf("e%d-", i), 10, ""), enc)
			}
			waitFor(t, "input drained", 10*time.Second, x.inputDrained)
			d := x.read(routing.PeerStream("peer-d"), true)
			got := make([]string, len(inputs))
			for _, m := range d.msgs {
				_, seq := traceOf(t, m)
				if seq < 1 || seq > len(got) {
					t.Fatalf("output of input %d", seq)
				}
				got[seq-1] = m.Headers().Get("Content-Encoding")
			}
			if !slices.Equal(got, tc.want) || len(d.records) != 30 {
				t.Errorf("encodings %q with %d records, want %q with 30", got, len(d.records), tc.want)
			}
		})
	}
	if _, err := engine.New(nil, nil, nil, engine.WithOutputEncoding("gzip")); !errors.Is(err, engine.ErrInvalidOption) {
		t.Errorf("gzip output: %v, want ErrInvalidOption", err)
	}
}

func TestEndToEnd(t *testing.T) {
	x := newExchange(t, exchangeYAML)
	e := x.startSwitch()
	x.publish("org-a-s1", records("a1-", 300, ""), cof.Zstd)
	x.publish("org-a-s1", records("edge-", 20, "org-a-edge-1"), cof.S2) // relayed
	x.publish("org-a-s2", records("a2-", 50, "org-a-s2"), cof.Identity)
	x.publish("org-b/s1", records("b1-", 70, ""), cof.Zstd)
	waitFor(t, "input drained", 10*time.Second, x.inputDrained)

	want := map[string]int{"peer-a": 70, "peer-b": 370, "peer-c": 440, "peer-d": 50}
	for peer, n := range want {
		d := x.read(routing.PeerStream(peer), true)
		if len(d.records) != n {
			t.Errorf("%s received %d records, want %d", peer, len(d.records), n)
		}
		for _, r := range d.records {
			if r.SensorID == "" {
				t.Errorf("%s: record without sensor_id: %+v", peer, r)
				break
			}
		}
	}
	// Each output is compressed with S2 by default, and carries its headers.
	encs := map[string]string{}
	for _, m := range x.read(routing.PeerStream("peer-c"), false).msgs {
		sensor, seq := traceOf(t, m)
		encs[sensor+"/"+strconv.Itoa(seq)] = m.Headers().Get("Content-Encoding")
		if m.Headers().Get("Nats-Msg-Id") == "" || m.Headers().Get(engine.HeaderRecords) == "" {
			t.Errorf("output lacks headers: %v", m.Headers())
		}
	}
	wantEnc := map[string]string{"org-a-s1/1": "s2", "org-a-s1/2": "s2", "org-a-s2/1": "s2", "org-b/s1/1": "s2"} // sequences are per sensor
	if fmt.Sprint(encs) != fmt.Sprint(wantEnc) {
		t.Errorf("output encodings %v, want %v", encs, wantEnc)
	}
	// The sensor_id filled in is the publisher's; relayed ids are kept.
	ids := map[string]int{}
	for _, r := range x.read(routing.PeerStream("peer-b"), true).records {
		ids[r.SensorID]++
	}
	if ids["org-a-s1"] != 300 || ids["org-a-edge-1"] != 20 || ids["org-a-s2"] != 50 {
		t.Errorf("sensor ids at peer-b: %v", ids)
	}
	waitFor(t, "stats", 2*time.Second, func() bool { return e.Stats().Batches == 4 })
	s := e.Stats()
	if s.Records != 440 || s.Invalid != 0 || s.Delivered["peer-c"] != 440 || s.Delivered["peer-a"] != 70 {
		t.Errorf("stats: %s", s)
	}
}

func TestSensorSpoofAndMalformedInputGoToDLQ(t *testing.T) {
	x := newExchange(t, exchangeYAML)
	e := x.startSwitch()
	good := `{"rrname":"ok.example","rrtype":"A","rdata":"192.0.2.1","time_first":1,"time_last":2}`
	body := strings.Join([]string{
		good,
		`{"rrname":"spoof.example","rrtype":"A","rdata":"192.0.2.1","time_first":1,"time_last":2,"sensor_id":"org-b/s1"}`,
		`{"rrname":"bad.example","rrtype":"A","rdata":"192.0.2.999","time_first":1,"time_last":2}`,
		"not json",
		"{\"rrname\":\"bin\xff.example\"}",
		good,
	}, "\n") + "\n"
	x.publish("org-a-s2", []byte(body), cof.Zstd)
	waitFor(t, "input drained", 10*time.Second, x.inputDrained)

	if n := len(x.read(routing.PeerStream("peer-c"), true).records); n != 2 {
		t.Errorf("peer-c received %d records, want the 2 valid ones", n)
	}
	if n := len(x.read(routing.PeerStream("peer-a"), true).records); n != 0 {
		t.Errorf("peer-a (subscribed to org-b) received %d records: the spoof got through", n)
	}
	dlq := x.read(routing.DLQStream, false)
	if len(dlq.msgs) != 1 {
		t.Fatalf("DLQ holds %d messages, want 1", len(dlq.msgs))
	}
	m := dlq.msgs[0]
	if m.Subject() != "cof.dlq.org-a-s2" {
		t.Errorf("DLQ subject %q", m.Subject())
	}
	type entry struct {
		Line      int    `json:"line"`
		Kind      string `json:"kind"`
		Field     string `json:"field"`
		Error     string `json:"error"`
		Sensor    string `json:"sensor"`
		Raw       string `json:"raw"`
		RawBase64 []byte `json:"raw_base64"`
	}
	var got []entry
	for _, l := range strings.Split(strings.TrimSpace(string(m.Data())), "\n") {
		var en entry
		if err := json.Unmarshal([]byte(l), &en); err != nil {
			t.Fatalf("DLQ line %q: %v", l, err)
		}
		got = append(got, en)
	}
	want := []struct {
		line        int
		kind, field string
		errPart     string
	}{
		{2, "sensor_mismatch", "sensor_id", `"org-b/s1" is not sensor "org-a-s2"`},
		{3, "bad_rdata", "rdata", `"192.0.2.999" is not an IPv4 address`},
		{4, "syntax", "", "invalid JSON"},
		{5, "syntax", "", "invalid UTF-8"},
	}
	if len(got) != len(want) {
		t.Fatalf("DLQ entries %+v", got)
	}
	lines := strings.Split(body, "\n")
	for i, w := range want {
		g := got[i]
		if g.Line != w.line || g.Kind != w.kind || g.Field != w.field || !strings.Contains(g.Error, w.errPart) || g.Sensor != "org-a-s2" {
			t.Errorf("DLQ entry %d = %+v, want %+v", i, g, w)
		}
		raw := g.Raw
		if g.RawBase64 != nil {
			raw = string(g.RawBase64)
		}
		if raw != lines[w.line-1] {
			t.Errorf("DLQ entry %d raw = %q, want the original %q", i, raw, lines[w.line-1])
		}
	}
	waitFor(t, "stats", 2*time.Second, func() bool { return e.Stats().Batches == 1 })
	if s := e.Stats(); s.Invalid != 4 || s.Records != 2 {
		t.Errorf("stats: %s", s)
	}
}

func TestUndecodableBatchesGoToDLQWhole(t *testing.T) {
	x := newExchange(t, exchangeYAML)
	e := x.startSwitch()
	cases := []struct {
		name, subject, enc string
		data               []byte
		kind               string
	}{
		{name: "corrupt zstd", subject: "cof.in.org-a-s1", enc: "zstd", data: []byte("not zstd at all"), kind: "corrupt"},
		{name: "unknown encoding", subject: "cof.in.org-a-s1", enc: "br", data: []byte("{}"), kind: "unknown_encoding"},
	}
	// An unregistered sensor, or a subject that is not the canonical
	// token of a registered one, has no input stream: nothing is stored.
	for _, subject := range []string{"cof.in.intruder", "cof.in.org%2da-s1"} {
		if _, err := x.js.PublishMsg(t.Context(), natsMsg(subject, records("x", 3, ""), "")); !errors.Is(err, jetstream.ErrNoStreamResponse) {
			t.Errorf("publish on %s: %v, want no stream", subject, err)
		}
	}
	for _, c := range cases {
		m := natsMsg(c.subject, c.data, c.enc)
		if _, err := x.js.PublishMsg(t.Context(), m); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
	}
	waitFor(t, "input drained", 10*time.Second, x.inputDrained)
	dlq := x.read(routing.DLQStream, false)
	if len(dlq.msgs) != len(cases) {
		t.Fatalf("DLQ holds %d messages, want %d", len(dlq.msgs), len(cases))
	}
	bySeq := map[string]jetstream.Msg{}
	for _, m := range dlq.msgs {
		bySeq[m.Headers().Get(engine.HeaderInputSeq)] = m
	}
	for i, c := range cases {
		m := bySeq[strconv.Itoa(i+1)] // workers run in parallel: match by input sequence
		if m == nil {
			t.Errorf("%s: no DLQ message for input %d", c.name, i+1)
			continue
		}
		h := m.Headers()
		if h.Get(engine.HeaderErrorKind) != c.kind || h.Get(engine.HeaderSubject) != c.subject || string(m.Data()) != string(c.data) {
			t.Errorf("%s: DLQ message kind=%q subject=%q error=%q data=%q", c.name, h.Get(engine.HeaderErrorKind),
				h.Get(engine.HeaderSubject), h.Get(engine.HeaderError), m.Data())
		}
	}
	if n := x.streamMsgs(routing.PeerStream("peer-c")); n != 0 {
		t.Errorf("peer-c received %d messages from undecodable input", n)
	}
	waitFor(t, "stats", 2*time.Second, func() bool { return e.Stats().WholeDLQ == uint64(len(cases)) })
	if s := e.Stats(); s.WholeDLQ != uint64(len(cases)) {
		t.Errorf("stats: %s", s)
	}
}

// TestFullPeerDoesNotBlockOthers: peer-b's stream refuses new messages once
// full; the other peers still receive everything, at full pace, and the
// drops are counted for peer-b alone.
func TestFullPeerDoesNotBlockOthers(t *testing.T) {
	x := newExchange(t, exchangeYAML+`
  - id: peer-full
    organisation: org-f
    stream: {max_msgs: 3, discard: new}
    subscriptions:
      - sensors: ["*"]
        policy: pass
        tlp: CLEAR
`)
	e := x.startSwitch()
	start := time.Now()
	for i := range 20 {
		x.publish("org-a-s1", records(fmt.Sprintf("b%d-", i), 100, ""), cof.Zstd)
	}
	waitFor(t, "input drained", 20*time.Second, x.inputDrained)
	elapsed := time.Since(start)
	waitFor(t, "stats", 2*time.Second, func() bool { return e.Stats().Batches == 20 })
	if n := len(x.read(routing.PeerStream("peer-c"), true).records); n != 2000 {
		t.Errorf("peer-c received %d records, want 2000", n)
	}
	if n := x.streamMsgs(routing.PeerStream("peer-full")); n != 3 {
		t.Errorf("peer-full holds %d messages, want its limit of 3", n)
	}
	s := e.Stats()
	if s.Dropped["peer-full"]["stream_full"] != 1700 || s.Delivered["peer-full"] != 300 || s.Delivered["peer-c"] != 2000 {
		t.Errorf("stats: %s", s)
	}
	if s.Retries != 0 {
		t.Errorf("a full stream caused %d retries; it must be counted, not retried", s.Retries)
	}
	if elapsed > 10*time.Second {
		t.Errorf("20 batches took %v with one full peer", elapsed)
	}
}

// TestMissingPeerStreamWithoutParkWaits: a peer whose stream is gone is
// parked (park_test.go); with the park itself gone too, the batch is
// retried, then waits rather than dropping the peer's records; the others
// are served at once. When the park is back, the batch completes.
func TestMissingPeerStreamWithoutParkWaits(t *testing.T) {
	x := newExchange(t, exchangeYAML)
	for _, s := range []string{routing.PeerStream("peer-d"), routing.HoldStream} {
		if err := x.js.DeleteStream(t.Context(), s); err != nil {
			t.Fatal(err)
		}
	}
	e := x.startSwitch(engine.WithMaxAttempts(2), engine.WithPublishTimeout(2*time.Second), engine.WithStallRetry(200*time.Millisecond))
	x.publish("org-a-s2", records("m-", 10, ""), cof.Identity)
	waitFor(t, "stalled", 20*time.Second, func() bool { return e.Stats().Stalled >= 1 })
	if n := len(x.read(routing.PeerStream("peer-c"), true).records); n != 10 || x.inputDrained() {
		t.Fatalf("peer-c has %d records (want 10), input drained %v (want not)", n, x.inputDrained())
	}
	hold := exchange.StreamConfigs(x.cfg.Streams, nil, nil, "")
	for _, sc := range hold {
		if sc.Name == routing.HoldStream {
			if _, err := x.js.CreateStream(t.Context(), sc); err != nil {
				t.Fatal(err)
			}
		}
	}
	waitFor(t, "input drained once the park is back", 20*time.Second, x.inputDrained)
	waitFor(t, "stats", 2*time.Second, func() bool { return e.Stats().Batches == 1 })
	s := e.Stats()
	if s.Delivered["peer-c"] != 10 || s.Parked["peer-d"] != 10 || s.GivenUp != 0 || len(s.Dropped) != 0 {
		t.Errorf("stats: %s parked %v", s, s.Parked)
	}
}

func TestLargeOutputsAreSplit(t *testing.T) {
	x := newExchange(t, exchangeYAML)
	x.startSwitch(engine.WithMaxOutputBytes(4096))
	x.publish("org-a-s2", records("big-", 500, ""), cof.Zstd)
	waitFor(t, "input drained", 10*time.Second, x.inputDrained)
	d := x.read(routing.PeerStream("peer-d"), true)
	if len(d.records) != 500 {
		t.Fatalf("peer-d received %d records, want 500", len(d.records))
	}
	if len(d.msgs) < 10 {
		t.Errorf("500 records in %d messages of at most 4 KiB", len(d.msgs))
	}
	var names []string
	for _, r := range d.records {
		names = append(names, r.RRName)
	}
	if len(slices.Compact(slices.Sorted(slices.Values(names)))) != 500 {
		t.Error("records lost or duplicated across chunks")
	}
}

// TestTwoSwitchesShareTheWork runs two engines on one durable consumer:
// every record reaches every entitled peer exactly once.
func TestTwoSwitchesShareTheWork(t *testing.T) {
	x := newExchange(t, exchangeYAML)
	e1 := x.startSwitch(engine.WithWorkers(2))
	e2 := x.startSwitch(engine.WithWorkers(2))
	for i := range 60 {
		x.publish("org-a-s2", records(fmt.Sprintf("w%d-", i), 50, ""), cof.S2)
	}
	waitFor(t, "input drained", 20*time.Second, x.inputDrained)
	for _, peer := range []string{"peer-b", "peer-c", "peer-d"} {
		d := x.read(routing.PeerStream(peer), true)
		seen := map[string]bool{}
		for _, r := range d.records {
			if seen[r.RRName] {
				t.Fatalf("%s received %s twice", peer, r.RRName)
			}
			seen[r.RRName] = true
		}
		if len(seen) != 3000 {
			t.Errorf("%s received %d distinct records, want 3000", peer, len(seen))
		}
	}
	b1, b2 := e1.Stats().Batches, e2.Stats().Batches
	if b1+b2 != 60 || b1 == 0 || b2 == 0 {
		t.Errorf("batches per switch: %d + %d, want 60 shared by both", b1, b2)
	}
}

// TestRecoverable: a missed heartbeat leaves the pull iterator working
// (resubscribing would strand what it had pulled until the ack wait, as a
// benchmark under full load showed); a deleted consumer or a closed
// iterator does not.
func TestRecoverable(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{jetstream.ErrNoHeartbeat, true},
		{fmt.Errorf("pull: %w", jetstream.ErrNoHeartbeat), true},
		{jetstream.ErrConsumerDeleted, false},
		{jetstream.ErrMsgIteratorClosed, false},
		{nil, false},
	} {
		if got := engine.Recoverable(tc.err); got != tc.want {
			t.Errorf("Recoverable(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}
