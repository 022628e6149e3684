package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/cofswitch/cofswitch/config"
	"github.com/cofswitch/cofswitch/switch/backfill"
	"github.com/cofswitch/cofswitch/switch/exchange"
)

type backfillFlags struct {
	config string
	data   string
	peer   string
	since  string
	rate   int
	nats   natsFlags
}

func backfillCommand() *command {
	return &command{
		name:    "backfill",
		summary: "deliver archived input to a new peer, or under a widened policy",
		doc: `Re-switch the input archive (COF_ARCHIVE, kept when streams.archive is
configured) for --peer under its subscriptions and policies in --config,
and publish what they grant on its stream PEER_<peer>: every filter and
transform applies, exactly as the switch applies them. Batches archived
more than --since ago are left out; batches the switch handled under this
very configuration (the same file version) are skipped, since the peer got
them then. Holding policies (coarsen_time): input whose bucket has ended,
which is all but the newest, is delivered at once, merged per bucket as a
release merges it.

It publishes at most --rate records a second (0: no limit), so that live
switching keeps the bus, and prints its progress on stderr: records, rate,
the archive position, the time left.

Running it twice delivers nothing twice: the archive sequences dealt with
are saved per peer in the bucket COF_BACKFILL after every window of 64
archived batches whose publishes are acked; a run killed in between
publishes its unsaved window again, under the same message ids, which the
peer's stream drops as duplicates within its duplicate window. Run it with the switch's identity (--nkey
cofswitch-data/switch.nk on the embedded server) and its secret (--data).`,
		flags: func(fs *flag.FlagSet) any {
			f := &backfillFlags{}
			fs.StringVar(&f.config, "config", "", "the exchange's configuration `file` (required)")
			fs.StringVar(&f.data, "data", "cofswitch-data", "data `directory` holding the switch's secret, unless switch.secret_file says")
			fs.StringVar(&f.peer, "peer", "", "the peer `id` to backfill (required)")
			fs.StringVar(&f.since, "since", "", "only batches archived this long ago or later (`duration`: 90m, 72h, 30d); default: the whole archive")
			fs.IntVar(&f.rate, "rate", backfill.DefaultRate, "at most this many `records` a second (0: no limit)")
			addNATSFlags(fs, &f.nats, "")
			return f
		},
		run: func(ctx context.Context, io stdio, opts any, args []string) error {
			if len(args) > 0 {
				return usageErrorf("backfill takes no arguments")
			}
			return runBackfill(ctx, io, opts.(*backfillFlags))
		},
	}
}

func runBackfill(ctx context.Context, std stdio, f *backfillFlags) error {
	if f.config == "" || f.peer == "" {
		return usageErrorf("backfill needs --config FILE and --peer ID")
	}
	var since time.Duration
	if f.since != "" {
		d, err := config.ParseDuration(f.since)
		if err != nil {
			return usageErrorf("--since: %v", err)
		}
		since = d
	}
	if f.rate < 0 {
		return usageErrorf("--rate %d: want a number of records a second, 0 for no limit", f.rate)
	}
	cfg, err := config.Load(f.config)
	if err != nil {
		return &exitError{code: exitUsage, msg: err.Error()}
	}
	if _, err := backfill.CheckPeer(cfg, f.peer); err != nil {
		return &exitError{code: exitUsage, msg: err.Error()}
	}
	conn := f.nats.withConfig(cfg.NATS)
	if err := exchange.ExistingKeys(cfg.Switch, conn.nkey, f.data); err != nil {
		return &exitError{code: exitUsage, msg: err.Error()}
	}
	secret, err := exchange.Secret(cfg.Switch, f.data)
	if err != nil {
		return &exitError{code: exitUsage, msg: "the switch's secret: " + err.Error()}
	}
	signer, err := exchange.SigningKey(cfg.Switch, conn.nkey, f.data)
	if err != nil {
		return &exitError{code: exitUsage, msg: "the exchange's signing key: " + err.Error()}
	}
	nc, js, err := conn.connectJS("cofswitch-backfill")
	if err != nil {
		return err
	}
	defer nc.Close()
	rate := f.rate
	if rate == 0 {
		rate = -1 // the package's "no limit"
	}
	pr := newBackfillProgress(std.err)
	p, err := backfill.Run(ctx, js, backfill.Options{Config: cfg, Peer: f.peer, Since: since, Rate: rate, Secret: secret, Signer: signer, Progress: pr.update})
	pr.done()
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return &exitError{code: exitFailure, msg: "interrupted: progress is saved, run it again to go on"}
		}
		return &exitError{code: exitFailure, msg: err.Error()}
	}
	held := ""
	if p.ThresholdHeld > 0 {
		held = fmt.Sprintf(", %d held by a threshold (their rrset not yet released)", p.ThresholdHeld)
	}
	fmt.Fprintf(std.out, "backfilled peer %s: %d records in %d messages from %d archived batches (%d skipped: done before or switched under this configuration), %d withheld by its policies%s, in %v\n",
		f.peer, p.Records, p.Messages, p.Batches, p.Skipped, p.Filtered, held, p.Elapsed.Round(time.Millisecond))
	return nil
}

// backfillProgress reports a backfill as 'db import' reports an import:
// on a terminal a line redrawn at most 4 times a second, otherwise a line
// every 10 s.
type backfillProgress struct {
	w    io.Writer
	term bool
	last time.Time
	drew bool
}

func newBackfillProgress(w io.Writer) *backfillProgress {
	return &backfillProgress{w: w, term: isTerminal(w), last: time.Now()}
}

func (b *backfillProgress) update(p backfill.Progress) {
	every := 10 * time.Second
	if b.term {
		every = 250 * time.Millisecond
	}
	if !p.Done && time.Since(b.last) < every {
		return
	}
	b.last = time.Now()
	line := backfillLine(p)
	if b.term {
		fmt.Fprintf(b.w, "\r%s  ", line)
		b.drew = true
	} else {
		fmt.Fprintln(b.w, "backfill:", line)
	}
}

func (b *backfillProgress) done() {
	if b.term && b.drew {
		fmt.Fprintln(b.w)
	}
}

// backfillLine is "N records, R records/s, batch P of T (x%), about D
// left, W waiting for --rate".
func backfillLine(p backfill.Progress) string {
	rate := float64(p.Records) / max(p.Elapsed.Seconds(), 1e-9)
	s := fmt.Sprintf("%d records, %.0f records/s", p.Records, rate)
	if p.Total > 0 {
		frac := min(float64(p.Position)/float64(p.Total), 1)
		s += fmt.Sprintf(", archive %d of %d (%.1f%%)", p.Position, p.Total, 100*frac)
		if frac > 0 && frac < 1 {
			left := time.Duration(float64(p.Elapsed) * (1 - frac) / frac)
			s += ", about " + left.Round(time.Second).String() + " left"
		}
	}
	if p.Waited > 0 {
		s += ", " + p.Waited.Round(time.Millisecond).String() + " waiting for --rate"
	}
	return s
}
