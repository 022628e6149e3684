// Package bench measures an exchange under load: an embedded NATS server
// with file storage, sensors publishing batches generated beforehand, and
// the process under test (the switch, or the raw forwarding baseline) in a
// child process so that its CPU time and peak RSS are its own. Each phase
// runs on a fresh server and reports records/s in, record deliveries/s
// out, and latency from publish to the peer stream. It may import every
// package but the command's.
package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cofswitch/cofswitch/bus"
	"github.com/cofswitch/cofswitch/cof"
	"github.com/cofswitch/cofswitch/config"
	"github.com/cofswitch/cofswitch/gen"
	"github.com/cofswitch/cofswitch/routing"
	"github.com/cofswitch/cofswitch/switch/engine"
	"github.com/cofswitch/cofswitch/switch/exchange"
)

// Phases, in the order they run.
const (
	PhaseRaw       = "raw"        // the forwarding baseline: batches unread, the bus's limit
	PhaseSwitch    = "switch"     // the switch, flat out
	PhaseHalf      = "half"       // the switch at half the rate the switch phase reached
	PhaseRate      = "rate"       // the switch at Options.Rate
	PhasePerRecord = "per-record" // the switch with one record per message, flat out
)

// DefaultPhases are what a plain "cofswitch bench" runs.
var DefaultPhases = []string{PhaseRaw, PhaseSwitch, PhaseHalf, PhasePerRecord}

// perRecordPool caps the per-record phase's pool: one message per record.
const perRecordPool = 200_000

// Options configures a benchmark run.
type Options struct {
	Exe      string        // the cofswitch binary; children run "Exe bench switch|forward"
	Dir      string        // scratch space (a directory per phase, removed after it); "" = the system's
	Sensors  int           // sensors publishing at once
	Policies []string      // one peer per entry, subscribed to every sensor under that policy
	Batch    int           // records per input batch
	Encoding cof.Encoding  // input batch compression
	Duration time.Duration // how long the sensors publish, per phase
	Rate     float64       // records/s across the sensors for PhaseRate
	Pool     int           // distinct records generated before the timed window; 0 = enough for the switch phase
	Seed     uint64        // the generator's seed
	Workers  int           // switch workers; 0 = the default
	Phases   []string      // which phases run; nil = DefaultPhases
	Profile  string        // if set, the switch phase writes CPU profiles into this directory: switch.pprof, bus.pprof
	Exchange bool          // the child is the whole exchange, server and switch, as 'cofswitch serve' runs; else the switch alone
	Log      *slog.Logger  // nil discards
	Progress io.Writer     // a line per phase as it ends; nil = none
}

// ErrOptions reports unusable options.
var ErrOptions = errors.New("bench: invalid options")

