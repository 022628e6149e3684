package exchange_test

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

	"github.com/cofswitch/cofswitch/bus"
	"github.com/cofswitch/cofswitch/bus/bustest"
	"github.com/cofswitch/cofswitch/config"
	"github.com/cofswitch/cofswitch/routing"
	"github.com/cofswitch/cofswitch/switch/exchange"
)

func server(t *testing.T) jetstream.JetStream {
	t.Helper()
	srv, _, _ := bustest.Server(t)
	if !strings.HasPrefix(srv.ClientURL(), "nats://127.0.0.1:") {
		t.Errorf("embedded server listens on %s, want loopback", srv.ClientURL())
	}
	nc, err := bus.Connect(srv.ClientURL(), "test", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

func mustConfig(t *testing.T, yaml string) *config.Config {
	t.Helper()
	c, err := config.Parse("t.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func info(t *testing.T, js jetstream.JetStream, name string) *jetstream.StreamInfo {
	t.Helper()
	s, err := js.Stream(context.Background(), name)
	if err != nil {
		t.Fatalf("stream %s: %v", name, err)
	}
	i, err := s.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return i
}

func TestEnsureStreams(t *testing.T) {
	js := server(t)
	ctx := context.Background()
	kp, _ := nkeys.CreateUser()
	pub, _ := kp.PublicKey()
	c := mustConfig(t, `
streams:
  duplicate_window: 4m
sensors:
  - {id: s1, nkey: `+pub+`}
  - {id: org.b/s2, stream: {max_bytes: 8MiB, max_msgs: 100}}
peers:
  - id: p1
    stream: {max_bytes: 10MiB, discard: new}
    subscriptions: [{sensors: ["*"], policy: pass, tlp: CLEAR}]
  - id: p2
    subscriptions: [{sensors: ["*"], policy: pass, tlp: CLEAR}]
`)
	for range 2 { // idempotent
		if err := exchange.EnsureStreams(ctx, js, c); err != nil {
			t.Fatal(err)
		}
	}
	// Every stream as stored matches what is provisioned: a restart
	// updates none (an update needs every replica's server up).
	for _, want := range exchange.StreamConfigs(c.Streams, c.Sensors, c.Peers, c.Switch.OutputEncoding) {
		if have := info(t, js, want.Name).Config; !exchange.SameStream(have, want) {
			t.Errorf("%s as stored differs from what is provisioned (updated at every start):\n%+v\n%+v", want.Name, have, want)
		}
	}
	// Each sensor has its own input stream, holding its subject alone.
	in := info(t, js, "COF_IN_s1").Config
	if in.Retention != jetstream.WorkQueuePolicy || in.Discard != jetstream.DiscardNew || in.MaxMsgs != 2000 || in.MaxBytes != 64<<20 ||
		in.Storage != jetstream.FileStorage || in.Compression != jetstream.NoCompression || in.Duplicates != 4*time.Minute ||
		len(in.Subjects) != 1 || in.Subjects[0] != "cof.in.s1" || !in.DenyDelete || !in.DenyPurge || in.AllowRollup || in.AllowMsgTTL {
		t.Errorf("COF_IN_s1 config: %+v", in)
	}
	in2 := info(t, js, "COF_IN_org%2Eb%2Fs2").Config
	if in2.MaxBytes != 8<<20 || in2.MaxMsgs != 100 || in2.Subjects[0] != "cof.in.org%2Eb%2Fs2" {
		t.Errorf("the second sensor's stream: %+v", in2)
	}
	dlq := info(t, js, routing.DLQStream).Config
	if dlq.Retention != jetstream.LimitsPolicy || dlq.MaxAge != 7*24*time.Hour || dlq.Subjects[0] != "cof.dlq.>" || dlq.MaxMsgsPerSubject != 256 ||
		dlq.MaxBytes != -1 || dlq.Discard != jetstream.DiscardOld || dlq.Compression != jetstream.S2Compression {
		t.Errorf("COF_DLQ config: %+v", dlq)
	}
	// A sensor that can connect (it has an nkey) can read its own dead
	// letters through a consumer filtered to its subject.
	dc, err := js.Consumer(ctx, routing.DLQStream, routing.DLQConsumer("s1"))
	if err != nil {
		t.Fatalf("the sensor's dead-letter consumer: %v", err)
	}
	if f := dc.CachedInfo().Config.FilterSubject; f != "cof.dlq.s1" {
		t.Errorf("dead-letter consumer filter %q", f)
	}
	if _, err := js.Consumer(ctx, routing.DLQStream, routing.DLQConsumer("org.b/s2")); err == nil {
		t.Error("a sensor without an nkey got a dead-letter consumer")
	}
	// ... and list them through a view consumer filtered alike, which
	// acks nothing (and takes nothing from the other).
	vc, err := js.Consumer(ctx, routing.DLQStream, routing.DLQViewConsumer("s1"))
	if err != nil {
		t.Fatalf("the sensor's view consumer: %v", err)
	}
	if cc := vc.CachedInfo().Config; cc.FilterSubject != "cof.dlq.s1" || cc.AckPolicy != jetstream.AckNonePolicy || cc.DeliverSubject != "" {
		t.Errorf("view consumer config: %+v", cc)
	}
	// The operator purges dead letters; nothing else of the exchange may
	// be purged or deleted by a client.
	if dlq.DenyPurge || dlq.DenyDelete || dlq.AllowRollup || dlq.AllowMsgTTL {
		t.Errorf("COF_DLQ deny_purge %v, deny_delete %v, rollup %v, ttl %v", dlq.DenyPurge, dlq.DenyDelete, dlq.AllowRollup, dlq.AllowMsgTTL)
	}
	p1 := info(t, js, "PEER_p1").Config
	// Outputs are S2 batches by default: not compressed a second time.
	if p1.MaxBytes != 10<<20 || p1.Discard != jetstream.DiscardNew || p1.Subjects[0] != "cof.out.p1" || p1.MaxAge != 72*time.Hour ||
		p1.Compression != jetstream.NoCompression {
		t.Errorf("PEER_p1 config: %+v", p1)
	}
	if p2 := info(t, js, "PEER_p2").Config; p2.MaxBytes != 1<<30 || p2.Discard != jetstream.DiscardOld {
		t.Errorf("PEER_p2 config: %+v", p2)
	}
	// Peers read their own stream by direct get; nothing else allows it.
	if !p1.AllowDirect || in.AllowDirect || dlq.AllowDirect {
		t.Errorf("direct get: PEER_p1 %v, COF_IN %v, COF_DLQ %v; want only the peer stream", p1.AllowDirect, in.AllowDirect, dlq.AllowDirect)
	}
	cons, err := js.Consumer(ctx, "PEER_p1", routing.PeerConsumer)
	if err != nil {
		t.Fatalf("the peer's consumer was not provisioned: %v", err)
	}
	if cc := cons.CachedInfo().Config; cc.MaxWaiting != 8 || cc.MaxRequestBatch != 1000 || cc.MaxRequestExpires != time.Minute || cc.AckPolicy != jetstream.AckExplicitPolicy {
		t.Errorf("peer consumer config: %+v", cc)
	}

	// Changed limits are applied to the existing streams at the next start;
	// plain outputs are compressed at rest.
	c2 := mustConfig(t, `
streams:
  duplicate_window: 4m
switch:
  output_encoding: none
peers:
  - id: p1
    stream: {max_bytes: 20MiB, max_age: 1h, discard: old}
    subscriptions: [{sensors: ["*"], policy: pass, tlp: CLEAR}]
`)
	if err := exchange.EnsureStreams(ctx, js, c2); err != nil {
		t.Fatal(err)
	}
	if p1 := info(t, js, "PEER_p1").Config; p1.MaxBytes != 20<<20 || p1.MaxAge != time.Hour || p1.Discard != jetstream.DiscardOld ||
		p1.Compression != jetstream.S2Compression {
		t.Errorf("PEER_p1 after update: %+v", p1)
	}
	// A removed peer's stream is kept: its data is not ours to delete.
	if _, err := js.Stream(ctx, "PEER_p2"); err != nil {
		t.Errorf("PEER_p2 was removed: %v", err)
	}
}

// A peer stream made before direct get was allowed gets it at the next
// start.
func TestEnsureStreamsAllowsDirectGet(t *testing.T) {
	js := server(t)
	ctx := t.Context()
	c := mustConfig(t, "peers: [{id: p1, subscriptions: [{sensors: ['*'], policy: pass, tlp: CLEAR}]}]\n")
	old := exchange.StreamConfigs(c.Streams, c.Sensors, c.Peers, c.Switch.OutputEncoding)[1] // no sensors: DLQ, then PEER_p1
	old.AllowDirect = false
	if si, err := js.CreateStream(ctx, old); err != nil || si.CachedInfo().Config.AllowDirect {
		t.Fatalf("a stream without direct get: %v", err)
	}
	if err := exchange.EnsureStreams(ctx, js, c); err != nil {
		t.Fatal(err)
	}
	if !info(t, js, "PEER_p1").Config.AllowDirect {
		t.Error("an existing peer stream was not given direct get")
	}
}

func TestEnsureStreamsNamesTheStreamOnError(t *testing.T) {
	js := server(t)
	ctx := context.Background()
	// A stream that already holds the input subjects under another name.
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "SQUATTER", Subjects: []string{"cof.in.>"}}); err != nil {
		t.Fatal(err)
	}
	err := exchange.EnsureStreams(ctx, js, mustConfig(t, "sensors: [{id: s1}]"))
	if err == nil || !strings.Contains(err.Error(), "stream COF_IN_s1") {
		t.Fatalf("got %v, want an error naming COF_IN_s1", err)
	}
}

// A COF_DLQ made when it denied purges keeps denying them (the server
// never lifts deny_purge): the next start must not fail on it, and the
// consumers are provisioned once, not updated at every start.
func TestEnsureStreamsKeepsDenials(t *testing.T) {
	js := server(t)
	ctx := t.Context()
	kp, _ := nkeys.CreateUser()
	pub, _ := kp.PublicKey()
	c := mustConfig(t, "sensors: [{id: s1, nkey: "+pub+"}]\n")
	old := exchange.StreamConfigs(c.Streams, c.Sensors, c.Peers, c.Switch.OutputEncoding)[1] // COF_IN_s1, then COF_DLQ
	old.DenyPurge, old.DenyDelete = true, true
	if _, err := js.CreateStream(ctx, old); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := exchange.EnsureStreams(ctx, js, c); err != nil {
			t.Fatalf("EnsureStreams over a COF_DLQ denying purges: %v", err)
		}
	}
	if dlq := info(t, js, routing.DLQStream).Config; !dlq.DenyPurge || !dlq.DenyDelete {
		t.Errorf("COF_DLQ lost its denials: %+v", dlq)
	}
	for _, want := range []jetstream.ConsumerConfig{exchange.SensorDLQConsumerConfig("s1"), exchange.SensorDLQViewConfig("s1")} {
		cons, err := js.Consumer(ctx, routing.DLQStream, want.Durable)
		if err != nil {
			t.Fatal(err)
		}
		if have := cons.CachedInfo().Config; !exchange.SameConsumer(have, want) {
			t.Errorf("%s as stored differs from what is provisioned (updated at every start):\n%+v\n%+v", want.Durable, have, want)
		}
	}
}

