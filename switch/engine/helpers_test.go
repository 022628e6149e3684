package engine_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cofswitch/cofswitch/bus/bustest"
	"github.com/cofswitch/cofswitch/cof"
	"github.com/cofswitch/cofswitch/config"
	"github.com/cofswitch/cofswitch/policy"
	"github.com/cofswitch/cofswitch/routing"
	"github.com/cofswitch/cofswitch/switch/engine"
	"github.com/cofswitch/cofswitch/switch/exchange"
)

// testbed is a running switch on an embedded server, for one test.
type testbed struct {
	t     testing.TB
	cfg   *config.Config
	nc    *nats.Conn
	js    jetstream.JetStream
	codec *cof.Codec
	url   string
}

func testLogger(t testing.TB) *slog.Logger {
	if os.Getenv("COFSWITCH_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// newExchange starts a server on a random port with its store in a temp
// dir, provisions the streams of the config and returns a client.
func newExchange(t testing.TB, yaml string) *testbed {
	t.Helper()
	cfg, err := config.Parse("test.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	srv, nc, js := bustest.Server(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := exchange.EnsureStreams(ctx, js, cfg); err != nil {
		t.Fatal(err)
	}
	codec, err := cof.NewCodec()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(codec.Close)
	return &testbed{t: t, cfg: cfg, nc: nc, js: js, codec: codec, url: srv.ClientURL()}
}

// startSwitch runs an engine on its own connection until the test ends.
func (x *testbed) startSwitch(opts ...engine.Option) *engine.Engine {
	x.t.Helper()
	tab, err := x.cfg.Table()
	if err != nil {
		x.t.Fatal(err)
	}
	return x.startSwitchWith(tab, policy.Builtin(), opts...)
}

// startSwitchWith runs an engine with the given registry and policies.
func (x *testbed) startSwitchWith(tab *routing.Table, pols *policy.Set, opts ...engine.Option) *engine.Engine {
	x.t.Helper()
	nc, err := nats.Connect(x.url)
	if err != nil {
		x.t.Fatal(err)
	}
	opts = append([]engine.Option{engine.WithLogger(testLogger(x.t)), engine.WithAckWait(2 * time.Second),
		engine.WithSecret(testSecret), engine.WithTrace()}, opts...)
	e, err := engine.New(nc, tab, pols, opts...)
	if err != nil {
		x.t.Fatal(err)
	}
	if err := e.Start(context.Background()); err != nil {
		x.t.Fatal(err)
	}
	x.t.Cleanup(func() { e.Stop(); nc.Close() })
	return e
}

// testSecret is the switch secret of every test engine.
var testSecret = []byte("0123456789abcdef0123456789abcdef")

// traceOf opens an output's Cofswitch-Trace: the sensor and input
// sequence it came from.
func traceOf(t testing.TB, m jetstream.Msg) (string, int) {
	t.Helper()
	o, err := engine.NewTraceOpener(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	sensor, seq, err := o.Open(m.Headers().Get(engine.HeaderTrace))
	if err != nil {
		t.Fatalf("trace of %v: %v", m.Headers(), err)
	}
	return sensor, int(seq)
}

// publish sends one batch as a sensor would.
func (x *testbed) publish(sensor string, body []byte, enc cof.Encoding) {
	x.t.Helper()
	data, err := x.codec.Compress(nil, body, enc)
	if err != nil {
		x.t.Fatal(err)
	}
	m := nats.NewMsg(routing.InSubject(sensor))
	m.Data = data
	if enc != cof.Identity {
		m.Header.Set("Content-Encoding", string(enc))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := x.js.PublishMsg(ctx, m); err != nil {
		x.t.Fatalf("publish to %s: %v", m.Subject, err)
	}
}

// delivered is what a stream holds: its messages and their records.
type delivered struct {
	msgs    []jetstream.Msg
	records []cof.Record
	lines   []string
}

// read returns everything in a stream, decoding COF batches.
func (x *testbed) read(stream string, decode bool) delivered {
	x.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cons, err := x.js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{})
	if err != nil {
		x.t.Fatalf("consumer on %s: %v", stream, err)
	}
	info, err := cons.Info(ctx)
	if err != nil {
		x.t.Fatal(err)
	}
	var d delivered
	br := x.codec.NewBatchReader()
	for n := info.NumPending; n > 0; {
		batch, err := cons.Fetch(int(n), jetstream.FetchMaxWait(2*time.Second))
		if err != nil {
			x.t.Fatal(err)
		}
		got := 0
		for m := range batch.Messages() {
			got++
			d.msgs = append(d.msgs, m)
			if !decode {
				continue
			}
			enc, err := cof.ParseEncoding(m.Headers().Get("Content-Encoding"))
			if err != nil {
				x.t.Fatal(err)
			}
			if err := br.Reset(m.Data(), enc); err != nil {
				x.t.Fatalf("%s: %v", stream, err)
			}
			for br.Next() {
				if br.LineErr() != nil {
					x.t.Fatalf("%s holds an invalid line: %v", stream, br.LineErr())
				}
				d.records = append(d.records, *br.Record())
				d.lines = append(d.lines, string(br.Line()))
			}
		}
		if errors.Is(batch.Error(), nats.ErrTimeout) || got == 0 {
			break
		}
		n -= uint64(got)
	}
	return d
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// inputDrained reports whether every sensor's input stream is empty (work
// queues: acked batches are removed).
func (x *testbed) inputDrained() bool {
	for _, sensor := range x.cfg.Sensors {
		s, err := x.js.Stream(context.Background(), routing.InStream(sensor.ID))
		if err != nil {
			return false
		}
		info, err := s.Info(context.Background())
		if err != nil || info.State.Msgs != 0 {
			return false
		}
	}
	return true
}

func (x *testbed) streamMsgs(name string) uint64 {
	s, err := x.js.Stream(context.Background(), name)
	if err != nil {
		x.t.Fatal(err)
	}
	info, err := s.Info(context.Background())
	if err != nil {
		x.t.Fatal(err)
	}
	return info.State.Msgs
}

// records makes n valid records for a sensor_id ("" leaves it out).
func records(prefix string, n int, sensorID string) []byte {
	var b []byte
	for i := range n {
		sid := ""
		if sensorID != "" {
			sid = `,"sensor_id":` + strconv.Quote(sensorID)
		}
		b = fmt.Appendf(b, `{"rrname":"%s%d.example","rrtype":"A","rdata":["192.0.2.%d"],"time_first":1700000000,"time_last":1700000100,"count":%d%s}`+"\n",
			prefix, i, i%250+1, i+1, sid)
	}
	return b
}

func natsMsg(subject string, data []byte, enc string) *nats.Msg {
	m := nats.NewMsg(subject)
	m.Data = data
	if enc != "" {
		m.Header.Set("Content-Encoding", enc)
	}
	return m
}
