// Package bench measures an exchange under load: an embedded NATS server
// with file storage (or an external cluster, see cluster.go), sensors
// publishing batches generated beforehand, and the process under test
// (the switch, or the raw forwarding baseline) in one or several child
// processes so that their CPU time and peak RSS are their own. Each phase
// runs on a fresh server (or fresh streams) and reports records/s in,
// record deliveries/s out, and latency from publish to the peer stream.
// It may import every package but the command's.
package bench

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strconv"
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
	// PhaseRawPerRecord is the forwarding baseline with one record per
	// message: the bus's own limit for the per-record phase's shape.
	PhaseRawPerRecord = "raw-per-record"
)

// DefaultPhases are what a plain "cofswitch bench" runs.
var DefaultPhases = []string{PhaseRaw, PhaseSwitch, PhaseHalf, PhasePerRecord, PhaseRawPerRecord}

// profiled names the profiles of the phases that take them (with
// Options.Profile): the child's and this process's (the server, the
// sensors), <child>.pprof and <bus>.pprof. The raw phases are profiled
// too: where the bus's own cost per message goes is what bounds the
// switch's.
var profiled = map[string]struct{ child, bus string }{
	PhaseSwitch:       {"switch", "bus"},
	PhasePerRecord:    {"switch-per-record", "bus-per-record"},
	PhaseRaw:          {"raw", "bus-raw"},
	PhaseRawPerRecord: {"raw-per-record", "bus-raw-per-record"},
}

// perRecordPool caps the per-record phase's pool: one message per record.
const perRecordPool = 200_000

