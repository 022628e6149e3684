package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/cofswitch/cofswitch/bench"
	"github.com/cofswitch/cofswitch/cof"
)

type benchFlags struct {
	sensors     int
	policies    string
	batch       int
	compression string
	duration    time.Duration
	rate        float64
	pool        int
	seed        uint64
	workers     int
	phases      string
	jsonOut     string
	profile     string
	exchange    bool
	dir         string
	natsURL     string
	replicas    int
	switches    string
	log         logFlags
}

// benchRunDoc is the help of 'bench run'.
const benchRunDoc = `Run an exchange on an embedded NATS server (file storage, one replica, a fresh
store per phase) and measure it. The switch runs as a child process, so
that its CPU time and peak RSS are its own; with --exchange the child is
the whole exchange, server and switch in one process as 'cofswitch serve'
runs them. Sensors in this process publish batches of generated records
('cofswitch gen' records, made before the timed window) over loopback TCP,
as sensors on other machines would. Phases:

  raw         the baseline: batches forwarded unread to every peer stream,
              with the same consumer, ids and acks (the bus's limit)
  switch      the switch, flat out
  half        the switch at half the rate the switch phase reached
  rate        the switch at --rate records a second
  per-record  the switch with one plain record per message (a naive design)
  raw-per-record
              the same messages forwarded unread, with the same ids and
              acks: the bus's limit for one record per message

Each phase reports records/s in (first publish to last output stored),
record deliveries/s out (summed over peers), latency from publish to the
peer stream (p50, p99, p99.9 over every output message; not for
per-record), and the child's CPU over the window (per record too) and peak
RSS. The table goes to standard output, the JSON to --json. The goals of
the benchmark issue are judged when the run has their shape (4 peers with
the typical policies, 500-record batches).

Each phase keeps its store in a directory under --dir, removed at its end:
the raw phase writes about 2 GB in 10 s on a 2-core machine (a peer stream
keeps 1 GiB at most). The generated records stay in memory (about 60 bytes
each), and the server's file store keeps recent blocks in memory: at 2
million records a second this process reached 4.6 GiB on a 2-core machine.
A second Ctrl-C kills the run and its child.

With --nats-url the phases run on an external NATS cluster instead: no
server in this process, streams with --replicas replicas, created before
each phase and deleted after it (and anything an earlier run left). It
must be a benchmark cluster of its own, without authentication: the run
refuses one that asks for credentials, does not answer, or holds an
exchange's streams it did not create (COF_IN_*, COF_DLQ, COF_HOLD,
PEER_*). Its servers' CPU and memory are not measured; latency assumes
their clocks agree with this machine's. --switches 1,2,4 runs the phases
once with each number of switch processes (or raw forwarders), all on the
one durable consumer as several 'serve' processes share it, on a cluster
or on the embedded server: their CPU and peak RSS are summed, and each row
is compared with the fewest processes' (records/s ratio, and that ratio
per process: the efficiency).`

