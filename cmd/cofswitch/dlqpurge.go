package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"strings"

	"github.com/cofswitch/cofswitch/sensor/deadletters"
)

type dlqPurgeFlags struct {
	conn  dlqConn
	kind  string
	until timeFlag
	yes   bool
}

func dlqPurgeCommand() *command {
	return &command{
		name:    "purge",
		summary: "remove a sensor's dead letters (the operator only)",
		doc: `Remove the dead letters of --sensor from COF_DLQ: all of them, those stored
until --until, or with --kind the letters whose entries are all of that
kind (a letter holds one input batch's rejected records and is removed
whole or not at all: letters also holding other kinds are kept, and
counted). It counts first, then asks on a terminal; without a terminal it
refuses unless --yes. It reports how many letters and entries went.

Only the operator may: run it with the switch's identity (--nkey
cofswitch-data/switch.nk). The server refuses anyone else, a sensor's seed
included. A COF_DLQ made by a cofswitch older than this command denies
purges for good (the server never lifts deny_purge); it says so.`,
		flags: func(fs *flag.FlagSet) any {
			f := &dlqPurgeFlags{}
			addDLQConnFlags(fs, &f.conn, "the sensor `id` whose dead letters to remove (required)", true)
			fs.StringVar(&f.kind, "kind", "", "only letters all of whose entries are of this `kind`")
			fs.Var(&f.until, "until", "only those stored until `TIME`: RFC 3339, or a duration ago (90m, 2h, 7d)")
			fs.BoolVar(&f.yes, "yes", false, "purge without asking")
			return f
		},
		run: func(ctx context.Context, io stdio, opts any, args []string) error {
			if len(args) > 0 {
				return usageErrorf("dlq purge takes no arguments")
			}
			return dlqPurge(ctx, io, opts.(*dlqPurgeFlags))
		},
	}
}

func dlqPurge(ctx context.Context, io stdio, f *dlqPurgeFlags) error {
	if f.conn.sensor == "" {
		return usageErrorf("--sensor is required")
	}
	ask := !f.yes
	if ask && !isTerminal(io.in) {
		return usageErrorf("purge removes dead letters for good: give --yes (or run it on a terminal to be asked)")
	}
	nc, c, err := f.conn.open(ctx, true)
	if err != nil {
		return err
	}
	defer nc.Close()
	what := "dead letters of sensor " + f.conn.sensor
	if f.kind != "" {
		what = f.kind + " " + what
	}
	if f.until.raw != "" {
		what += " stored until " + f.until.t.Format("2006-01-02T15:04:05Z07:00")
	}
	filter := deadletters.Filter{Sensor: f.conn.sensor, Kind: f.kind, Until: f.until.t}
	confirm := func(p deadletters.Purged) bool {
		if !ask {
			return true
		}
		fmt.Fprintf(io.err, "Purge %d letters (%d entries) of the %s? [y/N] ", p.Letters, p.Entries, what)
		line, _ := bufio.NewReader(io.in).ReadString('\n')
		return strings.EqualFold(strings.TrimSpace(line), "y") || strings.EqualFold(strings.TrimSpace(line), "yes")
	}
	p, done, err := c.Purge(ctx, filter, confirm)
	if err != nil {
		return &exitError{code: exitFailure, msg: err.Error()}
	}
	switch {
	case p.Letters == 0:
		fmt.Fprintf(io.out, "nothing to purge: no %s\n", what)
	case !done:
		fmt.Fprintf(io.out, "nothing purged\n")
	default:
		fmt.Fprintf(io.out, "purged %d letters (%d entries) of the %s\n", p.Letters, p.Entries, what)
	}
	if p.Mixed > 0 {
		fmt.Fprintf(io.out, "kept %d letters that also hold entries of other kinds\n", p.Mixed)
	}
	return nil
}