// Run runs the phases, once for each count of processes under test
// (Options.Switches), and returns the report.
func Run(ctx context.Context, o Options) (*Report, error) {
	if err := o.check(); err != nil {
		return nil, err
	}
	if o.NATSURL != "" {
		// Before minutes of generating: the cluster must answer and be
		// one the benchmark may clear.
		if err := probeCluster(ctx, o.NATSURL); err != nil {
			return nil, err
		}
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
	ps := &pools{g: g, codec: codec}
	if ps.batched, err = makePool(g, codec, o.Pool, o.Batch, o.Encoding); err != nil {
		return nil, err
	}
	o.Log.Info("pool generated", "records", ps.batched.records(), "took", time.Since(t0).Round(time.Millisecond))
	rep := &Report{Machine: machine(), Options: summarise(o)}
	for _, n := range o.Switches {
		for _, ph := range o.Phases {
			spec, err := newPhaseSpec(o, ph, n, rep, ps)
			if err != nil {
				return rep, err
			}
			res, err := runPhase(ctx, o, spec)
			if err != nil {
				return rep, fmt.Errorf("phase %s with %d processes: %w", ph, n, err)
			}
			rep.Results = append(rep.Results, res)
			if o.Progress != nil {
				fmt.Fprintln(o.Progress, res.line(len(o.Switches) > 1 || n > 1))
			}
		}
	}
	rep.evaluate(o)
	return rep, nil
}

// pools are the sensors' inputs, generated once for every phase: the
// batches, and the per-record phase's own when it first runs.
type pools struct {
	g         *gen.Generator
	codec     *cof.Codec
	batched   *pool
	perRecord *pool
}

// newPhaseSpec sets up phase ph with n processes under test; the half
// phase takes half the rate of the switch phase with as many.
func newPhaseSpec(o Options, ph string, n int, rep *Report, ps *pools) (phaseSpec, error) {
	spec := phaseSpec{name: ph, child: ChildSwitch, pool: ps.batched, latency: true, workers: o.Workers, procs: n}
	if spec.workers == 0 {
		spec.workers = engine.DefaultWorkers
	}
	switch ph {
	case PhaseRaw:
		spec.child = ChildForward
	case PhaseHalf:
		spec.rate = rep.find(PhaseSwitch, n).RecordsPerSec / 2
	case PhaseRate:
		spec.rate = o.Rate
	case PhasePerRecord, PhaseRawPerRecord:
		// A naive design: one plain JSON record per message, in and out,
		// with a worker for every message the consumer lets be in flight
		// (fewer would measure round trips, not the design). The
		// observers would cost a message each: no latency. The raw one
		// forwards the same messages unread, with the same ids and acks.
		spec.latency, spec.output, spec.workers = false, "input", engine.DefaultMaxAckPending
		if ph == PhaseRawPerRecord {
			spec.child = ChildForward
		}
		if ps.perRecord == nil {
			p, err := makePool(ps.g, ps.codec, min(o.Pool, perRecordPool), 1, cof.Identity)
			if err != nil {
				return spec, err
			}
			ps.perRecord = p
		}
		spec.pool = ps.perRecord
	}
	return spec, nil
}

// phaseSpec is one phase's setup.
type phaseSpec struct {
	name    string
	child   string  // "switch" or "forward"
	rate    float64 // records/s; 0 = flat out
	pool    *pool
	latency bool
	output  string // the switch's output_encoding; "" = the default
	workers int    // each child's workers
	procs   int    // the children, on the one durable consumer
}

// childStats is what either child prints when it stops.
type childStats struct {
	engine.Snapshot
	Outputs uint64 `json:"outputs"` // forward: messages stored in peer streams
}

// add sums another child's counts into s: those the figures read.
func (s *childStats) add(o childStats) {
	s.Batches += o.Batches
	s.Records += o.Records
	s.Invalid += o.Invalid
	s.Outputs += o.Outputs
	s.Delivered = addCounts(s.Delivered, o.Delivered)
	s.Filtered = addCounts(s.Filtered, o.Filtered)
}

// addCounts adds src's counts to dst's, key by key.
func addCounts(dst, src map[string]uint64) map[string]uint64 {
	if dst == nil {
		dst = make(map[string]uint64, len(src))
	}
	for k, v := range src {
		dst[k] += v
	}
	return dst
}

// phaseEnv is a phase's fresh exchange: scratch directory, configuration,
// the server (this process's, an external cluster, or with
// Options.Exchange the child's own) and a client of the benchmark's own.
type phaseEnv struct {
	dir      string
	cfgPath  string
	cfg      *config.Config
	srv      *server.Server // this process's server, if it runs one
	external bool           // the streams are on an external cluster, this run's to delete
	url      string
	nc       *nats.Conn
	js       jetstream.JetStream
	log      *slog.Logger
}

// setUp makes the phase's configuration, and its server or streams
// unless the child has its own;
// close takes them down and removes the scratch directory.
func setUp(ctx context.Context, o Options, spec phaseSpec) (*phaseEnv, error) {
	dir, err := os.MkdirTemp(o.Dir, "cofswitch-bench-")
	if err != nil {
		return nil, fmt.Errorf("bench: scratch directory: %w", err)
	}
	e := &phaseEnv{dir: dir, log: o.Log}
	if err := e.open(ctx, o, spec); err != nil {
		e.close()
		return nil, err
	}
	return e, nil
}

func (e *phaseEnv) open(ctx context.Context, o Options, spec phaseSpec) error {
	var err error
	if e.cfgPath, err = exchangeYAML(e.dir, exchangeSpec{sensors: o.Sensors, policies: o.Policies, output: spec.output, replicas: o.Replicas}); err != nil {
		return err
	}
	if e.cfg, err = config.Load(e.cfgPath); err != nil {
		return err
	}
	if o.NATSURL != "" {
		if e.nc, e.js, err = connectCluster(ctx, o.NATSURL); err != nil {
			return err
		}
		e.url = o.NATSURL
		if err := clearStreams(ctx, e.js); err != nil {
			return err
		}
		e.external = true
		return createStreams(ctx, e.js, e.cfg)
	}
	warnMemoryStore(e.dir, o.Log)
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
	if e.external {
		if err := deleteStreams(e.js, e.cfg); err != nil {
			e.log.Warn("the cluster keeps streams of this run; the next run deletes them", "err", err)
		}
	}
	if e.nc != nil {
		e.nc.Close()
	}
	if e.srv != nil {
		e.srv.Shutdown()
		e.srv.WaitForShutdown()
	}
	os.RemoveAll(e.dir)
}

// startProcesses starts the spec.procs processes under test (one, with
// its own embedded server, with Options.Exchange), connects to its server
// if it has one, and returns a context that ends, with a child's failure
// as its cause, should a child exit before it is asked to.
func (e *phaseEnv) startProcesses(ctx context.Context, o Options, spec phaseSpec) (children, context.Context, context.CancelCauseFunc, error) {
	args := []string{"bench", spec.child, "--config", e.cfgPath, "--workers", strconv.Itoa(spec.workers)}
	if o.Exchange {
		args = append(args, "--data", filepath.Join(e.dir, "nats"))
	} else {
		args = append(args, "--nats-url", e.url)
	}
	if name, ok := profiled[spec.name]; ok && o.Profile != "" {
		args = append(args, "--cpuprofile", filepath.Join(o.Profile, name.child+".pprof"))
	}
	cs, err := startChildren(ctx, spec.procs, o.Exe, args...)
	if err != nil {
		return nil, nil, nil, err
	}
	if e.nc == nil {
		if err := e.connect(cs[0].url); err != nil {
			cs.kill()
			return nil, nil, nil, err
		}
	}
	cctx, cancel := context.WithCancelCause(ctx)
	for _, ch := range cs {
		go func() {
			select {
			case <-ch.exited:
				cancel(ch.failure())
			case <-cctx.Done():
			}
		}()
	}
	return cs, cctx, cancel, nil
}

// runPhase runs one phase on a fresh server, or fresh streams.
func runPhase(ctx context.Context, o Options, spec phaseSpec) (res Result, err error) {
	e, err := setUp(ctx, o, spec)
	if err != nil {
		return res, err
	}
	defer e.close()
	cs, ctx, cancel, err := e.startProcesses(ctx, o, spec)
	if err != nil {
		return res, err
	}
	defer func() {
		cancel(nil)
		if cs != nil {
			cs.kill()
		}
	}()
	// Whatever fails while the children run, an early exit is the reason.
	defer func() {
		if cause := context.Cause(ctx); err != nil && cause != nil && !errors.Is(cause, context.Canceled) {
			err = cause
		}
	}()
	m, err := measure(ctx, o, spec, e, cs)
	if err != nil {
		return res, err
	}
	cancel(nil) // from here on, the children's exit is asked for
	st, u, warnings, err := cs.stop()
	// A stall (a retried batch waits out the ack wait) shows in the
	// figures; the children's warnings say why.
	for _, line := range warnings {
		o.Log.Warn("the process under test warned", "phase", spec.name, "line", line)
	}
	cs = nil
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
	childCPU float64 // the children's CPU seconds over the window, summed
	benchCPU float64 // this process's, over the window
}

// measure drives the sensors for the phase, waits until every input is
// switched and observed, and samples CPU time at both ends.
func measure(ctx context.Context, o Options, spec phaseSpec, e *phaseEnv, cs children) (*measured, error) {
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
	// A few pulls' worth queued keeps every worker of every process busy;
	// more would only add latency.
	g := &gate{high: int64(max(64, 2*spec.workers*spec.procs))}
	go g.watch(gctx, e.js, sensorIDsOf(e.cfg))
	if name, ok := profiled[spec.name]; ok && o.Profile != "" {
		stop, err := profileSelf(filepath.Join(o.Profile, name.bus+".pprof"))
		if err != nil {
			return nil, err
		}
		defer stop()
	}
	ids := sensorIDsOf(e.cfg)
	if err := waitPulling(ctx, e.js, ids, spec.procs, 15*time.Second); err != nil {
		o.Log.Warn("starting the load anyway", "err", err)
	}
	o.Log.Info("phase running", "phase", spec.name, "process", spec.child, "rate", spec.rate, "for", o.Duration, "store", e.dir)
	cpu0, child0 := selfCPU(), cs.cpu()
	l := &load{url: e.url, sensors: ids, pool: spec.pool, rate: spec.rate, d: o.Duration, window: 64, gate: g}
	var err error
	if m.load, err = l.run(ctx); err != nil {
		return nil, err
	}
	if err := waitDrained(ctx, e.js, sensorIDsOf(e.cfg)); err != nil {
		return nil, err
	}
	m.childCPU, m.benchCPU = cs.cpu()-child0, selfCPU()-cpu0
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

// result checks the children's counts, summed, against what was sent
// and computes the phase's figures.
func (m *measured) result(spec phaseSpec, st childStats, u usage) (Result, error) {
	lr := m.load
	res := Result{Phase: spec.name, Batch: spec.pool.perBatch, Encoding: string(spec.pool.enc), Rate: spec.rate,
		Workers: spec.workers, Processes: spec.procs, Records: lr.records, Refused: lr.refused, Child: u, BenchCPU: m.benchCPU,
		Seconds: m.end.Sub(lr.first).Seconds(), PoolRecords: spec.pool.records()}
	if res.Encoding == "" {
		res.Encoding = "none"
	}
	switch spec.child {
	case ChildForward:
		if st.Batches != uint64(len(lr.sent)) {
			return res, fmt.Errorf("forwarders (%d) moved %d batches, sensors sent %d", spec.procs, st.Batches, len(lr.sent))
		}
		res.Deliveries = st.Outputs * uint64(spec.pool.perBatch)
	default:
		if st.Records != lr.records || st.Invalid != 0 {
			return res, fmt.Errorf("switches (%d) counted %d records (%d invalid), sensors sent %d", spec.procs, st.Records, st.Invalid, lr.records)
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
