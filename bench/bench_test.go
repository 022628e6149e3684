package bench

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
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

func TestOptionsCheck(t *testing.T) {
	const cluster = "nats://127.0.0.1:4222,nats://127.0.0.1:4223"
	good := func() Options {
		return Options{Exe: "/bin/true", Sensors: 4, Policies: DefaultPolicies, Batch: 500,
			Duration: time.Second, Pool: 1000}
	}
	for _, tc := range []struct {
		name string
		edit func(*Options)
		want string
	}{
		{"no binary", func(o *Options) { o.Exe = "" }, "no cofswitch binary"},
		{"no sensors", func(o *Options) { o.Sensors = 0 }, "sensors 0"},
		{"no peers", func(o *Options) { o.Policies = nil }, "0 peers"},
		{"batch too big", func(o *Options) { o.Batch = cof.DefaultMaxRecords + 1 }, "batch 10001"},
		{"short", func(o *Options) { o.Duration = time.Millisecond }, "below 100ms"},
		{"pool below a batch", func(o *Options) { o.Pool = 10 }, "smaller than a batch"},
		{"no phases", func(o *Options) { o.Phases = []string{} }, "no phases"},
		{"rate without its phase", func(o *Options) { o.Rate = 1000 }, "a rate is for the rate phase"},
		{"profile without a profiled phase", func(o *Options) { o.Profile, o.Phases = "/tmp/p", []string{PhaseHalf} }, "profiles are taken in the raw, switch, per-record and raw-per-record phases"},
		{"rate phase without rate", func(o *Options) { o.Phases = []string{PhaseRate} }, "needs a rate"},
		{"half alone", func(o *Options) { o.Phases = []string{PhaseHalf} }, "needs the switch phase before it"},
		{"half first", func(o *Options) { o.Phases = []string{PhaseHalf, PhaseSwitch} }, "needs the switch phase before it"},
		{"unknown phase", func(o *Options) { o.Phases = []string{"turbo"} }, `unknown phase "turbo"`},
		{"negative rate", func(o *Options) { o.Rate = -1 }, "negative rate"},
		{"unknown policy", func(o *Options) { o.Policies = []string{"csirt", "nosuch"} }, `unknown policy "nosuch" (known: csirt, hub, names, pass, research, threshold)`},
		{"replicas above 5", func(o *Options) { o.NATSURL, o.Replicas = cluster, 7 }, "replicas 7 not in 1..5"},
		{"negative replicas", func(o *Options) { o.Replicas = -1 }, "replicas -1 not in 1..5"},
		{"replicas without a cluster", func(o *Options) { o.Replicas = 3 }, "3 replicas need a cluster"},
		{"exchange on a cluster", func(o *Options) { o.NATSURL, o.Exchange = cluster, true }, "not an external cluster's"},
		{"no switch counts", func(o *Options) { o.Switches = []int{} }, "no switch counts"},
		{"zero switches", func(o *Options) { o.Switches = []int{1, 0} }, "switch count 0 not in 1..64"},
		{"too many switches", func(o *Options) { o.Switches = []int{65} }, "switch count 65 not in 1..64"},
		{"a count twice", func(o *Options) { o.NATSURL, o.Switches = cluster, []int{1, 2, 1} }, "switch count 1 given twice"},
		{"several exchanges", func(o *Options) { o.Exchange, o.Switches = true, []int{2} }, "one process only"},
		{"profile of several", func(o *Options) { o.Profile, o.Switches = "/tmp/p", []int{1, 2} }, "profiles are taken with one switch process"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := good()
			tc.edit(&o)
			err := o.check()
			if !errors.Is(err, ErrOptions) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want ErrOptions with %q", err, tc.want)
			}
		})
	}
	o := good()
	if err := o.check(); err != nil || len(o.Phases) != len(DefaultPhases) || o.Pool != 1000 || o.Replicas != 1 || fmt.Sprint(o.Switches) != "[1]" {
		t.Errorf("good options: %v, phases %v, pool %d, replicas %d, switches %v", err, o.Phases, o.Pool, o.Replicas, o.Switches)
	}
	// Several switches on a cluster, or on the embedded server.
	for _, url := range []string{cluster, ""} {
		o = good()
		o.NATSURL, o.Switches, o.Phases = url, []int{1, 2, 4}, []string{PhaseSwitch}
		if url != "" {
			o.Replicas = 3
		}
		if err := o.check(); err != nil {
			t.Errorf("switches 1,2,4 on %q: %v", url, err)
		}
	}
	o = good()
	o.Pool, o.Duration, o.Batch = 0, 2*time.Second, 300
	if err := o.check(); err != nil || o.Pool != 999_900 {
		t.Errorf("automatic pool: %d records (%v), want 999,900: 2s at the goal rate, whole batches", o.Pool, err)
	}
}