func (o *Options) check() error {
	switch {
	case o.Exe == "":
		return fmt.Errorf("%w: no cofswitch binary to run", ErrOptions)
	case o.Sensors < 1 || o.Sensors > 1000:
		return fmt.Errorf("%w: sensors %d not in 1..1000", ErrOptions, o.Sensors)
	case len(o.Policies) < 1 || len(o.Policies) > 100:
		return fmt.Errorf("%w: %d peers, want 1..100", ErrOptions, len(o.Policies))
	case o.Batch < 1 || o.Batch > cof.DefaultMaxRecords:
		return fmt.Errorf("%w: batch %d not in 1..%d", ErrOptions, o.Batch, cof.DefaultMaxRecords)
	case o.Duration < 100*time.Millisecond:
		return fmt.Errorf("%w: duration %v below 100ms", ErrOptions, o.Duration)
	case o.Pool < 0 || o.Pool > 0 && o.Pool < o.Batch:
		return fmt.Errorf("%w: pool of %d records is smaller than a batch", ErrOptions, o.Pool)
	case o.Rate < 0:
		return fmt.Errorf("%w: negative rate", ErrOptions)
	}
	for _, p := range o.Policies {
		if p != "pass" && TypicalPolicies[p] == "" {
			return fmt.Errorf("%w: unknown policy %q (known: %s)", ErrOptions, p, strings.Join(PolicyNames(), ", "))
		}
	}
	if o.Phases == nil {
		o.Phases = DefaultPhases
	}
	if len(o.Phases) == 0 {
		return fmt.Errorf("%w: no phases", ErrOptions)
	}
	if o.Rate > 0 && !slices.Contains(o.Phases, PhaseRate) {
		return fmt.Errorf("%w: a rate is for the rate phase, which is not among the phases %v", ErrOptions, o.Phases)
	}
	if o.Profile != "" && !slices.Contains(o.Phases, PhaseSwitch) {
		return fmt.Errorf("%w: profiles are taken in the switch phase, which is not among the phases %v", ErrOptions, o.Phases)
	}
	if o.Pool == 0 {
		// Enough distinct records that the switch phase sends each about
		// once at the goal rate: repeats would flatter the policies'
		// caches.
		o.Pool = min(max(int(o.Duration.Seconds()*goalRecords), 100_000), 8_000_000)
		o.Pool = max(o.Pool/o.Batch, 1) * o.Batch
	}
	for _, p := range o.Phases {
		switch p {
		case PhaseRaw, PhaseSwitch, PhasePerRecord:
		case PhaseRate:
			if o.Rate == 0 {
				return fmt.Errorf("%w: the rate phase needs a rate", ErrOptions)
			}
		case PhaseHalf:
			if i, j := slices.Index(o.Phases, PhaseSwitch), slices.Index(o.Phases, PhaseHalf); i < 0 || i > j {
				return fmt.Errorf("%w: the half phase needs the switch phase before it", ErrOptions)
			}
		default:
			return fmt.Errorf("%w: unknown phase %q", ErrOptions, p)
		}
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return nil
}

// Run runs the phases and returns the report.
func Run(ctx context.Context, o Options) (*Report, error) {
	if err := o.check(); err != nil {
		return nil, err
	}
	g, err := gen.New(gen.Options{Seed: o.Seed})
	if err != nil {
		return nil, err
	}
	codec, err := cof.NewCodec()
	if err != nil {
		return nil, err
	}
	defer codec.Close()
	if o.Profile != "" {
		if err := os.MkdirAll(o.Profile, 0o755); err != nil {
			return nil, fmt.Errorf("bench: profile directory: %w", err)
		}
	}
	t0 := time.Now()
	batched, err := makePool(g, codec, o.Pool, o.Batch, o.Encoding)
	if err != nil {
		return nil, err
	}
	o.Log.Info("pool generated", "records", batched.records(), "took", time.Since(t0).Round(time.Millisecond))
	rep := &Report{Machine: machine(), Options: summarise(o)}
	for _, ph := range o.Phases {
		spec := phaseSpec{name: ph, child: ChildSwitch, pool: batched, latency: true, workers: o.Workers}
		if spec.workers == 0 {
			spec.workers = engine.DefaultWorkers
		}
		switch ph {
		case PhaseRaw:
			spec.child = ChildForward
		case PhaseHalf:
			spec.rate = rep.result(PhaseSwitch).RecordsPerSec / 2
		case PhaseRate:
			spec.rate = o.Rate
		case PhasePerRecord:
			// A naive design: one plain JSON record per message, in and
			// out, with a worker for every message the consumer lets be
			// in flight (fewer would measure round trips, not the
			// design). The observers would cost a message each: no
			// latency.
			spec.latency, spec.output, spec.workers = false, "input", engine.DefaultMaxAckPending
			if spec.pool, err = makePool(g, codec, min(o.Pool, perRecordPool), 1, cof.Identity); err != nil {
				return nil, err
			}
		}
		res, err := runPhase(ctx, o, spec)
		if err != nil {
			return rep, fmt.Errorf("phase %s: %w", ph, err)
		}
		rep.Results = append(rep.Results, res)
		if o.Progress != nil {
			fmt.Fprintln(o.Progress, res.line())
		}
	}
	rep.evaluate(o)
	return rep, nil
}

// phaseSpec is one phase's setup.
type phaseSpec struct {
	name    string
	child   string  // "switch" or "forward"
	rate    float64 // records/s; 0 = flat out
	pool    *pool
	latency bool
	output  string // the switch's output_encoding; "" = the default
	workers int    // the child's workers
}

// childStats is what either child prints when it stops.
type childStats struct {
	engine.Snapshot
	Outputs uint64 `json:"outputs"` // forward: messages stored in peer streams
}

// phaseEnv is a phase's fresh exchange: scratch directory, configuration,
// the server (this process's, or with Options.Exchange the child's own)
// and a client of the benchmark's own.
type phaseEnv struct {
	dir     string
	cfgPath string
	cfg     *config.Config
	srv     *server.Server // this process's server, unless the child has its own
	url     string
	nc      *nats.Conn
	js      jetstream.JetStream
}

// setUp makes the phase's configuration, and its server unless the child
// has its own;
// close takes them down and removes the scratch directory.
func setUp(ctx context.Context, o Options, spec phaseSpec) (*phaseEnv, error) {
	dir, err := os.MkdirTemp(o.Dir, "cofswitch-bench-")
	if err != nil {
		return nil, fmt.Errorf("bench: scratch directory: %w", err)
	}
	e := &phaseEnv{dir: dir}
	if err := e.open(ctx, o, spec); err != nil {
		e.close()
		return nil, err
	}
	return e, nil
}

func (e *phaseEnv) open(ctx context.Context, o Options, spec phaseSpec) error {
	warnMemoryStore(e.dir, o.Log)
	var err error
	if e.cfgPath, err = exchangeYAML(e.dir, o.Sensors, o.Policies, spec.output); err != nil {
		return err
	}
	if e.cfg, err = config.Load(e.cfgPath); err != nil {
		return err
	}
	if o.Exchange {
		return nil
	}
	if e.srv, err = bus.StartServer(bus.ServerConfig{Listen: "127.0.0.1:0", StoreDir: filepath.Join(e.dir, "nats")}); err != nil {
		return err
	}
	if err := e.connect(e.srv.ClientURL()); err != nil {
		return err
	}
	return exchange.EnsureStreams(ctx, e.js, e.cfg)
}

// connect is the benchmark's own client of the exchange's server.
func (e *phaseEnv) connect(url string) error {
	var err error
	e.url = url
	if e.nc, err = nats.Connect(url, nats.Name("cofswitch-bench")); err != nil {
		return fmt.Errorf("bench: %s: %w", url, err)
	}
	e.js, err = jetstream.New(e.nc)
	return err
}

func (e *phaseEnv) close() {
	if e.nc != nil {
		e.nc.Close()
	}
	if e.srv != nil {
		e.srv.Shutdown()
		e.srv.WaitForShutdown()
	}
	os.RemoveAll(e.dir)
}

// startProcess starts the process under test (with its own embedded
// server, with Options.Exchange), connects to its server, and returns a context
// that ends, with the child's failure as its cause, should the child exit
// before it is asked to.
func (e *phaseEnv) startProcess(ctx context.Context, o Options, spec phaseSpec) (*child, context.Context, context.CancelCauseFunc, error) {
	args := []string{"bench", spec.child, "--config", e.cfgPath, "--workers", strconv.Itoa(spec.workers)}
	if e.srv != nil {
		args = append(args, "--nats-url", e.srv.ClientURL())
	} else {
		args = append(args, "--data", filepath.Join(e.dir, "nats"))
	}
	if o.Profile != "" && spec.name == PhaseSwitch {
		args = append(args, "--cpuprofile", filepath.Join(o.Profile, "switch.pprof"))
	}
	ch, err := startChild(ctx, o.Exe, args...)
	if err != nil {
		return nil, nil, nil, err
	}
	if e.nc == nil {
		if err := e.connect(ch.url); err != nil {
			ch.kill()
			return nil, nil, nil, err
		}
	}
	cctx, cancel := context.WithCancelCause(ctx)
	go func(ch *child) {
		select {
		case <-ch.exited:
			cancel(ch.failure())
		case <-cctx.Done():
		}
	}(ch)
	return ch, cctx, cancel, nil
}

// runPhase runs one phase on a fresh server.
func runPhase(ctx context.Context, o Options, spec phaseSpec) (res Result, err error) {
	e, err := setUp(ctx, o, spec)
	if err != nil {
		return res, err
	}
	defer e.close()
	ch, ctx, cancel, err := e.startProcess(ctx, o, spec)
	if err != nil {
		return res, err
	}
	defer func() {
		cancel(nil)
		if ch != nil {
			ch.kill()
		}
	}()
	// Whatever fails while the child runs, its own exit is the reason.
	defer func() {
		if cause := context.Cause(ctx); err != nil && cause != nil && !errors.Is(cause, context.Canceled) {
			err = cause
		}
	}()
	m, err := measure(ctx, o, spec, e, ch.cmd.Process.Pid)
	if err != nil {
		return res, err
	}
	cancel(nil) // from here on, the child's exit is asked for
	var st childStats
	u, err := ch.stop(&st)
	// A stall (a retried batch waits out the ack wait) shows in the
	// figures; the child's warnings say why.
	for _, line := range ch.stderr.warnings() {
		o.Log.Warn("the process under test warned", "phase", spec.name, "line", line)
	}
	ch = nil
	if err != nil {
		return res, err
	}
	if m.childCPU > 0 { // else /proc is not there: the whole life will do
		u.CPUSeconds = m.childCPU
	} else {
		u.CPUSeconds = u.TotalCPUSeconds
	}
	return m.result(spec, st, u)
}

// measured is what one phase's timed window saw.
type measured struct {
	load     loadResult
	end      time.Time // the last output stored
	obs      []*observer
	childCPU float64 // the child's CPU seconds over the window
	benchCPU float64 // this process's, over the window
}

// measure drives the sensors for the phase, waits until every input is
// switched and observed, and samples CPU time at both ends.
func measure(ctx context.Context, o Options, spec phaseSpec, e *phaseEnv, pid int) (*measured, error) {
	m := &measured{}
	if spec.latency {
		secret, err := exchange.Secret(e.cfg.Switch, "")
		if err != nil {
			return nil, err
		}
		traces, err := engine.NewTraceOpener(secret)
		if err != nil {
			return nil, err
		}
		for _, p := range e.cfg.Peers {
			ob, err := observe(ctx, e.js, p.ID, traces)
			if err != nil {
				return nil, err
			}
			defer ob.stop()
			m.obs = append(m.obs, ob)
		}
	}
	gctx, stopGate := context.WithCancel(ctx)
	defer stopGate()
	// A few pulls' worth queued keeps every worker busy; more would only
	// add latency.
	g := &gate{high: int64(max(64, 2*spec.workers))}
	go g.watch(gctx, e.js, sensorIDsOf(e.cfg))
	if o.Profile != "" && spec.name == PhaseSwitch {
		stop, err := profileSelf(filepath.Join(o.Profile, "bus.pprof"))
		if err != nil {
			return nil, err
		}
		defer stop()
	}
	ids := make([]string, len(e.cfg.Sensors))
	for i, s := range e.cfg.Sensors {
		ids[i] = s.ID
	}
	o.Log.Info("phase running", "phase", spec.name, "process", spec.child, "rate", spec.rate, "for", o.Duration, "store", e.dir)
	cpu0, child0 := selfCPU(), procCPU(pid)
	l := &load{url: e.url, sensors: ids, pool: spec.pool, rate: spec.rate, d: o.Duration, window: 64, gate: g}
	var err error
	if m.load, err = l.run(ctx); err != nil {
		return nil, err
	}
	if err := waitDrained(ctx, e.js, sensorIDsOf(e.cfg)); err != nil {
		return nil, err
	}
	m.childCPU, m.benchCPU = procCPU(pid)-child0, selfCPU()-cpu0
	stopGate()
	if m.end, err = lastStored(ctx, e.js, e.cfg); err != nil {
		return nil, err
	}
	for _, ob := range m.obs {
		cctx, cancel := context.WithTimeout(ctx, time.Minute)
		err := ob.catchUp(cctx, e.js)
		cancel()
		if err != nil {
			return nil, err
		}
	}
	return m, nil
}

// result checks the child's counts against what was sent and computes
// the phase's figures.
func (m *measured) result(spec phaseSpec, st childStats, u usage) (Result, error) {
	lr := m.load
	res := Result{Phase: spec.name, Batch: spec.pool.perBatch, Encoding: string(spec.pool.enc), Rate: spec.rate,
		Workers: spec.workers, Records: lr.records, Refused: lr.refused, Child: u, BenchCPU: m.benchCPU,
		Seconds: m.end.Sub(lr.first).Seconds(), PoolRecords: spec.pool.records()}
	if res.Encoding == "" {
		res.Encoding = "none"
	}
	switch spec.child {
	case ChildForward:
		if st.Batches != uint64(len(lr.sent)) {
			return res, fmt.Errorf("forwarder moved %d batches, sensors sent %d", st.Batches, len(lr.sent))
		}
		res.Deliveries = st.Outputs * uint64(spec.pool.perBatch)
	default:
		if st.Records != lr.records || st.Invalid != 0 {
			return res, fmt.Errorf("switch counted %d records (%d invalid), sensors sent %d", st.Records, st.Invalid, lr.records)
		}
		for _, v := range st.Delivered {
			res.Deliveries += v
		}
		for _, v := range st.Filtered {
			res.Filtered += v
		}
	}
	if res.Seconds > 0 {
		res.RecordsPerSec = float64(res.Records) / res.Seconds
		res.DeliveriesPerSec = float64(res.Deliveries) / res.Seconds
	}
	if res.Records > 0 {
		res.Child.MicrosPerRecord = u.CPUSeconds * 1e6 / float64(res.Records)
	}
	if spec.latency {
		res.Latency = latencies(lr.sent, m.obs)
	}
	return res, nil
}

// profileSelf profiles this process (the server and the sensors) until
// the function it returns is called.
func profileSelf(path string) (func(), error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("bench: %w", err)
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

// waitDrained waits until every input stream is empty: every input
// switched and acked (the switch acks only once all its outputs are
// stored). It gives up when the backlog makes no progress for a minute.
func waitDrained(ctx context.Context, js jetstream.JetStream, sensors []string) error {
	var streams []jetstream.Stream
	for _, id := range sensors {
		s, err := js.Stream(ctx, routing.InStream(id))
		if err != nil {
			return err
		}
		streams = append(streams, s)
	}
	var last uint64
	progress := time.Now()
	for {
		var n uint64
		for _, s := range streams {
			info, err := s.Info(ctx)
			if err != nil {
				return err
			}
			n += info.State.Msgs
		}
		if n == 0 {
			return nil
		}
		if n != last {
			last, progress = n, time.Now()
		} else if time.Since(progress) > time.Minute {
			return fmt.Errorf("%d input batches left unswitched for a minute", n)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(2 * time.Millisecond):
		}
	}
}

// sensorIDsOf lists the sensors of a configuration.
func sensorIDsOf(cfg *config.Config) []string {
	ids := make([]string, len(cfg.Sensors))
	for i, s := range cfg.Sensors {
		ids[i] = s.ID
	}
	return ids
}

// lastStored is when the last output was stored, across peer streams.
func lastStored(ctx context.Context, js jetstream.JetStream, cfg *config.Config) (time.Time, error) {
	var end time.Time
	for _, p := range cfg.Peers {
		s, err := js.Stream(ctx, routing.PeerStream(p.ID))
		if err != nil {
			return end, err
		}
		if t := s.CachedInfo().State.LastTime; t.After(end) {
			end = t
		}
	}
	if end.IsZero() {
		return end, errors.New("no peer received anything")
	}
	return end, nil
}
