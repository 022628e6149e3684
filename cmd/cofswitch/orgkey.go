package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"

	"github.com/nats-io/nkeys"
)

type orgKeyFlags struct {
	out, org string
}

func orgKeyCommand() *command {
	return &command{
		name:    "org-key",
		summary: "make an organisation's signing key for operator mode",
		doc: `Make a signing key with which an organisation issues the users of its own
sensors and peers in operator mode (nats.auth: jwt). The organisation
runs it and keeps the seed (--out, mode 0600); it sends the exchange's
operator the public key, to list under organisations.<name>.signing_keys.
The exchange then accepts users the key signs for that organisation's
sensors and peers, with their permissions only, and no others.`,
		flags: func(fs *flag.FlagSet) any {
			f := &orgKeyFlags{}
			fs.StringVar(&f.out, "out", "", "seed `file` to write (required; never overwritten)")
			fs.StringVar(&f.org, "org", "", "the `organisation`'s name, for the configuration snippet")
			return f
		},
		run: func(_ context.Context, io stdio, opts any, args []string) error {
			f := opts.(*orgKeyFlags)
			if len(args) > 0 || f.out == "" {
				return usageErrorf("org-key takes --out FILE and no arguments")
			}
			kp, err := nkeys.CreateAccount()
			if err != nil {
				return err
			}
			seed, _ := kp.Seed()
			pub, _ := kp.PublicKey()
			fh, err := os.OpenFile(f.out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
			if errors.Is(err, fs.ErrExist) {
				return usageErrorf("%s exists: a signing key is never overwritten", f.out)
			} else if err != nil {
				return &exitError{code: exitUsage, msg: err.Error()}
			}
			if _, err := fh.Write(append(seed, '\n')); err != nil {
				fh.Close()
				return &exitError{code: exitFailure, msg: err.Error()}
			}
			if err := fh.Close(); err != nil {
				return &exitError{code: exitFailure, msg: err.Error()}
			}
			org := f.org
			if org == "" {
				org = "ORGANISATION"
			}
			fmt.Fprintf(io.out, "signing key: seed written to %s (mode 0600; keep it, never send it)\n", f.out)
			fmt.Fprintf(io.out, "public key: %s\n\n", pub)
			fmt.Fprintf(io.out, "Send the public key to the exchange's operator, for its configuration:\n")
			fmt.Fprintf(io.out, "    organisations:\n      %s:\n        signing_keys: [%s]\n", org, pub)
			return nil
		},
	}
}