func benchCommand() *command {
	run := &command{
		name:    "run",
		summary: "run the benchmark (the default)",
		doc:     benchRunDoc,
		flags: func(fs *flag.FlagSet) any {
			f := &benchFlags{}
			fs.IntVar(&f.sensors, "sensors", 4, "sensors publishing at once")
			fs.StringVar(&f.policies, "policies", strings.Join(bench.DefaultPolicies, ","),
				"one peer per entry, with that policy: "+strings.Join(bench.PolicyNames(), ", "))
			fs.IntVar(&f.batch, "batch", 500, "records per input batch")
			fs.StringVar(&f.compression, "compression", "zstd", "input batch compression: zstd, s2 or none")
			fs.DurationVar(&f.duration, "duration", 10*time.Second, "how long the sensors publish in each phase")
			fs.Float64Var(&f.rate, "rate", 0, "records a second for the rate phase")
			fs.IntVar(&f.pool, "pool", 0, "distinct records generated before the run, sent round robin (0: --duration at 500,000 a second, at most 8,000,000)")
			fs.Uint64Var(&f.seed, "seed", 1, "generator seed")
			fs.IntVar(&f.workers, "workers", 0, "switch workers per process (0: the default)")
			fs.StringVar(&f.phases, "phases", strings.Join(bench.DefaultPhases, ","), "phases to run, in order")
			fs.StringVar(&f.jsonOut, "json", "", "write the report as JSON to this `file`")
			fs.BoolVar(&f.exchange, "exchange", false, "the child is the whole exchange, server and switch (or forwarder) in one process, as 'serve' runs")
			fs.StringVar(&f.profile, "profile", "", "write CPU profiles of the raw, switch, per-record and raw-per-record phases into this `directory`: raw.pprof, switch.pprof, switch-per-record.pprof and raw-per-record.pprof (the child), bus-raw.pprof, bus.pprof, bus-per-record.pprof and bus-raw-per-record.pprof (this process)")
			fs.StringVar(&f.dir, "dir", "", "scratch `directory` for the servers' stores (default: the system's temp)")
			fs.StringVar(&f.natsURL, "nats-url", "", "run on this external NATS cluster, without authentication (`URLs`, comma-separated) instead of an embedded server")
			fs.IntVar(&f.replicas, "replicas", 1, "stream replicas (streams.replicas); above 1 needs --nats-url")
			fs.StringVar(&f.switches, "switches", "1", "numbers of switch processes to run the phases with, comma-separated (e.g. 1,2,4)")
			addLogFlags(fs, &f.log)
			return f
		},
		run: func(ctx context.Context, io stdio, opts any, args []string) error {
			if len(args) > 0 {
				return usageErrorf("bench takes no arguments")
			}
			return benchRun(ctx, io, opts.(*benchFlags))
		},
	}
	return &command{
		name:    "bench",
		summary: "measure the exchange: throughput, latency, CPU and memory",
		doc: `Measure an exchange on this machine against the bus's own limit. 'bench run'
drives it; 'bench switch' and 'bench forward' are the processes it starts
(usable on their own against any server).`,
		subs: []*command{run, benchChildCommand("switch"), benchChildCommand("forward")},
		dflt: run,
	}
}

func benchRun(ctx context.Context, std stdio, f *benchFlags) error {
	if strings.TrimSpace(f.phases) == "" {
		return usageErrorf("--phases is empty (phases: %s)", strings.Join(bench.DefaultPhases, ", ")+", "+bench.PhaseRate)
	}
	enc, err := cof.ParseEncoding(strings.Replace(f.compression, "none", "", 1))
	if err != nil {
		return usageErrorf("--compression: %v", err)
	}
	switches, err := splitInts(f.switches)
	if err != nil {
		return usageErrorf("--switches: %v", err)
	}
	log, err := f.log.logger(std)
	if err != nil {
		return err
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("bench: finding the cofswitch binary: %w", err)
	}
	o := bench.Options{Exe: exe, Dir: f.dir, Sensors: f.sensors, Policies: splitList(f.policies),
		Batch: f.batch, Encoding: enc, Duration: f.duration, Rate: f.rate, Pool: f.pool, Seed: f.seed,
		Workers: f.workers, Phases: splitList(f.phases), Profile: f.profile, Exchange: f.exchange,
		NATSURL: strings.TrimSpace(f.natsURL), Replicas: f.replicas, Switches: switches, Log: log, Progress: std.err}
	rep, err := bench.Run(ctx, o)
	if errors.Is(err, bench.ErrOptions) {
		return usageErrorf("%v", err)
	}
	if err != nil {
		fmt.Fprintln(std.err, "cofswitch:", err)
	}
	if rep != nil && len(rep.Results) > 0 {
		if werr := rep.WriteTable(std.out); werr != nil {
			return werr
		}
		if f.jsonOut != "" {
			data, _ := json.MarshalIndent(rep, "", "  ")
			if werr := os.WriteFile(f.jsonOut, append(data, '\n'), 0o644); werr != nil {
				return werr
			}
		}
	}
	if err != nil {
		return &exitError{code: exitFailure}
	}
	return nil
}

func splitList(s string) []string {
	var out []string
	for p := range strings.SplitSeq(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// splitInts parses a comma-separated list of numbers.
func splitInts(s string) ([]int, error) {
	var out []int
	for _, p := range splitList(s) {
		n, err := strconv.Atoi(p)
		if err != nil {
			return nil, fmt.Errorf("%q is not a number", p)
		}
		out = append(out, n)
	}
	if len(out) == 0 {
		return nil, errors.New("empty")
	}
	return out, nil
}