// TestTransient: what a recovering cluster answers is asked again; what
// a request gets for good is not.
func TestTransient(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{context.DeadlineExceeded, true},
		{fmt.Errorf("x: %w", nats.ErrTimeout), true},
		{nats.ErrNoResponders, true},
		{&jetstream.APIError{Code: 503, ErrorCode: 10008, Description: "JetStream system temporarily unavailable"}, true},
		{&jetstream.APIError{Code: 400, ErrorCode: 10005, Description: "no suitable peers for placement"}, true},
		{&jetstream.APIError{Code: 400, ErrorCode: jetstream.JSErrCodeStreamNameInUse}, false},
		{&jetstream.APIError{Code: 503, ErrorCode: 10077, Description: "maximum messages exceeded"}, false},
		{jetstream.ErrStreamNotFound, false},
		{context.Canceled, false},
		{errors.New("bad config"), false},
	} {
		if got := exchange.Transient(tc.err); got != tc.want {
			t.Errorf("transient(%v) = %v", tc.err, got)
		}
	}
}

// TestRetryingStopsWithItsContext: a request that keeps failing
// transiently is retried until the context ends, then its error returned.
func TestRetryingStopsWithItsContext(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 700*time.Millisecond)
	defer cancel()
	tries := 0
	err := exchange.Retrying(ctx, func(context.Context) error { tries++; return nats.ErrNoResponders })
	if !errors.Is(err, nats.ErrNoResponders) || tries < 3 {
		t.Errorf("%d tries, %v", tries, err)
	}
	tries = 0
	if err := exchange.Retrying(context.Background(), func(context.Context) error { tries++; return jetstream.ErrStreamNotFound }); !errors.Is(err, jetstream.ErrStreamNotFound) || tries != 1 {
		t.Errorf("a lasting error: %d tries, %v", tries, err)
	}
}

