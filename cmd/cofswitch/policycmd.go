package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/cofswitch/cofswitch/cof"
	"github.com/cofswitch/cofswitch/config"
	"github.com/cofswitch/cofswitch/policy"
	"github.com/cofswitch/cofswitch/routing"
)

func policyCommand() *command {
	return &command{
		name:    "policy",
		summary: "check policies and try them on records",
		doc:     "Tools for the policies of a configuration file.",
		subs:    []*command{policyCheckCommand(), policyTestCommand()},
	}
}

type policyFlags struct {
	config  string
	peer    string
	sensor  string
	now     string
	explain bool
}

// loadPolicies reads and compiles a configuration; errors exit 1 (the file
// is wrong) or 2 (it cannot be read).
func loadPolicies(path string, env policy.Env) (*config.Config, *routing.Table, *policy.Set, error) {
	if path == "" {
		return nil, nil, nil, usageErrorf("--config is required")
	}
	cfg, err := config.Load(path)
	if err != nil {
		if os.IsNotExist(err) || os.IsPermission(err) {
			return nil, nil, nil, &exitError{code: exitUsage, msg: err.Error()}
		}
		return nil, nil, nil, &exitError{code: exitFailure, msg: err.Error()}
	}
	table, set, err := cfg.Compile(env)
	if err != nil {
		return nil, nil, nil, &exitError{code: exitFailure, msg: err.Error()}
	}
	return cfg, table, set, nil
}

func policyCheckCommand() *command {
	return &command{
		name:    "check",
		summary: "compile the policies of a configuration and show them",
		doc: `Compile every policy of the configuration file as 'serve' would, reading
their keys, and print what each does and which subscriptions use it.
Exit 0 when all compile, 1 when any fault is found (each with its line),
2 when the file cannot be read.`,
		flags: func(fs *flag.FlagSet) any {
			f := &policyFlags{}
			fs.StringVar(&f.config, "config", "", "configuration `file` (required)")
			return f
		},
		run: func(_ context.Context, io stdio, opts any, args []string) error {
			if len(args) > 0 {
				return usageErrorf("policy check takes no arguments")
			}
			cfg, _, set, err := loadPolicies(opts.(*policyFlags).config, policy.DefaultEnv())
			if err != nil {
				return err
			}
			return describePolicies(io.out, cfg, set)
		},
	}
}

func describePolicies(w io.Writer, cfg *config.Config, set *policy.Set) error {
	fmt.Fprintf(w, "%s: version %s: %d policies\n", "configuration", cfg.Version, len(set.Names()))
	users := map[string][]string{}
	for _, p := range cfg.Peers {
		for i, s := range p.Subscriptions {
			users[s.Policy] = append(users[s.Policy], fmt.Sprintf("%s[%d]", p.ID, i))
		}
	}
	for _, name := range set.Names() {
		p, _ := set.Lookup(name)
		fmt.Fprintf(w, "\npolicy %s", name)
		if p.TLP() != "" {
			fmt.Fprintf(w, " (%s)", p.TLP().Header())
		}
		fmt.Fprintln(w)
		if c, ok := p.(*policy.Compiled); ok {
			fmt.Fprintf(w, "  filters:    %s\n", orNone(c.Rules()))
			fmt.Fprintf(w, "  transforms: %s\n", orNone(c.TransformNames()))
		} else {
			fmt.Fprintf(w, "  built in: delivers every record as it is\n")
		}
		fmt.Fprintf(w, "  used by:    %s\n", orNone(users[name]))
	}
	return nil
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "(none)"
	}
	return strings.Join(s, ", ")
}

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

// tally of policy test outcomes, by label.
type outcomes struct {
	order []string
	n     map[string]int
}

func (o *outcomes) add(label string) {
	if o.n == nil {
		o.n = map[string]int{}
	}
	if _, ok := o.n[label]; !ok {
		o.order = append(o.order, label)
	}
	o.n[label]++
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
	var tally outcomes
	total, invalid := 0, 0
	var line []byte
	for rd.Next() {
		total++
		if err := rd.LineErr(); err != nil {
			invalid++
			tally.add("invalid")
			if f.explain {
				fmt.Fprintf(stderr, "%d: invalid: %s\n", rd.LineNumber(), err.(*cof.Error).Detail())
			}
			continue
		}
		r := rd.Record()
		if r.SensorID == "" {
			r.SensorID = f.sensor
		}
		var route *routing.Route
		for _, rt := range table.Routes(r.SensorID) {
			if rt.Peer == f.peer {
				route = &rt
			}
		}
		if route == nil {
			tally.add("not subscribed")
			if f.explain {
				fmt.Fprintf(stderr, "%d: not subscribed: no subscription of %s matches sensor_id %q\n", rd.LineNumber(), f.peer, r.SensorID)
			}
			continue
		}
		p, _ := set.Lookup(route.Subscription.Policy)
		e := p.Explain(r)
		where := fmt.Sprintf("subscription %d, policy %s", route.Subscription.Index, e.Policy)
		if !e.Kept {
			tally.add("withheld by " + e.Policy + ": " + e.Rule)
			if f.explain {
				fmt.Fprintf(stderr, "%d: withheld (%s): %s\n", rd.LineNumber(), where, e.Rule)
			}
			continue
		}
		tally.add("kept by " + e.Policy)
		if f.explain {
			label := route.Subscription.TLP
			if label == "" {
				label = "no TLP"
			}
			fmt.Fprintf(stderr, "%d: kept (%s, %s); transforms: %s\n", rd.LineNumber(), where, label, orNone(e.Transforms))
		}
		line = e.Out.AppendLine(line[:0])
		if _, err := out.Write(line); err != nil {
			return &exitError{code: exitUsage, msg: "writing output: " + err.Error()}
		}
	}
	if err := rd.Err(); err != nil {
		return &exitError{code: exitUsage, msg: err.Error()}
	}
	fmt.Fprintf(stderr, "policy test: peer %s, configuration version %s, %d records\n", f.peer, cfg.Version, total)
	tw := tabwriter.NewWriter(stderr, 0, 0, 2, ' ', 0)
	for _, label := range tally.order {
		fmt.Fprintf(tw, "  %s\t%d\n", label, tally.n[label])
	}
	tw.Flush()
	if invalid > 0 {
		return &exitError{code: exitFailure}
	}
	return nil
}
