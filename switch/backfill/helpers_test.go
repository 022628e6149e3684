package backfill_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cofswitch/cofswitch/cof"
	"github.com/cofswitch/cofswitch/config"
	"github.com/cofswitch/cofswitch/routing"
	"github.com/cofswitch/cofswitch/switch/exchange"
)

// before is the exchange before peer "late" exists: two sensors, one
// peer taking everything, the archive on.
const before = `
nats: {auth: none, listen: "127.0.0.1:0"}
streams: {archive: {max_age: 1h}}
sensors: [{id: s1}, {id: s2}]
peers:
  - {id: early, subscriptions: [{sensors: ["*"], policy: pass, tlp: CLEAR}]}
`

// withLate adds peer "late": sensor s1's A records only, addresses cut
// to /24, labelled AMBER; s2's records never.
const withLate = before + `
  - {id: late, subscriptions: [{sensors: [s1], policy: a-only}]}
policies:
  a-only:
    tlp: AMBER
    include: {rrtypes: [A]}
    transforms: {truncate_ip: {ipv4: 24}}
`

// world is a running exchange and where its files are.
type world struct {
	t       testing.TB
	ctx     context.Context
	x       *exchange.Exchange
	js      jetstream.JetStream
	dir     string // data directory: the switch's secret
	cfgPath string
	secret  []byte
}

// start runs the exchange of text from a file, as serve does.
func start(t testing.TB, text string) *world {
	t.Helper()
	w := &world{t: t, dir: t.TempDir()}
	w.cfgPath = filepath.Join(w.dir, "c.yaml")
	cfg := w.write(text)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	x, err := exchange.Start(ctx, cfg, exchange.Options{Listen: "127.0.0.1:0", DataDir: w.dir, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(x.Stop)
	if w.secret, err = exchange.Secret(cfg.Switch, w.dir); err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(x.URL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	w.js, _ = jetstream.New(nc)
	w.ctx, w.x = ctx, x
	return w
}

// write stores text as the configuration file and returns it parsed.
func (w *world) write(text string) *config.Config {
	w.t.Helper()
	if err := os.WriteFile(w.cfgPath, []byte(text), 0o600); err != nil {
		w.t.Fatal(err)
	}
	c, err := config.Load(w.cfgPath)
	if err != nil {
		w.t.Fatal(err)
	}
	return c
}

// reload applies text to the running exchange.
func (w *world) reload(text string) *config.Config {
	w.t.Helper()
	c := w.write(text)
	if !exchange.NewReloader(w.x, w.cfgPath, "").Reload(w.ctx, "test") {
		w.t.Fatal("reload rejected")
	}
	return c
}

// batch is batch i of n records of sensor: even records A, odd AAAA,
// named <sensor>-b<i>-r<j>.example.
func batch(sensor string, i, n int) []byte {
	var b []byte
	for j := range n {
		if j%2 == 0 {
			b = fmt.Appendf(b, `{"rrname":"%s-b%d-r%d.example","rrtype":"A","rdata":["192.0.2.%d"],"time_first":1700000000,"time_last":1700000001,"count":1}`+"\n", sensor, i, j, j%250+1)
		} else {
			b = fmt.Appendf(b, `{"rrname":"%s-b%d-r%d.example","rrtype":"AAAA","rdata":["2001:db8::1"],"time_first":1700000000,"time_last":1700000001,"count":1}`+"\n", sensor, i, j)
		}
	}
	return b
}

// publish sends batches from..to-1 of n records from each sensor, zstd
// compressed as a sensor would, and returns the records sent.
func (w *world) publish(sensors []string, from, to, n int) int {
	w.t.Helper()
	codec, err := cof.NewCodec()
	if err != nil {
		w.t.Fatal(err)
	}
	defer codec.Close()
	sent := 0
	for _, s := range sensors {
		for i := from; i < to; i++ {
			m := nats.NewMsg(routing.InSubject(s))
			if m.Data, err = codec.Compress(nil, batch(s, i, n), cof.Zstd); err != nil {
				w.t.Fatal(err)
			}
			m.Header.Set("Content-Encoding", "zstd")
			if _, err := w.js.PublishMsg(w.ctx, m); err != nil {
				w.t.Fatal(err)
			}
			sent += n
		}
	}
	return sent
}

// waitArchived waits until the archive holds n batches and the inputs
// are all switched.
func (w *world) waitArchived(n uint64) {
	w.t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		s, err := w.js.Stream(w.ctx, routing.ArchiveStream)
		if err == nil && s.CachedInfo().State.Msgs >= n {
			return
		}
		if time.Now().After(deadline) {
			w.t.Fatalf("the archive does not hold %d batches after a minute", n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// feed is what a peer's stream holds.
type feed struct {
	msgs  int
	lines []string
	hdrs  []nats.Header
}

// read returns every record in the peer's stream, decoded.
func (w *world) read(peer string) feed {
	w.t.Helper()
	s, err := w.js.Stream(w.ctx, routing.PeerStream(peer))
	if err != nil {
		w.t.Fatal(err)
	}
	var f feed
	total := s.CachedInfo().State.Msgs
	if total == 0 {
		return f
	}
	codec, _ := cof.NewCodec()
	defer codec.Close()
	cons, err := w.js.OrderedConsumer(w.ctx, routing.PeerStream(peer), jetstream.OrderedConsumerConfig{})
	if err != nil {
		w.t.Fatal(err)
	}
	for uint64(f.msgs) < total {
		m, err := cons.Next(jetstream.FetchMaxWait(5 * time.Second))
		if err != nil {
			w.t.Fatalf("reading %s after %d of %d messages: %v", peer, f.msgs, total, err)
		}
		f.msgs++
		f.hdrs = append(f.hdrs, m.Headers())
		enc, _ := cof.ParseEncoding(m.Headers().Get("Content-Encoding"))
		body, err := codec.Decompress(nil, m.Data(), enc)
		if err != nil {
			w.t.Fatal(err)
		}
		for line := range bytes.Lines(body) {
			f.lines = append(f.lines, strings.TrimSpace(string(line)))
		}
	}
	return f
}

// names counts each rrname in the feed.
func (f feed) names() map[string]int {
	out := map[string]int{}
	for _, l := range f.lines {
		_, rest, _ := strings.Cut(l, `"rrname":"`)
		name, _, _ := strings.Cut(rest, `"`)
		out[name]++
	}
	return out
}
