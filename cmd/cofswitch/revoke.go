package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"github.com/cofswitch/cofswitch/accounts"
	"github.com/cofswitch/cofswitch/switch/exchange"
)

type revokeFlags struct {
	nats                          natsFlags
	org, signingKey, accounts     string
	sensor, peer, user, userCreds string
	all                           bool
	timeout                       time.Duration
}

func revokeCommand() *command {
	return &command{
		name:    "revoke",
		summary: "revoke a user an organisation issued (operator mode)",
		doc: `Revoke, as an organisation in operator mode, a user it issued for one of
its sensors or peers (--sensor or --peer): the user's public key
(--user) or its credentials file (--user-creds). The revocation is signed
with the organisation's signing key and sent to the exchange through
another of the organisation's identities (--creds, the credentials it
connects with: any of its sensors or peers, even the revoked user's own
identity with another user). The exchange closes the revoked user's
connections at once and admits it no more; it keeps the revocation
across restarts. The user's key is out for good, whatever date its JWTs
claim: issue the next user with a new key (an account keeps at most
1,000 keys revoked for good; beyond, use --all). --all revokes every user
of that sensor or peer issued until now, and those dated up to a minute
ahead; issue new users a minute after it. A lost signing key needs a
rollover (the operator replaces it in signing_keys), not --all.`,
		flags: func(fs *flag.FlagSet) any {
			f := &revokeFlags{}
			addNATSFlags(fs, &f.nats, defaultURL)
			fs.StringVar(&f.org, "org", "", "the `organisation` (required)")
			fs.StringVar(&f.signingKey, "signing-key", "", "the organisation's signing key seed `file` (required)")
			fs.StringVar(&f.accounts, "accounts", "", "the organisation's accounts `file` (required)")
			fs.StringVar(&f.sensor, "sensor", "", "the sensor `id` whose user is revoked")
			fs.StringVar(&f.peer, "peer", "", "the peer `id` whose user is revoked")
			fs.StringVar(&f.user, "user", "", "the revoked user's public `key` (U...)")
			fs.StringVar(&f.userCreds, "user-creds", "", "the revoked user's credentials `file`, instead of --user")
			fs.BoolVar(&f.all, "all", false, "revoke every user of the sensor or peer issued until now (and dated up to a minute ahead), instead of --user")
			fs.DurationVar(&f.timeout, "timeout", 10*time.Second, "how long to wait for the exchange's answer")
			return f
		},
		run: func(ctx context.Context, io stdio, opts any, args []string) error {
			if len(args) > 0 {
				return usageErrorf("revoke takes no arguments")
			}
			return revoke(io, opts.(*revokeFlags))
		},
	}
}

func revoke(io stdio, f *revokeFlags) error {
	if f.org == "" || f.signingKey == "" || f.accounts == "" {
		return usageErrorf("revoke needs --org, --signing-key and --accounts")
	}
	kind, id, err := identityFlags(f.sensor, f.peer, ": whose user is revoked")
	if err != nil {
		return err
	}
	if f.nats.creds == "" {
		return usageErrorf("give --creds: the credentials of one of the organisation's identities, to reach the exchange")
	}
	orgFile, target, err := orgAccount(f.accounts, f.org, kind, id)
	if err != nil {
		return err
	}
	user, err := revokedUser(f)
	if err != nil {
		return err
	}
	via, err := credsIdentity(f.nats.creds, orgFile)
	if err != nil {
		return err
	}
	sk, err := signingKeyOf(f.signingKey, f.accounts, f.org, target)
	if err != nil {
		return err
	}
	tok, err := accounts.SignRevocation(sk, target.Account, user)
	if err != nil {
		return &exitError{code: exitFailure, msg: err.Error()}
	}
	nc, err := f.nats.connect("cofswitch-revoke", nil, nats.CustomInboxPrefix(via.Inbox))
	if err != nil {
		return &exitError{code: exitFailure, msg: err.Error()}
	}
	defer nc.Close()
	msg, err := nc.Request(accounts.RevokeSubject(via.Kind, via.ID), []byte(tok), f.timeout)
	if err != nil {
		return &exitError{code: exitFailure, msg: fmt.Sprintf("the exchange did not answer the revocation (is it in operator mode?): %v", err)}
	}
	var r exchange.RevokeReply
	if err := json.Unmarshal(msg.Data, &r); err != nil {
		return &exitError{code: exitFailure, msg: fmt.Sprintf("the exchange's answer: %v", err)}
	}
	if !r.OK {
		return &exitError{code: exitFailure, msg: "revocation refused: " + r.Error}
	}
	if user == jwt.All {
		fmt.Fprintf(io.out, "revoked: every user of %s %s issued until now (account %s); their connections are closed; issue new users a minute from now\n", kind, id, r.Account)
		return nil
	}
	fmt.Fprintf(io.out, "revoked: user %s of %s %s (account %s); its connections are closed and its key is out for good\n", user, kind, id, r.Account)
	return nil
}

// revokedUser is the public key of the user to revoke.
func revokedUser(f *revokeFlags) (string, error) {
	if f.all {
		if f.user != "" || f.userCreds != "" {
			return "", usageErrorf("give --all, or --user or --user-creds")
		}
		return jwt.All, nil
	}
	switch {
	case f.user != "" && f.userCreds != "":
		return "", usageErrorf("give --user or --user-creds, not both")
	case f.user != "":
		if !nkeys.IsValidPublicUserKey(f.user) {
			return "", usageErrorf("--user %q: not a public user key (U...)", f.user)
		}
		return f.user, nil
	case f.userCreds != "":
		uc, err := credsClaims(f.userCreds)
		if err != nil {
			return "", err
		}
		return uc.Subject, nil
	}
	return "", usageErrorf("give --user KEY, --user-creds FILE or --all: the user to revoke")
}

// credsIdentity is the organisation's identity whose credentials are in
// path.
func credsIdentity(path string, f accounts.OrgFile) (accounts.OrgAccount, error) {
	uc, err := credsClaims(path)
	if err != nil {
		return accounts.OrgAccount{}, err
	}
	acct := uc.IssuerAccount
	if acct == "" {
		acct = uc.Issuer
	}
	a, ok := f.ByAccount(acct)
	if !ok {
		return a, usageErrorf("--creds %s: not a user of one of organisation %q's sensors or peers", path, f.Organisation)
	}
	return a, nil
}

// credsClaims reads the user JWT of a credentials file (its seed is not
// needed, and not read into anything that could print it).
func credsClaims(path string) (*jwt.UserClaims, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, &exitError{code: exitUsage, msg: err.Error()}
	}
	tok, err := jwt.ParseDecoratedJWT(b)
	if err != nil {
		return nil, usageErrorf("%s: not a credentials file", path)
	}
	uc, err := jwt.DecodeUserClaims(tok)
	if err != nil {
		return nil, usageErrorf("%s: not a user's credentials", path)
	}
	return uc, nil
}
