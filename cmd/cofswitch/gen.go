package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/cofswitch/cofswitch/gen"
)

type genFlags struct {
	n        int
	duration time.Duration
	rate     float64
	seed     uint64
	names    int
	zipf     float64
	internal float64
	sensors  string
	out      string
	publish  string
	pub      publishFlags
}

func genCommand() *command {
	return &command{
		name:    "gen",
		summary: "make synthetic COF records with a realistic mix",
		doc: `Make synthetic passive DNS records: owner names from a generated name space
with Zipf popularity, a resolver-like rrtype mix (A, AAAA, CNAME, NS, MX,
TXT, SOA, PTR, SRV) with plausible rdata sets, and a share of records that
policies remove (internal zones, private addresses). The same --seed gives
the same records.

Records go to --out (a FILE, compressed when it ends in .gz or .zst;
standard output by default), or with --publish ID onto the exchange as
sensor ID, batched (and signed, with --nkey or --creds) as 'cofswitch
publish' does (its flags apply).

It makes -n records, or records for --duration, at --rate records a second
or as fast as it can; Ctrl-C stops it cleanly (what was made is written or
published and acked).`,
		flags: func(fs *flag.FlagSet) any {
			f := &genFlags{}
			fs.IntVar(&f.n, "n", 100_000, "how many records (ignored with --duration)")
			fs.DurationVar(&f.duration, "duration", 0, "make records for this long instead of -n")
			fs.Float64Var(&f.rate, "rate", 0, "records a second (0: as fast as possible)")
			fs.Uint64Var(&f.seed, "seed", 1, "random seed")
			fs.IntVar(&f.names, "names", 1_000_000, "size of the name space")
			fs.Float64Var(&f.zipf, "zipf", 1.1, "Zipf exponent of name popularity (above 1)")
			fs.Float64Var(&f.internal, "internal", 0.05, "share of records with internal names or private addresses (0 to 1)")
			fs.StringVar(&f.sensors, "sensors", "", "comma-separated sensor_ids to attribute records to (default: none)")
			fs.StringVar(&f.out, "out", "-", "output `file` (.gz, .zst compress; - for standard output)")
			fs.StringVar(&f.publish, "publish", "", "publish as this sensor `id` instead of writing")
			fs.IntVar(&f.pub.batch, "batch", 500, "with --publish: records per batch")
			fs.StringVar(&f.pub.compression, "compression", "zstd", "with --publish: batch compression: zstd, s2 or none")
			fs.IntVar(&f.pub.maxPending, "max-pending", 64, "with --publish: most batches awaiting their acks")
			addNATSFlags(fs, &f.pub.nats, defaultURL)
			return f
		},
		run: func(ctx context.Context, io stdio, opts any, args []string) error {
			if len(args) > 0 {
				return usageErrorf("gen takes no arguments")
			}
			return genRun(ctx, io, opts.(*genFlags))
		},
	}
}

func genRun(ctx context.Context, std stdio, f *genFlags) error {
	switch {
	case f.duration < 0:
		return usageErrorf("--duration %v: want a positive duration", f.duration)
	case f.duration == 0 && f.n < 0:
		return usageErrorf("-n %d: want a count", f.n)
	case f.rate < 0:
		return usageErrorf("--rate %g: want a rate, or 0 for as fast as possible", f.rate)
	case f.publish != "" && f.out != "-":
		return usageErrorf("--publish and --out: choose one")
	}
	internal := f.internal
	if internal == 0 {
		internal = -1 // gen.Options: 0 means the default
	}
	var sensors []string
	if f.sensors != "" {
		sensors = strings.Split(f.sensors, ",")
	}
	g, err := gen.New(gen.Options{Seed: f.seed, Names: f.names, Zipf: f.zipf, Internal: internal, Sensors: sensors})
	if err != nil {
		return usageErrorf("%v", err)
	}
	if f.publish != "" {
		return genPublish(ctx, std, f, g)
	}
	w, closeOut, err := genOutput(std, f.out)
	if err != nil {
		return &exitError{code: exitUsage, msg: err.Error()}
	}
	n, err := gen.Write(ctx, g, w, genLimits(f))
	if cerr := closeOut(); err == nil {
		err = cerr
	}
	if err != nil {
		return &exitError{code: exitFailure, msg: fmt.Sprintf("after %d records: %v", n, err)}
	}
	return nil
}

// genPublish feeds the generator into the publisher through a pipe, so
// that records reach the bus exactly as 'publish' would send a file.
func genPublish(ctx context.Context, std stdio, f *genFlags, g *gen.Generator) error {
	pr, pw := io.Pipe()
	f.pub.sensor = f.publish
	f.pub.linger = 200 * time.Millisecond
	genCtx, stop := context.WithCancel(ctx)
	defer stop()
	// Paced, the buffer holds about a linger's worth of records (some 200
	// bytes each), so that they leave as they are made, not all at the end.
	size := 1 << 20
	if f.rate > 0 {
		size = min(max(int(f.rate*40), 4<<10), 1<<20)
	}
	go func() {
		bw := bufio.NewWriterSize(pw, size)
		_, err := gen.Write(genCtx, g, bw, genLimits(f))
		if err == nil {
			err = bw.Flush()
		}
		pw.CloseWithError(err)
	}()
	// The publisher ends on the pipe's end, not on ctx: Ctrl-C stops the
	// generator, and what it made is still sent and acked.
	err := runPublish(context.WithoutCancel(ctx), stdio{in: pr, out: std.out, err: std.err}, &f.pub, []string{"-"})
	stop()
	pr.Close()
	return err
}

// genOutput opens the output: standard output for "-", else a file
// compressed by its extension.
func genOutput(std stdio, name string) (io.Writer, func() error, error) {
	if name == "-" {
		bw := bufio.NewWriterSize(std.out, 1<<20)
		return bw, bw.Flush, nil
	}
	return gen.Create(name)
}

func genLimits(f *genFlags) gen.Limits {
	return gen.Limits{N: f.n, Duration: f.duration, Rate: f.rate}
}