// TestDLQConsumersBeyondTheServersDefault: nats-server caps a stream that
// sets no limit at 1,000 consumers; COF_DLQ has two a sensor, so an
// exchange of 520 sensors needs it to set its own (and a second
// EnsureStreams, as at a restart, changes nothing).
func TestDLQConsumersBeyondTheServersDefault(t *testing.T) {
	js := server(t)
	ctx := t.Context()
	var y strings.Builder
	// In operator mode every sensor has an account, and its two
	// consumers, nkey or not.
	y.WriteString("nats: {auth: jwt}\nstreams: {in: {max_bytes: 1MiB}}\nsensors:\n")
	for i := range 520 {
		fmt.Fprintf(&y, "  - {id: s%d}\n", i)
	}
	c := mustConfig(t, y.String())
	if err := exchange.EnsureStreams(ctx, js, c); err != nil {
		t.Fatalf("520 sensors: %v", err)
	}
	if got := info(t, js, routing.DLQStream).State.Consumers; got != 1040 {
		t.Errorf("COF_DLQ has %d consumers, want 1,040", got)
	}
	s, _ := js.Stream(ctx, routing.DLQStream)
	before, _ := s.Info(ctx)
	if err := exchange.EnsureStreams(ctx, js, c); err != nil {
		t.Fatal(err)
	}
	after, _ := s.Info(ctx)
	if !after.Created.Equal(before.Created) || after.Config.MaxConsumers != before.Config.MaxConsumers || before.Config.MaxConsumers < 1040 {
		t.Errorf("COF_DLQ's limit %d then %d", before.Config.MaxConsumers, after.Config.MaxConsumers)
	}
	// Back under the server's default: the stream asks for none.
	small := mustConfig(t, "sensors: [{id: s0}]\n")
	if err := exchange.EnsureStreams(ctx, js, small); err != nil {
		t.Fatalf("one sensor: %v", err)
	}
}
