package main

import (
	"context"
	"fmt"

	"github.com/cofswitch/cofswitch/config"
)

func configCommand() *command {
	return &command{
		name:    "config",
		summary: "check configuration files",
		doc:     "Tools for the configuration file (see deploy/examples/cofswitch.yaml).",
		subs:    []*command{configCheckCommand()},
	}
}

func configCheckCommand() *command {
	return &command{
		name:    "check",
		args:    "FILE",
		summary: "check a configuration file",
		doc: `Read a configuration file strictly, as 'serve' does: an unknown key, a bad
value, a duplicate id, a reference to an unknown peer or policy, a
subscription that may receive another organisation's records but names
no policy or has no TLP label, or a policy that does not compile (its
keys are read) is reported with its line. Exit 0 when the file is valid,
1 when it is not, 2 when it cannot be read.`,
		run: func(_ context.Context, io stdio, _ any, args []string) error {
			if len(args) != 1 {
				return usageErrorf("config check takes one FILE")
			}
			cfg, err := config.Load(args[0])
			if err != nil {
				if _, ok := err.(interface{ Unwrap() []error }); ok || isConfigError(err) {
					fmt.Fprintln(io.err, err)
					return &exitError{code: exitFailure}
				}
				return &exitError{code: exitUsage, msg: err.Error()}
			}
			if _, err := cfg.Table(); err != nil {
				fmt.Fprintln(io.err, err)
				return &exitError{code: exitFailure}
			}
			subs := 0
			for _, p := range cfg.Peers {
				subs += len(p.Subscriptions)
			}
			fmt.Fprintf(io.out, "%s: ok: version %s: %d sensors, %d peers, %d subscriptions, %d policies\n",
				args[0], cfg.Version, len(cfg.Sensors), len(cfg.Peers), subs, len(cfg.Policies))
			return nil
		},
	}
}

func isConfigError(err error) bool {
	_, ok := err.(*config.Error)
	return ok
}
