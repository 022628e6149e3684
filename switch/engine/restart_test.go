package engine_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cofswitch/cofswitch/bus"
	"github.com/cofswitch/cofswitch/bus/bustest"
	"github.com/cofswitch/cofswitch/cof"
	"github.com/cofswitch/cofswitch/config"
	"github.com/cofswitch/cofswitch/policy"
	"github.com/cofswitch/cofswitch/routing"
	"github.com/cofswitch/cofswitch/switch/engine"
	"github.com/cofswitch/cofswitch/switch/exchange"
)

// TestServerRestartMidStream: the server stops while the switch is
// half-way through three sensors' backlogs, and starts again on the same
// store. The switch's consumers keep their state in memory, so they are
// gone after the restart; the switch binds them again, and the work
// queues deliver exactly what was not acked: every record reaches the peer
// once, none twice.
func TestServerRestartMidStream(t *testing.T) {
	cfg, err := config.Parse("t.yaml", []byte(`
sensors: [{id: s1}, {id: s2}, {id: s3}]
peers: [{id: p, subscriptions: [{sensors: ["*"], policy: pass, tlp: CLEAR}]}]
`))
	if err != nil {
		t.Fatal(err)
	}
	addr := bustest.FreeAddr(t) // the same across restarts: the client finds the server again
	store := t.TempDir()
	start := func() func() {
		srv, err := bus.StartServer(bus.ServerConfig{Listen: addr, StoreDir: store})
		if err != nil {
			t.Fatal(err)
		}
		return func() { srv.Shutdown(); srv.WaitForShutdown() }
	}
	stop := start()
	defer func() { stop() }()
	nc, err := nats.Connect("nats://"+addr, nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	if err := exchange.EnsureStreams(t.Context(), js, cfg); err != nil {
		t.Fatal(err)
	}
	const batches, per = 150, 200
	codec, _ := cof.NewCodec()
	defer codec.Close()
	for i := range batches {
		var body []byte
		for j := range per {
			body = fmt.Appendf(body, `{"rrname":"r%d-%d.example","rrtype":"A","rdata":"192.0.2.1","time_first":1,"time_last":2}`+"\n", i, j)
		}
		data, _ := codec.Compress(nil, body, cof.Zstd)
		m := nats.NewMsg(routing.InSubject(fmt.Sprintf("s%d", i%3+1)))
		m.Data = data
		m.Header.Set("Content-Encoding", "zstd")
		if _, err := js.PublishMsg(t.Context(), m); err != nil {
			t.Fatal(err)
		}
	}
	table, pols, err := cfg.Compile(policy.DefaultEnv())
	if err != nil {
		t.Fatal(err)
	}
	snc, err := nats.Connect("nats://"+addr, nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer snc.Close()
	e, err := engine.New(snc, table, pols, engine.WithLogger(testLogger(t)), engine.WithAckWait(2*time.Second), engine.WithWorkers(2))
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	defer e.Stop()
	peerMsgs := func() uint64 {
		s, err := js.Stream(context.Background(), routing.PeerStream("p"))
		if err != nil {
			return 0
		}
		info, err := s.Info(context.Background())
		if err != nil {
			return 0
		}
		return info.State.Msgs
	}
	waitFor(t, "the switch half-way", 30*time.Second, func() bool { return peerMsgs() >= batches/3 })
	stop()
	time.Sleep(300 * time.Millisecond)
	stop = start()
	waitFor(t, "every batch switched after the restart", 90*time.Second, func() bool { return peerMsgs() >= batches })
	time.Sleep(time.Second) // a late duplicate would show now
	s, _ := js.Stream(t.Context(), routing.PeerStream("p"))
	info, _ := s.Info(t.Context())
	seen := map[string]int{}
	br := codec.NewBatchReader()
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq; seq++ {
		m, err := s.GetMsg(t.Context(), seq)
		if err != nil {
			t.Fatal(err)
		}
		enc, _ := cof.ParseEncoding(m.Header.Get("Content-Encoding"))
		if err := br.Reset(m.Data, enc); err != nil {
			t.Fatal(err)
		}
		for br.Next() {
			seen[br.Record().RRName]++
		}
	}
	if len(seen) != batches*per {
		t.Fatalf("the peer holds %d distinct records, want %d", len(seen), batches*per)
	}
	for name, n := range seen {
		if n != 1 {
			t.Fatalf("%s delivered %d times", name, n)
		}
	}
}
