package main

import (
	"context"
	"errors"
	"flag"

	"github.com/cofswitch/cofswitch/bench"
)

type benchChildFlags struct {
	nats       natsFlags
	data       string
	config     string
	workers    int
	cpuprofile string
	log        logFlags
}

// benchChildCommand is "bench switch" or "bench forward": the process
// under test. It prints "ready" once consuming and, when stopped by
// SIGINT or SIGTERM, one JSON line of counts.
func benchChildCommand(kind string) *command {
	doc := `Run the switch of the exchange in --config, with an embedded server whose
store is in --data (as 'serve' runs) or against --nats-url, until SIGINT
or SIGTERM. It prints "ready URL" once it consumes and, when it stops,
its counts as one JSON line.`
	summary := "the switch as 'bench run' starts it"
	if kind == "forward" {
		doc = `Run the raw forwarding baseline, with an embedded server whose store is in
--data or against --nats-url: each COF_IN batch is copied, unread, to the
stream of every peer of --config subscribed to its sensor, with the
switch's consumer settings, message ids and acks. It prints "ready URL"
once it consumes and, when stopped by SIGINT or SIGTERM, its counts as one
JSON line.`
		summary = "the raw forwarding baseline"
	}
	return &command{
		name:    kind,
		summary: summary,
		doc:     doc,
		flags: func(fs *flag.FlagSet) any {
			f := &benchChildFlags{}
			addNATSFlags(fs, &f.nats, defaultURL)
			fs.StringVar(&f.data, "data", "", "run an embedded server with its store in this `directory` (on a free loopback port), as 'serve' does, instead of using --nats-url")
			fs.StringVar(&f.config, "config", "", "exchange configuration `file` (YAML)")
			fs.IntVar(&f.workers, "workers", 0, "batches handled at once (0: the config's)")
			fs.StringVar(&f.cpuprofile, "cpuprofile", "", "write a CPU profile to this `file`")
			addLogFlags(fs, &f.log)
			return f
		},
		run: func(ctx context.Context, io stdio, opts any, args []string) error {
			if len(args) > 0 {
				return usageErrorf("bench %s takes no arguments", kind)
			}
			return benchChild(ctx, io, kind, opts.(*benchChildFlags))
		},
	}
}

func benchChild(ctx context.Context, std stdio, kind string, f *benchChildFlags) error {
	log, err := f.log.logger(std)
	if err != nil {
		return err
	}
	err = bench.RunChild(ctx, bench.ChildOptions{
		Kind: kind, ConfigPath: f.config, DataDir: f.data, URL: f.nats.url, Auth: f.nats.auth(),
		Workers: f.workers, CPUProfile: f.cpuprofile,
	}, std.out, log)
	if errors.Is(err, bench.ErrOptions) {
		return usageErrorf("%v", err)
	}
	return err
}