// TestExchangeYAML: every typical policy compiles with the generated key,
// the key file is the owner's alone, and an unknown policy is named.
func TestExchangeYAML(t *testing.T) {
	dir := t.TempDir()
	path, err := exchangeYAML(dir, exchangeSpec{sensors: 3, policies: append(DefaultPolicies, "pass"), output: "zstd", replicas: 3})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	table, pols, err := cfg.Compile(policy.DefaultEnv())
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Sensors) != 3 || len(cfg.Peers) != 5 || cfg.Switch.OutputEncoding != "zstd" || cfg.Streams.Replicas != 3 {
		t.Errorf("%d sensors, %d peers, output %q, %d replicas", len(cfg.Sensors), len(cfg.Peers), cfg.Switch.OutputEncoding, cfg.Streams.Replicas)
	}
	for _, p := range DefaultPolicies {
		if _, ok := pols.Lookup(p); !ok {
			t.Errorf("policy %s missing", p)
		}
	}
	if got := len(table.Routes("bench-s2")); got != 5 {
		t.Errorf("bench-s2 routes to %d peers, want 5", got)
	}
	fi, err := os.Stat(filepath.Join(dir, "policy.key"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("key file: %v %v", fi.Mode(), err)
	}
	if _, err := exchangeYAML(t.TempDir(), exchangeSpec{sensors: 1, policies: []string{"csirt", "nosuch"}}); err == nil || !strings.Contains(err.Error(), `unknown policy "nosuch"`) {
		t.Errorf("unknown policy: %v", err)
	}
}

