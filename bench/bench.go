// Package bench measures an exchange under load: an embedded NATS server
// with file storage, sensors publishing batches generated beforehand, and
// the process under test (the switch, or the raw forwarding baseline) in a
// child process so that its CPU time and peak RSS are its own. Each phase
// runs on a fresh server and reports records/s in, record deliveries/s
// out, and latency from publish to the peer stream.
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

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cofswitch/cofswitch/bus"
	"github.com/cofswitch/cofswitch/cof"
	"github.com/cofswitch/cofswitch/config"
	"github.com/cofswitch/cofswitch/engine"
	"github.com/cofswitch/cofswitch/gen"
	"github.com/cofswitch/cofswitch/routing"
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
	Pool     int           // distinct records generated before the timed window
	Seed     uint64        // the generator's seed
	Workers  int           // switch workers; 0 = the default
	Phases   []string      // which phases run; nil = DefaultPhases
	Profile  string        // if set, the switch phase writes CPU profiles into this directory: switch.pprof, bus.pprof
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
	case o.Pool < o.Batch:
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
	t0 := time.Now()
	batched, err := makePool(g, codec, o.Pool, o.Batch, o.Encoding)
	if err != nil {
		return nil, err
	}
	o.Log.Info("pool generated", "records", len(batched.batches)*o.Batch, "took", time.Since(t0).Round(time.Millisecond))
	rep := &Report{Machine: machine(), Options: summarise(o)}
	for _, ph := range o.Phases {
		spec := phaseSpec{name: ph, child: "switch", pool: batched, latency: true}
		switch ph {
		case PhaseRaw:
			spec.child = "forward"
		case PhaseHalf:
			spec.rate = rep.result(PhaseSwitch).RecordsPerSec / 2
		case PhaseRate:
			spec.rate = o.Rate
		case PhasePerRecord:
			// A naive design: one plain JSON record per message, in and
			// out. The observers would cost a message each: no latency.
			spec.latency, spec.output = false, "input"
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
	rep.evaluate()
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
}

// childStats is what either child prints when it stops.
type childStats struct {
	engine.Snapshot
	Outputs uint64 `json:"outputs"` // forward: messages stored in peer streams
}

// runPhase runs one phase on a fresh server.
func runPhase(ctx context.Context, o Options, spec phaseSpec) (res Result, err error) {
	dir, err := os.MkdirTemp(o.Dir, "cofswitch-bench-")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(dir)
	cfgPath, err := exchangeYAML(dir, o.Sensors, o.Policies, spec.output)
	if err != nil {
		return res, err
	}
	cfg, err := config.Load(cfgPath)
	if err != nil {
		return res, err
	}
	srv, err := bus.StartServer(bus.ServerConfig{Listen: "127.0.0.1:0", StoreDir: filepath.Join(dir, "nats")})
	if err != nil {
		return res, err
	}
	defer func() { srv.Shutdown(); srv.WaitForShutdown() }()
	nc, err := nats.Connect(srv.ClientURL(), nats.Name("cofswitch-bench"))
	if err != nil {
		return res, err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return res, err
	}
	if err := bus.EnsureStreams(ctx, js, cfg); err != nil {
		return res, err
	}

	args := []string{"bench", spec.child, "--nats-url", srv.ClientURL(), "--config", cfgPath}
	if o.Workers > 0 {
		args = append(args, "--workers", strconv.Itoa(o.Workers))
	}
	profile := o.Profile != "" && spec.name == PhaseSwitch
	if profile {
		args = append(args, "--cpuprofile", filepath.Join(o.Profile, "switch.pprof"))
	}
	ch, err := startChild(ctx, o.Exe, args...)
	if err != nil {
		return res, err
	}
	defer func() {
		if ch != nil {
			ch.kill()
		}
	}()
	// Should the process under test die, the phase ends at once.
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	go func() {
		select {
		case <-ch.exited:
			cancel(ch.failure())
		case <-ctx.Done():
		}
	}()
	var obs []*observer
	if spec.latency {
		for _, p := range cfg.Peers {
			ob, err := observe(ctx, js, p.ID)
			if err != nil {
				return res, err
			}
			defer ob.stop()
			obs = append(obs, ob)
		}
	}
	gctx, stopGate := context.WithCancel(ctx)
	defer stopGate()
	g := &gate{}
	// Two pulls' worth queued keeps the switch busy without a backlog
	// that would only add latency.
	go g.watch(gctx, js, uint64(2*cfg.Switch.MaxAckPending))

	if profile {
		stop, err := profileSelf(filepath.Join(o.Profile, "bus.pprof"))
		if err != nil {
			return res, err
		}
		defer stop()
	}
	o.Log.Info("phase running", "phase", spec.name, "process", spec.child, "rate", spec.rate, "for", o.Duration)
	cpu0 := selfCPU()
	sensors := cfg.Sensors
	ids := make([]string, len(sensors))
	for i, s := range sensors {
		ids[i] = s.ID
	}
	l := &load{url: srv.ClientURL(), sensors: ids, pool: spec.pool, rate: spec.rate, d: o.Duration, window: 64, gate: g}
	lr, err := l.run(ctx)
	if err == nil {
		err = waitDrained(ctx, js)
	}
	if err != nil {
		if cause := context.Cause(ctx); cause != nil {
			err = cause
		}
		return res, err
	}
	stopGate()
	end, err := lastStored(ctx, js, cfg)
	if err != nil {
		return res, err
	}
	for _, ob := range obs {
		cctx, cancel := context.WithTimeout(ctx, time.Minute)
		err := ob.catchUp(cctx, js)
		cancel()
		if err != nil {
			return res, err
		}
	}
	cpu1 := selfCPU()
	cancel(nil) // the child's exit from here on is asked for
	var st childStats
	u, err := ch.stop(&st)
	ch = nil
	if err != nil {
		return res, err
	}

	res = Result{Phase: spec.name, Batch: spec.pool.perBatch, Encoding: string(spec.pool.enc), Rate: spec.rate,
		Records: lr.records, Refused: lr.refused, Switch: u, BenchCPU: cpu1 - cpu0}
	if res.Encoding == "" {
		res.Encoding = "none"
	}
	res.Seconds = end.Sub(lr.first).Seconds()
	switch spec.child {
	case "forward":
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
	if spec.latency {
		res.Latency = latencies(lr.sent, obs)
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

// waitDrained waits until COF_IN is empty: every input switched and acked
// (the switch acks only once all its outputs are stored). It gives up when
// the backlog makes no progress for a minute.
func waitDrained(ctx context.Context, js jetstream.JetStream) error {
	s, err := js.Stream(ctx, routing.InStream)
	if err != nil {
		return err
	}
	var last uint64
	progress := time.Now()
	for {
		info, err := s.Info(ctx)
		if err != nil {
			return err
		}
		n := info.State.Msgs
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
