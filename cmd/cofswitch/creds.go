package main

import (
	"context"
	"errors"
	"flag"
	"fmt"

	"github.com/cofswitch/cofswitch/accounts"
	"github.com/cofswitch/cofswitch/routing"
)

type credsFlags struct {
	sensor, peer, out string
	force             bool
	// Operator mode: an organisation issues its own user.
	org, signingKey, accounts, seed, expires string
}

func credsCommand() *command {
	return &command{
		name:    "creds",
		summary: "make the NATS identity of a sensor or a peer",
		doc: `Make a new nkey identity for a sensor (--sensor) or a peer (--peer): the
secret seed is written to --out (mode 0600; hand it over to the
organisation by a secure channel, then delete your copy), and the public
key is printed, to be set as the sensor's or peer's nkey in the
configuration. Once the configuration is reloaded the server admits that
key, with the permissions of that sensor or peer only. Running it again
rotates the identity: the old key stops working when the configuration
names the new one.

In operator mode (nats.auth: jwt) an organisation issues its own users:
with --org, --signing-key (its signing key's seed, from 'cofswitch
org-key') and --accounts (its accounts file, from the exchange's
'cofswitch nats-config --org'), it writes a credentials file (JWT and
seed, default ID.creds) for a new key, or for the key of --seed (a
sensor that signs its batches with its registered nkey). The server
gives the user that sensor's or peer's permissions and no others. Revoke
it with 'cofswitch revoke'.`,
		flags: func(fs *flag.FlagSet) any {
			f := &credsFlags{}
			fs.StringVar(&f.sensor, "sensor", "", "the sensor `id`")
			fs.StringVar(&f.peer, "peer", "", "the peer `id`")
			fs.StringVar(&f.out, "out", "", "`file` to write: the seed (default ID.nk), or with --org the credentials (default ID.creds)")
			fs.BoolVar(&f.force, "force", false, "overwrite an existing seed file")
			fs.StringVar(&f.org, "org", "", "operator mode: the `organisation` issuing the user")
			fs.StringVar(&f.signingKey, "signing-key", "", "operator mode: the organisation's signing key seed `file`")
			fs.StringVar(&f.accounts, "accounts", "", "operator mode: the organisation's accounts `file` (nats-config --org)")
			fs.StringVar(&f.seed, "seed", "", "operator mode: the user's existing nkey seed `file` (default: a new key)")
			fs.StringVar(&f.expires, "expires", "", "operator mode: the user's `lifetime` (e.g. 90d; default: none)")
			return f
		},
		run: func(_ context.Context, io stdio, opts any, args []string) error {
			if len(args) > 0 {
				return usageErrorf("creds takes no arguments")
			}
			return creds(io, opts.(*credsFlags))
		},
	}
}

func creds(io stdio, f *credsFlags) error {
	kind, id, err := identityFlags(f.sensor, f.peer, "")
	if err != nil {
		return err
	}
	if f.org != "" || f.signingKey != "" || f.accounts != "" {
		return orgCreds(io, f, kind, id)
	}
	if f.seed != "" || f.expires != "" {
		return usageErrorf("--seed and --expires go with --org (operator mode)")
	}
	out := f.out
	if out == "" {
		out = routing.EscapeToken(id) + ".nk"
	}
	pub, err := accounts.NewUserSeed(out, f.force)
	switch {
	case errors.Is(err, accounts.ErrSeedExists):
		return usageErrorf("%s exists (use --force to replace it)", out)
	case err != nil:
		return &exitError{code: exitUsage, msg: err.Error()}
	}
	inbox, usage := accounts.SensorInbox(id), fmt.Sprintf("cofswitch publish --sensor %s --nkey %s FILE", id, out)
	if kind == "peer" {
		inbox = accounts.PeerInbox(id)
		usage = fmt.Sprintf("bind consumer %q of stream %s through the API prefix %s", "sink", routing.PeerStream(id), accounts.APIPrefix)
	}
	fmt.Fprintf(io.out, "%s %s: seed written to %s (mode 0600)\n", kind, id, out)
	fmt.Fprintf(io.out, "public key: %s\n\n", pub)
	fmt.Fprintf(io.out, "In the configuration, under the %s with id %s:\n    nkey: %s\n\n", kind, id, pub)
	fmt.Fprintf(io.out, "The %s connects with the seed, using the inbox prefix %s; e.g. %s\n", kind, inbox, usage)
	return nil
}

// identityFlags reads --sensor and --peer, of which exactly one names
// the identity (why says what for, in the error): its kind and id.
func identityFlags(sensor, peer, why string) (kind, id string, err error) {
	kind, id = "sensor", sensor
	switch {
	case sensor != "" && peer != "":
		return "", "", usageErrorf("give --sensor or --peer, not both")
	case peer != "":
		kind, id = "peer", peer
	case sensor == "":
		return "", "", usageErrorf("give --sensor ID or --peer ID%s", why)
	}
	if err := routing.ValidateID(kind, id, kind == "peer"); err != nil {
		return "", "", usageErrorf("%v", err)
	}
	return kind, id, nil
}
