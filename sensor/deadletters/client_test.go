package deadletters_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"

	"github.com/cofswitch/cofswitch/accounts"
	"github.com/cofswitch/cofswitch/bus"
	"github.com/cofswitch/cofswitch/config"
	"github.com/cofswitch/cofswitch/routing"
	"github.com/cofswitch/cofswitch/sensor/deadletters"
	"github.com/cofswitch/cofswitch/switch/exchange"
)

// exchangeDLQ is a real server under the generated authorisation, with
// COF_DLQ and the sensors' consumers as serve provisions them, and dead
// letters stored as the switch stores them.
type exchangeDLQ struct {
	url  string
	keys map[string]nkeys.KeyPair // switch, s1, s2
	js   jetstream.JetStream      // the switch's
	seqs map[string][]uint64      // per sensor, the sequences stored
}

// newExchangeDLQ stores, for s1: a syntax and a bad_rdata entry in one
// letter, a bad_rdata letter, a whole batch; for s2: one syntax letter.
// Each letter is stored 50 ms after the previous.
func newExchangeDLQ(t *testing.T, mkStream func(jetstream.JetStream)) *exchangeDLQ {
	t.Helper()
	x := &exchangeDLQ{keys: map[string]nkeys.KeyPair{}, seqs: map[string][]uint64{}}
	pub := map[string]string{}
	for _, n := range []string{"switch", "s1", "s2"} {
		kp, err := nkeys.CreateUser()
		if err != nil {
			t.Fatal(err)
		}
		x.keys[n] = kp
		pub[n], _ = kp.PublicKey()
	}
	cfg, err := config.Parse("t.yaml", []byte(fmt.Sprintf(`
sensors:
  - {id: s1, organisation: org-a, nkey: %s}
  - {id: s2, organisation: org-b, nkey: %s}
peers:
  - {id: p, organisation: org-b, subscriptions: [{sensors: ["*"], policy: pass, tlp: CLEAR}]}
`, pub["s1"], pub["s2"])))
	if err != nil {
		t.Fatal(err)
	}
	text, err := accounts.ServerConfig(cfg.Sensors, cfg.Peers, accounts.ServerOptions{SwitchKey: pub["switch"], Version: cfg.Version})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := bus.StartServer(bus.ServerConfig{Listen: "127.0.0.1:0", StoreDir: t.TempDir(), Config: text})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
	x.url = srv.ClientURL()
	nc := x.connect(t, "switch", "", nil)
	x.js, _ = jetstream.New(nc)
	if mkStream != nil {
		mkStream(x.js)
	}
	if err := exchange.EnsureStreams(t.Context(), x.js, cfg); err != nil {
		t.Fatal(err)
	}
	entry := func(s string, line int, kind, raw string) string {
		return fmt.Sprintf(`{"line":%d,"kind":%q,"error":"bad %s","sensor":%q,"input_seq":7,"raw":%q}`+"\n", line, kind, kind, s, raw)
	}
	for _, l := range []struct {
		sensor string
		h      nats.Header
		body   string
	}{
		{"s1", nil, entry("s1", 1, "syntax", "not json") + entry("s1", 2, "bad_rdata", `{"rdata":"192.0.2.300"}`)},
		{"s1", nil, entry("s1", 1, "bad_rdata", `{"rdata":"300.1.1.1"}`)},
		{"s1", nats.Header{"Cofswitch-Error-Kind": {"bad_encoding"}, "Cofswitch-Error": {"zstd: corrupt"}, "Cofswitch-Input-Seq": {"9"}}, "\xff\x01whole"},
		{"s2", nil, entry("s2", 1, "syntax", "s2's secret line")},
	} {
		time.Sleep(50 * time.Millisecond)
		x.store(t, l.sensor, l.h, l.body)
	}
	return x
}

func (x *exchangeDLQ) store(t *testing.T, sensor string, h nats.Header, body string) {
	t.Helper()
	m := &nats.Msg{Subject: routing.DLQSubject(sensor), Header: h, Data: []byte(body)}
	ack, err := x.js.PublishMsg(t.Context(), m)
	if err != nil {
		t.Fatal(err)
	}
	x.seqs[sensor] = append(x.seqs[sensor], ack.Sequence)
}

