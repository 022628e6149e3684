package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

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
their keys, and print what each does and which subscriptions use it; then,
per peer and subscription, a privacy summary: the fields it gets, the
precision of times and addresses, whether names are clear, hashed or
filtered, whether sensor ids are clear, and its TLP label. A WARNING line
marks a peer of another organisation that gets exact times, full
addresses or clear sensor ids. Exit 0 when all compile (warnings
included), 1 when any fault is found (each with its line), 2 when the
file cannot be read.`,
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
			if err := describePolicies(io.out, cfg, set); err != nil {
				return err
			}
			fmt.Fprintln(io.out)
			return config.WritePrivacy(io.out, cfg.PrivacySummary())
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
