package main

import (
	"context"
	"flag"
	"fmt"

	"github.com/cofswitch/cofswitch/config"
	"github.com/cofswitch/cofswitch/switch/exchange"
)

func configCommand() *command {
	return &command{
		name:    "config",
		summary: "check configuration files",
		doc:     "Tools for the configuration file (see deploy/examples/cofswitch.yaml).",
		subs:    []*command{configCheckCommand(), configSigningKeyCommand()},
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

type signingKeyFlags struct {
	config, data, nkey string
}

func configSigningKeyCommand() *command {
	return &command{
		name:    "signing-key",
		summary: "print the exchange's public signing key, for peers to pin",
		doc: `Print the public nkey with which the switch signs every output batch
(Cofswitch-Exchange-Signature): what a peer gives its sink, db serve or
tail as --exchange-key. The seed is switch.signing_key, else the seed the
switch connects with (nats.nkey, --nkey), else switch.nk in the data
directory (the switch's identity on the embedded server), made (mode
0600) here if 'serve' has not made it yet.
The seed itself is never printed.`,
		flags: func(fs *flag.FlagSet) any {
			f := &signingKeyFlags{}
			fs.StringVar(&f.config, "config", "", "configuration `file` (YAML); none: the demo exchange's")
			fs.StringVar(&f.data, "data", "", "data `directory`, as given to serve (default: cofswitch-data, or cofswitch-demo-data without --config)")
			fs.StringVar(&f.nkey, "nkey", "", "the nkey seed `file` serve connects with, if given to it as --nkey")
			return f
		},
		run: func(_ context.Context, io stdio, opts any, args []string) error {
			if len(args) > 0 {
				return usageErrorf("config signing-key takes no arguments")
			}
			f := opts.(*signingKeyFlags)
			cfg, err := loadServeConfig(f.config)
			if err != nil {
				return err
			}
			nkey := cfg.NATS.NKey
			if f.nkey != "" {
				nkey = f.nkey
			}
			s, err := exchange.SigningKey(cfg.Switch, nkey, dataDir(&serveFlags{config: f.config, data: f.data}))
			if err != nil {
				return &exitError{code: exitFailure, msg: err.Error()}
			}
			fmt.Fprintln(io.out, s.PublicKey())
			return nil
		},
	}
}