// connect connects as who with the given inbox prefix and refusals.
func (x *exchangeDLQ) connect(t *testing.T, who, inbox string, r *deadletters.Refusals) *nats.Conn {
	t.Helper()
	kp := x.keys[who]
	pub, _ := kp.PublicKey()
	opts := []nats.Option{nats.Nkey(pub, kp.Sign)}
	if inbox != "" {
		opts = append(opts, nats.CustomInboxPrefix(inbox))
	}
	if r != nil {
		opts = append(opts, nats.ErrorHandler(r.Handler))
	}
	nc, err := nats.Connect(x.url, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// open opens a Client as who (a sensor with its own inbox, or "switch")
// asking for sensor's dead letters.
func (x *exchangeDLQ) open(t *testing.T, who, sensor string) (*deadletters.Client, error) {
	t.Helper()
	r := &deadletters.Refusals{}
	inbox, prefix := "", ""
	if sensor != "" {
		inbox, prefix = accounts.SensorInbox(sensor), accounts.APIPrefix
	}
	nc := x.connect(t, who, inbox, r)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	return deadletters.Open(ctx, nc, r, deadletters.Who{Sensor: sensor, APIPrefix: prefix})
}

func list(t *testing.T, c *deadletters.Client, f deadletters.Filter, limit int) ([]deadletters.Entry, error) {
	t.Helper()
	var out []deadletters.Entry
	_, err := c.List(t.Context(), f, deadletters.Options{Limit: limit, Idle: 300 * time.Millisecond}, func(e *deadletters.Entry) error {
		out = append(out, *e)
		return nil
	})
	return out, err
}

func kinds(es []deadletters.Entry) string {
	var ks []string
	for _, e := range es {
		ks = append(ks, fmt.Sprintf("%s:%s@%d", e.Sensor, e.Kind, e.Seq))
	}
	return strings.Join(ks, " ")
}

// TestListByIdentity: a sensor with its own seed lists its own dead
// letters (filtered by kind, time and count), the same twice, without
// taking them from 'dead-letters'; the operator lists any sensor's or all.
func TestListByIdentity(t *testing.T) {
	x := newExchangeDLQ(t, nil)
	s1, s2 := x.seqs["s1"], x.seqs["s2"]
	m, _ := x.js.Stream(t.Context(), routing.DLQStream)
	third, _ := m.GetMsg(t.Context(), s1[2])
	second, _ := m.GetMsg(t.Context(), s1[1])
	all1 := fmt.Sprintf("s1:syntax@%d s1:bad_rdata@%d s1:bad_rdata@%d s1:bad_encoding@%d", s1[0], s1[0], s1[1], s1[2])
	for _, tt := range []struct {
		name, who, sensor string
		f                 deadletters.Filter
		limit             int
		want              string
	}{
		{name: "sensor, all of its own", who: "s1", sensor: "s1", want: all1},
		{name: "sensor, by kind", who: "s1", sensor: "s1", f: deadletters.Filter{Kind: "bad_rdata"}, want: fmt.Sprintf("s1:bad_rdata@%d s1:bad_rdata@%d", s1[0], s1[1])},
		{name: "sensor, since", who: "s1", sensor: "s1", f: deadletters.Filter{Since: third.Time}, want: fmt.Sprintf("s1:bad_encoding@%d", s1[2])},
		{name: "sensor, until", who: "s1", sensor: "s1", f: deadletters.Filter{Until: second.Time.Add(-time.Millisecond)}, want: fmt.Sprintf("s1:syntax@%d s1:bad_rdata@%d", s1[0], s1[0])},
		{name: "sensor, limit", who: "s1", sensor: "s1", limit: 1, want: fmt.Sprintf("s1:syntax@%d", s1[0])},
		{name: "another sensor, its own", who: "s2", sensor: "s2", want: fmt.Sprintf("s2:syntax@%d", s2[0])},
		{name: "operator, one sensor", who: "switch", f: deadletters.Filter{Sensor: "s2"}, want: fmt.Sprintf("s2:syntax@%d", s2[0])},
		{name: "operator, all, by kind", who: "switch", f: deadletters.Filter{Kind: "syntax"}, want: fmt.Sprintf("s1:syntax@%d s2:syntax@%d", s1[0], s2[0])},
		{name: "operator, since", who: "switch", f: deadletters.Filter{Since: third.Time}, want: fmt.Sprintf("s1:bad_encoding@%d s2:syntax@%d", s1[2], s2[0])},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, err := x.open(t, tt.who, tt.sensor)
			if err != nil {
				t.Fatal(err)
			}
			if c.Operator() != (tt.who == "switch") {
				t.Errorf("Operator() = %v", c.Operator())
			}
			for range 2 { // a listing takes nothing
				got, err := list(t, c, tt.f, tt.limit)
				if err != nil || kinds(got) != tt.want {
					t.Fatalf("listed %q, %v; want %q", kinds(got), err, tt.want)
				}
			}
		})
	}
	// 'dead-letters' still has all of s1's to read and ack.
	dc, _ := x.js.Consumer(t.Context(), routing.DLQStream, routing.DLQConsumer("s1"))
	if info, _ := dc.Info(t.Context()); info.NumPending != 3 || info.Delivered.Consumer != 0 {
		t.Errorf("s1's acking consumer after listings: %+v", info)
	}
}

