package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/cofswitch/cofswitch/cof"
	"github.com/cofswitch/cofswitch/config"
	"github.com/cofswitch/cofswitch/policy"
)

func policyTestCommand() *command {
	return &command{
		name:    "test",
		args:    "[FILE|-]",
		summary: "show what a peer would receive of some records",
		doc: `Run COF records from FILE (or standard input) through the routing and the
policies of the configuration as the switch would for one peer, and print
what the peer would receive, as NDJSON, on standard output. A record is
routed by its sensor_id (records without one take --sensor).

On standard error: with --explain, one line per record saying which
subscription and rule decided and which transforms ran; then a table of
records kept and withheld per rule. Exit 0, or 1 if a line is invalid.`,
		flags: func(fs *flag.FlagSet) any {
			f := &policyFlags{}
			fs.StringVar(&f.config, "config", "", "configuration `file` (required)")
			fs.StringVar(&f.peer, "peer", "", "the peer `id` (required)")
			fs.StringVar(&f.sensor, "sensor", "", "sensor `id` for records without sensor_id")
			fs.StringVar(&f.now, "now", "", "evaluate max_age at this `time` (RFC 3339) instead of now")
			fs.BoolVar(&f.explain, "explain", false, "say for each record which rule decided and which transforms ran")
			return f
		},
		run: func(_ context.Context, io stdio, opts any, args []string) error {
			return policyTest(io, opts.(*policyFlags), args)
		},
	}
}

func policyTest(io stdio, f *policyFlags, args []string) error {
	if f.peer == "" {
		return usageErrorf("--peer is required")
	}
	env := policy.DefaultEnv()
	if f.now != "" {
		t, err := time.Parse(time.RFC3339, f.now)
		if err != nil {
			return usageErrorf("--now %q: want RFC 3339, e.g. 2024-01-01T00:00:00Z", f.now)
		}
		env.Now = func() time.Time { return t }
	}
	cfg, table, set, err := loadPolicies(f.config, env)
	if err != nil {
		return err
	}
	if !slices.ContainsFunc(cfg.Peers, func(p config.Peer) bool { return p.ID == f.peer }) {
		return usageErrorf("peer %q is not in %s", f.peer, f.config)
	}
	rd, done, err := openInput(io, args, &cofFlags{maxLine: cof.DefaultMaxLineBytes})
	if err != nil {
		return err
	}
	defer done()
	out := bufio.NewWriterSize(io.out, 64<<10)
	defer out.Flush()
	stderr := bufio.NewWriter(io.err)
	defer stderr.Flush()
	dry := &policy.DryRun{Table: table, Set: set, Peer: f.peer, Sensor: f.sensor}
	var tally policy.Tally
	total, invalid := 0, 0
	var line []byte
	for rd.Next() {
		total++
		if err := rd.LineErr(); err != nil {
			invalid++
			tally.Add("invalid")
			if f.explain {
				fmt.Fprintf(stderr, "%d: invalid: %s\n", rd.LineNumber(), err.(*cof.Error).Detail())
			}
			continue
		}
		v := dry.Check(rd.Record())
		tally.Add(v.Label())
		if f.explain {
			explain(stderr, rd.LineNumber(), f.peer, v)
		}
		if !v.Routed || !v.Kept || v.ThresholdHeld != "" {
			continue
		}
		line = v.Out.AppendLine(line[:0])
		if _, err := out.Write(line); err != nil {
			return &exitError{code: exitUsage, msg: "writing output: " + err.Error()}
		}
	}
	if err := rd.Err(); err != nil {
		return &exitError{code: exitUsage, msg: err.Error()}
	}
	fmt.Fprintf(stderr, "policy test: peer %s, configuration version %s, %d records\n", f.peer, cfg.Version, total)
	tw := tabwriter.NewWriter(stderr, 0, 0, 2, ' ', 0)
	tally.Each(func(label string, n int) { fmt.Fprintf(tw, "  %s\t%d\n", label, n) })
	tw.Flush()
	if invalid > 0 {
		return &exitError{code: exitFailure}
	}
	return nil
}

// explain writes --explain's line for one record.
func explain(w *bufio.Writer, line int, peer string, v policy.Verdict) {
	if !v.Routed {
		fmt.Fprintf(w, "%d: not subscribed: no subscription of %s matches sensor_id %q\n", line, peer, v.Sensor)
		return
	}
	where := fmt.Sprintf("subscription %d, policy %s", v.Subscription, v.Policy)
	if !v.Kept {
		if v.Detail != "" {
			fmt.Fprintf(w, "%d: withheld (%s): %s: %s\n", line, where, v.Rule, v.Detail)
		} else {
			fmt.Fprintf(w, "%d: withheld (%s): %s\n", line, where, v.Rule)
		}
		return
	}
	label := v.TLP
	if label == "" {
		label = "no TLP"
	}
	if v.ThresholdHeld != "" {
		fmt.Fprintf(w, "%d: held (%s, %s): %s; released when %s; transforms: %s\n", line, where, label,
			v.ThresholdHeld, thresholdWords(v.Threshold), orNone(v.Transforms))
		return
	}
	held := ""
	if v.Released > 0 {
		held = fmt.Sprintf("; reaches its threshold (%s): released with the %d held before it", thresholdWords(v.Threshold), v.Released)
	}
	if v.Release > 0 {
		held += "; held until its " + bucketWords(v.Release) + " bucket ends, then delivered merged"
	}
	fmt.Fprintf(w, "%d: kept (%s, %s); transforms: %s%s\n", line, where, label, orNone(v.Transforms), held)
}

// thresholdWords says what a threshold waits for.
func thresholdWords(t policy.Threshold) string {
	s := fmt.Sprintf("%d sensors", t.MinSensors)
	if t.MinOrganisations > 1 {
		s += fmt.Sprintf(" and %d organisations", t.MinOrganisations)
	}
	return s + " have seen it within " + bucketWords(t.Window)
}

// bucketWords writes a coarsen_time bucket as the configuration would.
func bucketWords(d time.Duration) string {
	switch {
	case d%(24*time.Hour) == 0:
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	case d%time.Hour == 0:
		return fmt.Sprintf("%dh", d/time.Hour)
	case d%time.Minute == 0:
		return fmt.Sprintf("%dm", d/time.Minute)
	}
	return fmt.Sprintf("%ds", d/time.Second)
}
