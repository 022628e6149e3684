package main

import (
	"context"
	"errors"
	"flag"
	"time"

	"github.com/cofswitch/cofswitch/accounts"
	"github.com/cofswitch/cofswitch/routing"
	"github.com/cofswitch/cofswitch/sensor/deadletters"
	"github.com/cofswitch/cofswitch/sensor/publish"
)

type deadLettersFlags struct {
	sensor, apiPrefix string
	n                 int
	wait              time.Duration
	keep              bool
	nats              natsFlags
}

func deadLettersCommand() *command {
	return &command{
		name:    "dead-letters",
		summary: "read a sensor's own dead letters, with the reasons",
		doc: `Print what the switch rejected from a sensor, as NDJSON on standard output:
for each invalid record the switch's entry (line, kind, field, error, the
original line in raw), and for a batch rejected whole its kind, error and
size. Run by the sensor's organisation with the sensor's own seed (--nkey
or --creds): it reads through the consumer the switch provisions for each
sensor with an nkey, filtered to that sensor's dead letters, and can read
nothing else. What it prints is acked (the next run shows what came
since) unless --keep. It stops after -n entries or once nothing has come
for --wait.`,
		flags: func(fs *flag.FlagSet) any {
			f := &deadLettersFlags{}
			fs.StringVar(&f.sensor, "sensor", "", "the sensor `id` (required)")
			fs.IntVar(&f.n, "n", 0, "stop after this many entries (0: no limit)")
			fs.DurationVar(&f.wait, "wait", 2*time.Second, "stop after this long without a new dead letter")
			fs.BoolVar(&f.keep, "keep", false, "do not ack what is printed")
			fs.StringVar(&f.apiPrefix, "api-prefix", "", "JetStream API `prefix` (default "+accounts.APIPrefix+" with --nkey or --creds)")
			addNATSFlags(fs, &f.nats, defaultURL)
			return f
		},
		run: func(ctx context.Context, io stdio, opts any, args []string) error {
			if len(args) > 0 {
				return usageErrorf("dead-letters takes no arguments")
			}
			return readDeadLetters(ctx, io, opts.(*deadLettersFlags))
		},
	}
}

func readDeadLetters(ctx context.Context, io stdio, f *deadLettersFlags) error {
	if f.sensor == "" {
		return usageErrorf("--sensor is required")
	}
	if err := routing.ValidateID("sensor", f.sensor, false); err != nil {
		return usageErrorf("--sensor: %v", err)
	}
	nc, err := f.nats.connect("cofswitch-dead-letters", nil, publish.ConnectOptions(f.sensor, &publish.Refusals{})...)
	if err != nil {
		return &exitError{code: exitFailure, msg: err.Error()}
	}
	defer nc.Close()
	prefix := f.apiPrefix
	if prefix == "" && (f.nats.nkey != "" || f.nats.creds != "") {
		prefix = accounts.APIPrefix
	}
	_, err = deadletters.Read(ctx, nc, f.sensor, deadletters.Options{APIPrefix: prefix, Limit: f.n, Idle: f.wait, Keep: f.keep}, io.out)
	if errors.Is(err, deadletters.ErrBind) {
		return &exitError{code: exitFailure, msg: err.Error() + " (does the sensor have an nkey in the configuration, and are these its credentials?)"}
	}
	if err != nil {
		return &exitError{code: exitFailure, msg: err.Error()}
	}
	return nil
}