// TestForwarder: the raw baseline copies each input, byte for byte, to
// every subscribed peer stream once, with the headers the latency join
// reads, and acks it; COF_IN ends empty.
func TestForwarder(t *testing.T) {
	_, nc, js := bustest.Server(t)
	cfg, err := config.Parse("x.yaml", []byte(`
sensors: [{id: s1}, {id: s2}]
peers:
  - {id: p1, subscriptions: [{sensors: ["*"], policy: pass, tlp: CLEAR}]}
  - {id: p2, subscriptions: [{sensors: ["s2"], policy: pass, tlp: CLEAR}, {sensors: ["*"], policy: pass, tlp: CLEAR}]}
  - {id: p3, subscriptions: [{sensors: ["s1"], policy: pass, tlp: CLEAR}]}
`))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := exchange.EnsureStreams(ctx, js, cfg); err != nil {
		t.Fatal(err)
	}
	table, err := cfg.Table()
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		m := nats.NewMsg(routing.InSubject(fmt.Sprintf("s%d", i%2+1)))
		m.Data = fmt.Appendf(nil, "batch %d", i)
		m.Header.Set(engine.HeaderEncoding, "zstd")
		if _, err := js.PublishMsg(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	fnc, err := nats.Connect(nc.ConnectedUrl())
	if err != nil {
		t.Fatal(err)
	}
	defer fnc.Close()
	fw, err := NewForwarder(fnc, table, "raw", 4, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if err := fw.Run(ctx); err == nil {
		t.Error("Run before Start did not fail")
	}
	if err := fw.Start(ctx); err != nil {
		t.Fatal(err)
	}
	rctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- fw.Run(rctx) }()
	for ctx.Err() == nil {
		if b, _ := fw.Counts(); b == 10 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if b, o := fw.Counts(); b != 10 || o != 25 { // p1 and p2 all 10 (p2 once, though twice subscribed), p3 the 5 of s1
		t.Errorf("forwarded %d batches in %d outputs, want 10 in 25", b, o)
	}
	want := map[string]int{"p1": 10, "p2": 10, "p3": 5}
	for peer, n := range want {
		s, err := js.Stream(ctx, routing.PeerStream(peer))
		if err != nil {
			t.Fatal(err)
		}
		info, _ := s.Info(ctx)
		if int(info.State.Msgs) != n {
			t.Errorf("%s holds %d messages, want %d", peer, info.State.Msgs, n)
		}
		m, err := s.GetMsg(ctx, 1)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(string(m.Data), "batch ") || m.Header.Get(engine.HeaderEncoding) != "zstd" ||
			m.Header.Get(engine.HeaderInputSeq) == "" || m.Header.Get(jetstream.MsgIDHeader) == "" {
			t.Errorf("%s got %q with %v", peer, m.Data, m.Header)
		}
	}
	for _, s := range cfg.Sensors {
		in, _ := js.Stream(ctx, routing.InStream(s.ID))
		if info, _ := in.Info(ctx); info.State.Msgs != 0 {
			t.Errorf("%s holds %d messages after forwarding", routing.InStream(s.ID), info.State.Msgs)
		}
	}
}

func TestQuantileAndLatencies(t *testing.T) {
	v := []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	for _, tc := range []struct{ q, want float64 }{{0.5, 5}, {0.99, 10}, {0.1, 1}, {0, 1}, {1, 10}} {
		if got := quantile(v, tc.q); got != tc.want {
			t.Errorf("quantile %.2f = %v, want %v", tc.q, got, tc.want)
		}
	}
	// Input 2 was sent at 1 ms and stored for two peers at 4 and 11 ms;
	// an output of an input the sensors never sent is not counted.
	sent := []sent{{sensor: "s", seq: 1, at: 0}, {sensor: "s", seq: 2, at: 1e6}}
	o1 := &observer{got: []arrival{{input: inputKey{"s", 1}, at: 2e6}, {input: inputKey{"s", 2}, at: 4e6}, {input: inputKey{"s", 9}, at: 1}, {input: inputKey{"t", 1}, at: 1}}}
	o2 := &observer{got: []arrival{{input: inputKey{"s", 2}, at: 11e6}}}
	l := latencies(sent, []*observer{o1, o2})
	if l == nil || l.Samples != 3 || l.P50 != 3 || l.Max != 10 {
		t.Errorf("latencies %+v, want 3 samples, p50 3 ms, max 10 ms", l)
	}
	if latencies(sent, nil) != nil {
		t.Error("latencies without observations")
	}
}

func TestReportTargetsAndTable(t *testing.T) {
	o := Options{Policies: DefaultPolicies, Batch: 500}
	r := &Report{Options: map[string]any{"sensors": 4}, Results: []Result{
		{Phase: PhaseRaw, RecordsPerSec: 1_000_000},
		{Phase: PhaseSwitch, RecordsPerSec: 600_000, DeliveriesPerSec: 2_400_000, Child: usage{PeakRSSMiB: 80, MicrosPerRecord: 3.1}},
		{Phase: PhaseHalf, RecordsPerSec: 300_000, Latency: &Latency{P99: 150}},
		{Phase: PhasePerRecord, RecordsPerSec: 50_000},
		{Phase: PhaseRawPerRecord, RecordsPerSec: 62_500},
	}}
	r.evaluate(o)
	met := map[string]bool{}
	for _, tg := range r.Targets {
		met[tg.Name] = tg.Met
	}
	want := map[string]bool{"switch records/s in": true, "switch deliveries/s out": true, "switch / raw records/s": true,
		"switch / per-record records/s": true, "p99 latency at half rate, ms": false, "switch peak RSS, MiB": true,
		"switch CPU µs per record": false, "per-record / raw-per-record records/s": true}
	if fmt.Sprint(met) != fmt.Sprint(want) {
		t.Errorf("targets %v, want %v", met, want)
	}
	// The whole exchange: its own RSS goal, and no verdict on the switch's
	// CPU, which includes the server's there.
	o.Exchange = true
	r.Targets = nil
	r.evaluate(o)
	exch := map[string]float64{}
	for _, tg := range r.Targets {
		exch[tg.Name] = tg.Got
	}
	if _, ok := exch["exchange peak RSS, MiB"]; !ok {
		t.Errorf("an --exchange run's targets lack the exchange's RSS: %v", exch)
	}
	if _, ok := exch["switch CPU µs per record"]; ok {
		t.Errorf("an --exchange run judged the switch's CPU: %v", exch)
	}
	o.Exchange = false
	r.Targets = nil
	r.evaluate(o)
	if r.Ratios["switch/raw"] != 0.6 || r.Ratios["switch/per-record"] != 12 || r.Ratios["per-record/raw-per-record"] != 0.8 {
		t.Errorf("ratios %v", r.Ratios)
	}
	var b strings.Builder
	if err := r.WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"600,000", "2,400,000", "switch/raw: 0.60x", "per-record/raw-per-record: 0.80x", "MISSED", "150.0"} {
		if !strings.Contains(b.String(), s) {
			t.Errorf("table lacks %q:\n%s", s, b.String())
		}
	}
	// Another shape of run gets its ratios, but no verdict on goals that
	// are not its own.
	o.Policies = []string{"pass"}
	r.Targets = nil
	r.evaluate(o)
	if len(r.Targets) != 0 || r.Ratios["switch/raw"] != 0.6 {
		t.Errorf("targets %v, ratios %v for a pass-only run", r.Targets, r.Ratios)
	}
	if got := thousands(1234567.4); got != "1,234,567" {
		t.Errorf("thousands: %s", got)
	}
}

// TestReportScaling: each flat-out phase is compared with itself run with
// the fewest processes; a paced phase, whose records/s are its rate, is
// not; the goals are not judged.
func TestReportScaling(t *testing.T) {
	r := &Report{Options: map[string]any{"sensors": 4}, Results: []Result{
		{Phase: PhaseSwitch, Processes: 2, RecordsPerSec: 100_000},
		{Phase: PhaseHalf, Processes: 2, Rate: 50_000, RecordsPerSec: 50_000},
		{Phase: PhaseSwitch, Processes: 4, RecordsPerSec: 150_000},
		{Phase: PhaseHalf, Processes: 4, Rate: 75_000, RecordsPerSec: 75_000},
	}}
	r.evaluate(Options{Policies: DefaultPolicies, Batch: 500, Switches: []int{2, 4}})
	if sc := r.Results[2].Scaling; sc == nil || sc.Of != 2 || sc.Throughput != 1.5 || sc.Efficiency != 0.75 {
		t.Errorf("4 against 2 processes: %+v", sc)
	}
	if sc := r.Results[0].Scaling; sc == nil || sc.Throughput != 1 || sc.Efficiency != 1 {
		t.Errorf("2 against itself: %+v", sc)
	}
	if r.Results[1].Scaling != nil || r.Results[3].Scaling != nil || len(r.Targets) != 0 {
		t.Errorf("half scaled %+v %+v, targets %v", r.Results[1].Scaling, r.Results[3].Scaling, r.Targets)
	}
	var b strings.Builder
	if err := r.WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"procs", "vs 2", "1.50x", "75%"} {
		if !strings.Contains(b.String(), s) {
			t.Errorf("table lacks %q:\n%s", s, b.String())
		}
	}
}

func TestTailKeepsTheEnd(t *testing.T) {
	tl := &tail{n: 100}
	for i := range 50 {
		fmt.Fprintf(tl, "time=x level=INFO msg=%d\n", i)
	}
	fmt.Fprintln(tl, "time=x level=WARN msg=\"ack failed\"")
	fmt.Fprintln(tl, "time=x level=ERROR msg=fatal")
	s := tl.String()
	if !strings.HasSuffix(s, "level=ERROR msg=fatal\n") || len(s) > 104 || !strings.HasPrefix(s, "...") {
		t.Errorf("tail %q", s)
	}
	if w := tl.warnings(); len(w) != 2 || !strings.Contains(w[0], "ack failed") {
		t.Errorf("warnings %q", w)
	}
}
