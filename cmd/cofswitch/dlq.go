package main

import (
	"context"
	"flag"
	"time"

	"github.com/cofswitch/cofswitch/routing"
	"github.com/cofswitch/cofswitch/sensor/deadletters"
)

type dlqFlags struct {
	sensor string
	since  time.Duration
	n      int
	wait   time.Duration
	nats   natsFlags
}

func dlqCommand() *command {
	return &command{
		name:    "dlq",
		summary: "the operator's view of every sensor's dead letters",
		doc: `Print the dead letters of every sensor (or of --sensor), as NDJSON on
standard output, in the order stored: for each rejected record the switch's
entry (line, kind, field, error, sensor, input_seq, the original line), for
a batch rejected whole its kind, error and size. Read-only: it acks and
changes nothing, so sensors reading their own with 'dead-letters' are not
affected. Run it with the switch's identity (--nkey
cofswitch-data/switch.nk on the embedded server); a sensor reads its own
with 'cofswitch dead-letters'. Filter further with jq, e.g.
  cofswitch dlq --since 1h | jq -c 'select(.kind == "bad_rdata")'`,
		flags: func(fs *flag.FlagSet) any {
			f := &dlqFlags{}
			fs.StringVar(&f.sensor, "sensor", "", "only this sensor `id`'s dead letters")
			fs.DurationVar(&f.since, "since", 0, "only those stored in the last `duration` (0: all kept)")
			fs.IntVar(&f.n, "n", 0, "stop after this many entries (0: no limit)")
			fs.DurationVar(&f.wait, "wait", 2*time.Second, "stop after this long without a new entry")
			addNATSFlags(fs, &f.nats, defaultURL)
			return f
		},
		run: func(ctx context.Context, io stdio, opts any, args []string) error {
			if len(args) > 0 {
				return usageErrorf("dlq takes no arguments")
			}
			f := opts.(*dlqFlags)
			if f.sensor != "" {
				if err := routing.ValidateID("sensor", f.sensor, false); err != nil {
					return usageErrorf("--sensor: %v", err)
				}
			}
			nc, js, err := f.nats.connectJS("cofswitch-dlq")
			if err != nil {
				return err
			}
			defer nc.Close()
			var since time.Time
			if f.since > 0 {
				since = time.Now().Add(-f.since)
			}
			if _, err := deadletters.Scan(ctx, js, f.sensor, since, deadletters.Options{Limit: f.n, Idle: f.wait}, io.out); err != nil {
				return &exitError{code: exitFailure, msg: err.Error()}
			}
			return nil
		},
	}
}
