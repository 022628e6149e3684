package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"

	"github.com/nats-io/nkeys"

	"github.com/cofswitch/cofswitch/accounts"
	"github.com/cofswitch/cofswitch/config"
)

type natsConfigFlags struct {
	config, switchKey string
}

func natsConfigCommand() *command {
	return &command{
		name:    "nats-config",
		summary: "print the NATS server authorisation for a registry",
		doc: `Print the nats-server configuration (accounts, users, permissions, exports
and imports) that enforces the exchange's isolation for the registry of
--config, to include in an existing NATS deployment's server
configuration. The switch's user is the public key of the seed in
nats.nkey, or --switch-nkey. 'serve' applies the same configuration to its
embedded server by itself.`,
		flags: func(fs *flag.FlagSet) any {
			f := &natsConfigFlags{}
			fs.StringVar(&f.config, "config", "", "configuration `file` (required)")
			fs.StringVar(&f.switchKey, "switch-nkey", "", "the switch's public user `nkey` (default: from nats.nkey)")
			return f
		},
		run: func(_ context.Context, io stdio, opts any, args []string) error {
			f := opts.(*natsConfigFlags)
			if len(args) > 0 || f.config == "" {
				return usageErrorf("nats-config takes --config FILE and no arguments")
			}
			cfg, err := config.Load(f.config)
			if err != nil {
				return &exitError{code: exitFailure, msg: err.Error()}
			}
			key := f.switchKey
			if key == "" && cfg.NATS.NKey != "" {
				if key, err = accounts.PublicKeyOfSeedFile(cfg.NATS.NKey); err != nil {
					code := exitFailure // a file that is no seed
					if errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission) {
						code = exitUsage
					}
					return &exitError{code: code, msg: "nats.nkey: " + err.Error()}
				}
			}
			if !nkeys.IsValidPublicUserKey(key) {
				return usageErrorf("the switch needs a public user nkey: set nats.nkey to its seed file or give --switch-nkey")
			}
			text, err := accounts.ServerConfig(cfg.Sensors, cfg.Peers, accounts.ServerOptions{SwitchKey: key, Version: cfg.Version})
			if err != nil {
				return err
			}
			fmt.Fprint(io.out, text)
			return nil
		},
	}
}
