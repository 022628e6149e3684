package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nkeys"

	"github.com/cofswitch/cofswitch/accounts"
	"github.com/cofswitch/cofswitch/config"
	"github.com/cofswitch/cofswitch/switch/exchange"
)

type natsConfigFlags struct {
	config, switchKey        string
	operator, data, org, dir string
	switchCreds, sysCreds    string
	state, jwtDir            string
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
embedded server by itself.

In operator mode (nats.auth: jwt) it prints the operator's JWT, the
system account and a full account resolver (--resolver-dir) preloaded
with every account's JWT, signed with the operator's seed: nats.operator,
--operator, or operator.nk in --data (the embedded server's). With --org
NAME it prints instead that organisation's accounts file (JSON, no
secret), which the organisation needs to issue its users ('cofswitch creds
--org') and to revoke them. --switch-creds FILE writes the credentials of
a new user of EXCHANGE, for serve's nats.creds on such a deployment, and
--system-creds FILE those of a user of the system account, which may push
account updates ($SYS.REQ.CLAIMS.UPDATE).
Revocations are applied by serve's embedded server. On a deployment of
your own, give --resolver-state DIR, the resolver's directory as your
server keeps it (or a copy): the revocations its accounts hold are
carried into the new JWTs, and the account of every identity the
registry no longer has is printed disabled (every user revoked, no
connection); without it, neither is, and a push would undo revocations
and leave removed identities' users admitted. --jwt-dir DIR writes each
account's JWT (the disabled ones too) to DIR/<public key>.jwt, to push.`,
		flags: func(fs *flag.FlagSet) any {
			f := &natsConfigFlags{}
			fs.StringVar(&f.config, "config", "", "configuration `file` (required)")
			fs.StringVar(&f.switchKey, "switch-nkey", "", "the switch's public user `nkey` (default: from nats.nkey)")
			fs.StringVar(&f.operator, "operator", "", "operator mode: the operator's seed `file` (default: nats.operator)")
			fs.StringVar(&f.data, "data", "", "operator mode: the exchange's data `directory`, holding operator.nk")
			fs.StringVar(&f.org, "org", "", "operator mode: print this `organisation`'s accounts file")
			fs.StringVar(&f.dir, "resolver-dir", "./jwt", "operator mode: the account resolver's `directory` on the server")
			fs.StringVar(&f.sysCreds, "system-creds", "", "operator mode: also write the credentials of a new user of the system account (to push account updates) to this `file`")
			fs.StringVar(&f.switchCreds, "switch-creds", "", "operator mode: also write the switch's credentials (a new user of EXCHANGE) to this `file`")
			fs.StringVar(&f.state, "resolver-state", "", "operator mode: the account resolver's `directory` as the server keeps it (or a copy): keep its revocations, disable the accounts of identities no longer registered")
			fs.StringVar(&f.jwtDir, "jwt-dir", "", "operator mode: also write each account's JWT to `directory`/<public key>.jwt, to push")
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
			if cfg.NATS.Auth == config.AuthJWT {
				return operatorConfig(io, cfg, f)
			}
			if f.org != "" || f.operator != "" {
				return usageErrorf("--org and --operator are for operator mode (nats.auth: jwt)")
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

// operatorConfig prints the operator mode's server configuration, or an
// organisation's accounts file.
func operatorConfig(io stdio, cfg *config.Config, f *natsConfigFlags) error {
	path := f.operator
	if path == "" {
		path = cfg.NATS.Operator
	}
	if path == "" && f.data != "" {
		path = filepath.Join(f.data, exchange.OperatorSeedFile)
	}
	if path == "" {
		return usageErrorf("operator mode needs the operator's seed: nats.operator, --operator FILE or --data DIR")
	}
	op, err := accounts.LoadOperator(path)
	if errors.Is(err, fs.ErrNotExist) {
		return &exitError{code: exitUsage, msg: err.Error() + ": serve makes it at its first start in operator mode (start it once), or give the operator's seed with nats.operator or --operator"}
	}
	if err != nil {
		return &exitError{code: exitUsage, msg: err.Error()}
	}
	claims, err := operatorClaims(io, cfg, op, f)
	if err != nil {
		return err
	}
	if f.switchCreds != "" {
		if err := writeUserCreds(f.switchCreds, op.ExchangeUser); err != nil {
			return err
		}
	}
	if f.sysCreds != "" {
		if err := writeUserCreds(f.sysCreds, op.SystemUser); err != nil {
			return err
		}
	}
	if f.org != "" {
		of := claims.OrgFile(f.org)
		if len(of.Accounts) == 0 {
			return usageErrorf("organisation %q has no sensor or peer in %s", f.org, f.config)
		}
		b, _ := json.MarshalIndent(of, "", "  ")
		fmt.Fprintf(io.out, "%s\n", b)
		return nil
	}
	if f.jwtDir != "" {
		if err := writeJWTs(f.jwtDir, claims); err != nil {
			return err
		}
	}
	fmt.Fprint(io.out, accounts.OperatorServerConfig(claims, accounts.ServerOptions{Version: cfg.Version}, f.dir))
	return nil
}

// operatorClaims renders the registry's accounts, after the resolver
// state of --resolver-state if given (accounts.ClaimsAfter).
func operatorClaims(io stdio, cfg *config.Config, op *accounts.Operator, f *natsConfigFlags) (*accounts.Claims, error) {
	opt := accounts.ClaimsOptions{SigningKeys: cfg.SigningKeysOf}
	if f.state == "" {
		if f.org == "" {
			fmt.Fprintln(io.err, "nats-config: without --resolver-state, revocations your resolver holds are not carried and the accounts of identities removed since are not disabled: give it before pushing to a deployment of your own")
		}
		return op.Claims(accounts.Plan(cfg.Sensors, cfg.Peers, true), opt)
	}
	if st, err := os.Stat(f.state); err != nil || !st.IsDir() {
		return nil, usageErrorf("--resolver-state %s: not a directory (the resolver's, holding <public key>.jwt files)", f.state)
	}
	claims, disabled, err := op.ClaimsAfter(accounts.Plan(cfg.Sensors, cfg.Peers, true), opt, f.state)
	if err != nil {
		return nil, &exitError{code: exitUsage, msg: "--resolver-state: " + err.Error()}
	}
	for _, name := range disabled {
		fmt.Fprintf(io.err, "nats-config: the account %s is no identity's any more: printed disabled (push it)\n", name)
	}
	return claims, nil
}

// writeJWTs writes each account's JWT (public) to dir/<public key>.jwt.
func writeJWTs(dir string, c *accounts.Claims) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return &exitError{code: exitUsage, msg: err.Error()}
	}
	for pub, tok := range c.Accounts {
		if err := os.WriteFile(filepath.Join(dir, pub+".jwt"), []byte(tok+"\n"), 0o644); err != nil {
			return &exitError{code: exitFailure, msg: err.Error()}
		}
	}
	return nil
}

// writeUserCreds writes the credentials of a new user that issue signs.
func writeUserCreds(path string, issue func(user, name string) (string, error)) error {
	kp, err := nkeys.CreateUser()
	if err != nil {
		return err
	}
	pub, _ := kp.PublicKey()
	tok, err := issue(pub, "cofswitch")
	if err != nil {
		return err
	}
	seed, _ := kp.Seed()
	creds, err := jwt.FormatUserConfig(tok, seed)
	if err != nil {
		return err
	}
	fh, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return usageErrorf("%s exists: remove it first", path)
	} else if err != nil {
		return &exitError{code: exitUsage, msg: err.Error()}
	}
	if _, err := fh.Write(creds); err != nil {
		fh.Close()
		return err
	}
	return fh.Close()
}
