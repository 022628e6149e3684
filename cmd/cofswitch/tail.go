package main

import (
	"context"
	"flag"
	"time"

	"github.com/cofswitch/cofswitch/peers/feed"
	"github.com/cofswitch/cofswitch/routing"
)

type tailFlags struct {
	peer      string
	fromStart bool
	n         int
	wait      time.Duration
	nats      natsFlags
}

func tailCommand() *command {
	return &command{
		name:    "tail",
		summary: "print what a peer receives, as NDJSON",
		doc: `Print the records delivered to a peer (its stream PEER_<peer>), one COF line
each, as the switch wrote them. By default it starts with the next delivery
and follows until interrupted; --from-start begins with the oldest record the
stream still holds, -n stops after that many records, and --wait stops once
no delivery has arrived for that long.`,
		flags: func(fs *flag.FlagSet) any {
			f := &tailFlags{}
			fs.StringVar(&f.peer, "peer", "", "the peer `id` (required)")
			fs.BoolVar(&f.fromStart, "from-start", false, "begin with the oldest record held")
			fs.IntVar(&f.n, "n", 0, "stop after this many records (0: no limit)")
			fs.DurationVar(&f.wait, "wait", 0, "stop after this long without a delivery (0: follow)")
			addNATSFlags(fs, &f.nats, defaultURL)
			return f
		},
		run: func(ctx context.Context, io stdio, opts any, args []string) error {
			if len(args) > 0 {
				return usageErrorf("tail takes no arguments")
			}
			return tail(ctx, io, opts.(*tailFlags))
		},
	}
}

func tail(ctx context.Context, io stdio, f *tailFlags) error {
	if f.peer == "" {
		return usageErrorf("--peer is required")
	}
	if err := routing.ValidateID("peer", f.peer, true); err != nil {
		return usageErrorf("--peer: %v", err)
	}
	nc, js, err := f.nats.connectJS("cofswitch-tail")
	if err != nil {
		return err
	}
	defer nc.Close()
	_, err = feed.Tail(ctx, js, f.peer, feed.TailOptions{FromStart: f.fromStart, Limit: f.n, Idle: f.wait}, io.out)
	if err != nil {
		return &exitError{code: exitFailure, msg: err.Error()}
	}
	return nil
}
