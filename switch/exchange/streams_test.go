package exchange_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

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
	c := mustConfig(t, `
streams:
  duplicate_window: 4m
peers:
  - id: p1
    stream: {max_bytes: 10MiB, discard: new}
    subscriptions: [{sensors: ["*"]}]
  - id: p2
    subscriptions: [{sensors: ["*"]}]
`)
	for range 2 { // idempotent
		if err := exchange.EnsureStreams(ctx, js, c); err != nil {
			t.Fatal(err)
		}
	}
	in := info(t, js, routing.InStream).Config
	if in.Retention != jetstream.WorkQueuePolicy || in.Discard != jetstream.DiscardNew || !in.DiscardNewPerSubject || in.MaxMsgsPerSubject != 2000 || in.Storage != jetstream.FileStorage ||
		in.Compression != jetstream.NoCompression || in.Duplicates != 4*time.Minute || in.Subjects[0] != "cof.in.>" {
		t.Errorf("COF_IN config: %+v", in)
	}
	dlq := info(t, js, routing.DLQStream).Config
	if dlq.Retention != jetstream.LimitsPolicy || dlq.MaxAge != 7*24*time.Hour || dlq.Subjects[0] != "cof.dlq.>" || dlq.MaxMsgsPerSubject != 1000 ||
		dlq.Compression != jetstream.S2Compression {
		t.Errorf("COF_DLQ config: %+v", dlq)
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
    subscriptions: [{sensors: ["*"]}]
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
	c := mustConfig(t, "peers: [{id: p1, subscriptions: [{sensors: ['*']}]}]\n")
	old := exchange.StreamConfigs(c.Streams, c.Peers, c.Switch.OutputEncoding)[2]
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
	err := exchange.EnsureStreams(ctx, js, mustConfig(t, ""))
	if err == nil || !strings.Contains(err.Error(), "stream COF_IN") {
		t.Fatalf("got %v, want an error naming COF_IN", err)
	}
}
