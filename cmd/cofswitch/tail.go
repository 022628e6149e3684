package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"time"

	"github.com/cofswitch/cofswitch/accounts"
	"github.com/cofswitch/cofswitch/peers/feed"
	"github.com/cofswitch/cofswitch/routing"
)

type tailFlags struct {
	peer, apiPrefix string
	fromStart       bool
	direct          bool
	n               int
	wait            time.Duration
	exchangeKey     string
	nats            natsFlags
}

func tailCommand() *command {
	return &command{
		name:    "tail",
		summary: "print what a peer receives, as NDJSON",
		doc: `Print the records delivered to a peer (its stream PEER_<peer>), one COF line
each, as the switch wrote them. By default it starts with the next delivery
and follows until interrupted; --from-start begins with the oldest record the
stream still holds, -n stops after that many records, and --wait stops once
no delivery has arrived for that long. It acks nothing: a sink or database
on the same feed misses nothing.

With --nkey or --creds it reads the stream by direct get, through the
prefix the generated authorisation imports the exchange's API under
(--api-prefix): that is how a peer tails its own feed with its own seed,
which may not make a consumer. With the operator's seed
(cofswitch-data/switch.nk) nothing answers under the prefix, and tail uses
the exchange's API as it is. Without credentials it reads through an
ordered consumer of its own (--direct: by direct get there too).

With --exchange-key a batch whose exchange signature is missing or does
not verify is not printed; it is logged on standard error (once a
minute) and counted in the last line.`,
		flags: func(fs *flag.FlagSet) any {
			f := &tailFlags{}
			fs.StringVar(&f.peer, "peer", "", "the peer `id` (required)")
			fs.BoolVar(&f.fromStart, "from-start", false, "begin with the oldest record held")
			fs.IntVar(&f.n, "n", 0, "stop after this many records (0: no limit)")
			fs.DurationVar(&f.wait, "wait", 0, "stop after this long without a delivery (0: follow)")
			fs.BoolVar(&f.direct, "direct", false, "read by direct get (the default with --nkey or --creds)")
			fs.StringVar(&f.apiPrefix, "api-prefix", "", "JetStream API `prefix` (default "+accounts.APIPrefix+" with --nkey or --creds, none otherwise)")
			addExchangeKeyFlag(fs, &f.exchangeKey)
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
	guard, err := exchangeGuard(f.exchangeKey, "tail", slog.New(slog.NewTextHandler(io.err, nil)))
	if err != nil {
		return err
	}
	// With credentials, the identity is the peer's own (whose account
	// sees the exchange's API under the prefix) or the operator's (who
	// has it unprefixed): try the prefix, fall back when nothing answers.
	creds := f.nats.nkey != "" || f.nats.creds != ""
	prefix, fallback := f.apiPrefix, false
	if prefix == "" && creds {
		prefix, fallback = accounts.APIPrefix, true
	}
	nc, err := f.nats.connect("cofswitch-tail", nil, feed.InboxPrefix(f.peer))
	if err != nil {
		return &exitError{code: exitFailure, msg: err.Error()}
	}
	defer nc.Close()
	js, err := feed.Locate(ctx, nc, f.peer, prefix, fallback)
	if err != nil {
		return &exitError{code: exitFailure, msg: err.Error()}
	}
	o := feed.TailOptions{FromStart: f.fromStart, Limit: f.n, Idle: f.wait, Direct: f.direct || creds, Guard: guard}
	_, err = feed.Tail(ctx, js, f.peer, o, io.out)
	if unsigned, bad := guard.Refused(); unsigned+bad > 0 {
		fmt.Fprintf(io.err, "refused: %d batches unsigned, %d badly signed (not printed)\n", unsigned, bad)
	}
	if err != nil {
		return &exitError{code: exitFailure, msg: err.Error()}
	}
	return nil
}