// TestListOtherSensorIsDenied: s1's seed asking for s2's dead letters, or
// for everyone's, gets the server's refusal as ErrDenied at once, not an
// empty list.
func TestListOtherSensorIsDenied(t *testing.T) {
	x := newExchangeDLQ(t, nil)
	for _, tt := range []struct{ name, sensor string }{
		{"another sensor's", "s2"},
		{"every sensor's", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			_, err := x.open(t, "s1", tt.sensor)
			if !errors.Is(err, deadletters.ErrDenied) || !strings.Contains(err.Error(), "Permissions Violation") {
				t.Fatalf("s1 opening %q: %v", tt.sensor, err)
			}
			if d := time.Since(start); d > 3*time.Second {
				t.Errorf("the refusal took %v", d)
			}
		})
	}
	// Bound as s1, a filter naming s2 is refused too.
	c, err := x.open(t, "s1", "s1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := list(t, c, deadletters.Filter{Sensor: "s2"}, 0); !errors.Is(err, deadletters.ErrDenied) {
		t.Errorf("s1 listing with a filter on s2: %v", err)
	}
}

// TestShow: a sensor shows its own dead letter by sequence, with the raw
// line and the reason; another sensor's sequence is not found for it; the
// operator shows any, and a whole batch with its bytes.
func TestShow(t *testing.T) {
	x := newExchangeDLQ(t, nil)
	s1, s2 := x.seqs["s1"], x.seqs["s2"]
	for _, tt := range []struct {
		name, who, sensor string
		seq               uint64
		want              string // kind:raw of each entry, or the error
	}{
		{name: "sensor, its own", who: "s1", sensor: "s1", seq: s1[0], want: `syntax:not json|bad_rdata:{"rdata":"192.0.2.300"}`},
		{name: "sensor, whole batch", who: "s1", sensor: "s1", seq: s1[2], want: "bad_encoding:base64 /wF3aG9sZQ=="},
		{name: "sensor, another's", who: "s1", sensor: "s1", seq: s2[0], want: "no such dead letter"},
		{name: "sensor, beyond the end", who: "s1", sensor: "s1", seq: s2[0] + 10, want: "no such dead letter"},
		{name: "operator, any", who: "switch", seq: s2[0], want: "syntax:s2's secret line"},
		{name: "operator, with the wrong sensor", who: "switch", sensor: "s1", seq: s2[0], want: "no such dead letter"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			open := tt.sensor
			if tt.who == "switch" {
				open = ""
			}
			c, err := x.open(t, tt.who, open)
			if err != nil {
				t.Fatal(err)
			}
			l, err := c.Show(t.Context(), tt.sensor, tt.seq)
			got := ""
			if err != nil {
				got = err.Error()
			} else {
				var parts []string
				for _, e := range l.Entries {
					if e.Seq != tt.seq || e.Error == "" {
						t.Errorf("entry %+v", e)
					}
					raw := e.Raw
					if e.RawBase64 != "" {
						raw = "base64 " + e.RawBase64
					}
					parts = append(parts, e.Kind+":"+raw)
				}
				got = strings.Join(parts, "|")
			}
			if !strings.Contains(got, tt.want) {
				t.Errorf("show %d = %q, want %q", tt.seq, got, tt.want)
			}
		})
	}
}

// TestListersCollide: two listings of one sensor at once share its view
// consumer; the one whose reading was moved says so instead of printing
// a wrong list.
func TestListersCollide(t *testing.T) {
	x := newExchangeDLQ(t, nil)
	for i := range 100 { // more than one fetch
		x.store(t, "s1", nil, fmt.Sprintf(`{"line":1,"kind":"syntax","error":"e","raw":"%d"}`, i))
	}
	a, err := x.open(t, "s1", "s1")
	if err != nil {
		t.Fatal(err)
	}
	b, err := x.open(t, "s1", "s1")
	if err != nil {
		t.Fatal(err)
	}
	_, err = a.List(t.Context(), deadletters.Filter{}, deadletters.Options{Idle: 300 * time.Millisecond}, func(*deadletters.Entry) error {
		_, err := list(t, b, deadletters.Filter{}, 0)
		return err
	})
	if !errors.Is(err, deadletters.ErrBusy) {
		t.Errorf("interleaved listings: %v", err)
	}
}
