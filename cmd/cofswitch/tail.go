package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/cofswitch/cofswitch/cof"
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
	cfg := jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverNewPolicy}
	if f.fromStart {
		cfg.DeliverPolicy = jetstream.DeliverAllPolicy
	}
	cons, err := js.OrderedConsumer(ctx, routing.PeerStream(f.peer), cfg)
	if err != nil {
		return &exitError{code: exitFailure, msg: "peer " + f.peer + ": " + err.Error()}
	}
	codec, err := cof.NewCodec()
	if err != nil {
		return err
	}
	defer codec.Close()
	br := codec.NewBatchReader()
	out := bufio.NewWriterSize(io.out, 64<<10)
	defer out.Flush()
	printed := 0
	idleSince := time.Now()
	for {
		// Short fetches, so that an interrupt is honoured within a second.
		fetchWait := time.Second
		if f.wait > 0 && f.wait < fetchWait {
			fetchWait = f.wait
		}
		batch, err := cons.Fetch(256, jetstream.FetchMaxWait(fetchWait))
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return &exitError{code: exitFailure, msg: err.Error()}
		}
		got := 0
		for m := range batch.Messages() {
			got++
			enc, err := cof.ParseEncoding(m.Headers().Get("Content-Encoding"))
			if err == nil {
				err = br.Reset(m.Data(), enc)
			}
			if err != nil {
				return &exitError{code: exitFailure, msg: "undecodable delivery: " + err.Error()}
			}
			for br.Next() {
				out.Write(br.Line())
				out.WriteByte('\n')
				printed++
				if f.n > 0 && printed >= f.n {
					return nil
				}
			}
		}
		if err := out.Flush(); err != nil {
			return &exitError{code: exitUsage, msg: "writing output: " + err.Error()}
		}
		if ctx.Err() != nil {
			return nil
		}
		if err := batch.Error(); err != nil && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, jetstream.ErrNoHeartbeat) {
			return &exitError{code: exitFailure, msg: err.Error()}
		}
		if got > 0 {
			idleSince = time.Now()
		} else if f.wait > 0 && time.Since(idleSince) >= f.wait {
			return nil
		}
	}
}
