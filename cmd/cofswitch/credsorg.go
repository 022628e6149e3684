package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/nats-io/nkeys"

	"github.com/cofswitch/cofswitch/accounts"
	"github.com/cofswitch/cofswitch/config"
	"github.com/cofswitch/cofswitch/routing"
	"github.com/cofswitch/cofswitch/secretfile"
)

// orgCreds issues, as an organisation in operator mode, the credentials
// of a user of one of its sensors or peers.
func orgCreds(io stdio, f *credsFlags, kind, id string) error {
	if f.org == "" || f.signingKey == "" || f.accounts == "" {
		return usageErrorf("operator mode needs --org, --signing-key and --accounts")
	}
	if f.force {
		return usageErrorf("--force is for seed files; a credentials file is never overwritten: remove it first")
	}
	_, acct, err := orgAccount(f.accounts, f.org, kind, id)
	if err != nil {
		return err
	}
	sk, err := signingKeyOf(f.signingKey, f.accounts, f.org, acct)
	if err != nil {
		return err
	}
	var user nkeys.KeyPair
	if f.seed != "" {
		if user, err = loadSeed(f.seed, "--seed", nkeys.PrefixByteUser); err != nil {
			return err
		}
	} else if user, err = nkeys.CreateUser(); err != nil {
		return err
	}
	var expires time.Time
	if f.expires != "" {
		d, err := config.ParseDuration(f.expires)
		if err != nil || d <= 0 {
			return usageErrorf("--expires %q: not a positive duration (e.g. 90d, 12h)", f.expires)
		}
		expires = time.Now().Add(d)
	}
	creds, err := accounts.OrgCreds(sk, user, acct, expires)
	if err != nil {
		return &exitError{code: exitFailure, msg: err.Error()}
	}
	out := f.out
	if out == "" {
		out = routing.EscapeToken(id) + ".creds"
	}
	fh, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return usageErrorf("%s exists: remove it first (a user is revoked with 'cofswitch revoke')", out)
	} else if err != nil {
		return &exitError{code: exitUsage, msg: err.Error()}
	}
	if _, err := fh.Write(creds); err != nil {
		fh.Close()
		return &exitError{code: exitFailure, msg: err.Error()}
	}
	if err := fh.Close(); err != nil {
		return &exitError{code: exitFailure, msg: err.Error()}
	}
	pub, _ := user.PublicKey()
	fmt.Fprintf(io.out, "%s %s of organisation %s: credentials written to %s (mode 0600)\n", kind, id, f.org, out)
	fmt.Fprintf(io.out, "user: %s\naccount: %s (%s)\n", pub, acct.Account, acct.Name)
	if !expires.IsZero() {
		fmt.Fprintf(io.out, "expires: %s\n", expires.UTC().Format(time.RFC3339))
	}
	fmt.Fprintf(io.out, "\nThe %s connects with --creds %s and the inbox prefix %s; revoke the user with\n", kind, out, acct.Inbox)
	fmt.Fprintf(io.out, "    cofswitch revoke --org %s --signing-key %s --accounts %s --%s %s --user %s --creds OTHER.creds\n",
		f.org, f.signingKey, f.accounts, kind, id, pub)
	return nil
}

// orgAccount reads an organisation's accounts file and finds one of its
// identities in it.
func orgAccount(path, org, kind, id string) (accounts.OrgFile, accounts.OrgAccount, error) {
	f, err := accounts.ReadOrgFile(path)
	if err != nil {
		return f, accounts.OrgAccount{}, &exitError{code: exitUsage, msg: err.Error()}
	}
	if f.Organisation != org {
		return f, accounts.OrgAccount{}, usageErrorf("%s is organisation %q's accounts file, not %q's", path, f.Organisation, org)
	}
	a, ok := f.Find(kind, id)
	if !ok {
		return f, a, usageErrorf("organisation %q has no %s %q: the exchange's operator registers it, then gives you a new accounts file ('cofswitch nats-config --org %s')", org, kind, id, org)
	}
	return f, a, nil
}

// signingKeyOf reads the organisation's signing key and checks that the
// identity's account (from the accounts file at accountsPath) lists it:
// the server would refuse whatever another key signs, and saying so here
// beats a creds file that cannot connect.
func signingKeyOf(path, accountsPath, org string, acct accounts.OrgAccount) (nkeys.KeyPair, error) {
	sk, err := loadSeed(path, "--signing-key", nkeys.PrefixByteAccount)
	if err != nil {
		return nil, err
	}
	pub, _ := sk.PublicKey()
	ok, err := acct.Signer(pub)
	if err != nil {
		return nil, &exitError{code: exitUsage, msg: accountsPath + ": " + err.Error()}
	}
	if !ok {
		return nil, usageErrorf("--signing-key %s: key %s is not one of organisation %q's signing keys in %s "+
			"(the exchange's operator lists it under organisations.%s.signing_keys, then gives you a new accounts file)", path, pub, org, accountsPath, org)
	}
	return sk, nil
}

// loadSeed reads a seed file of the given kind. The error never shows the
// file's content.
func loadSeed(path, flag string, kind nkeys.PrefixByte) (nkeys.KeyPair, error) {
	b, err := secretfile.ReadFile(path)
	if err != nil {
		return nil, &exitError{code: exitUsage, msg: flag + ": " + err.Error()}
	}
	seed := []byte(strings.TrimSpace(string(b)))
	if p, _, err := nkeys.DecodeSeed(seed); err != nil || p != kind {
		want := map[nkeys.PrefixByte]string{nkeys.PrefixByteAccount: "an account signing key's seed (SA..., from 'cofswitch org-key')", nkeys.PrefixByteUser: "a user's nkey seed (SU...)"}[kind]
		return nil, usageErrorf("%s %s: not %s", flag, path, want)
	}
	kp, err := nkeys.FromSeed(seed)
	if err != nil {
		return nil, usageErrorf("%s %s: not a seed", flag, path)
	}
	return kp, nil
}
