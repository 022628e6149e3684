package accounts

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nkeys"

	"github.com/cofswitch/cofswitch/routing"
)

// revocationType marks a JWT as an organisation's revocation of one of
// its users, so that no other JWT its key signs (a user's) can pass for
// one.
const revocationType = "cofswitch-revocation"

// RevokeSubject is where an identity sends revocations to the exchange in
// operator mode (request and reply): cof.ctl.revoke.<kind>.<id>. What
// authorises a revocation is its organisation's signature, not the
// connection: an organisation whose only user of a sensor was lost
// revokes it through another of its identities.
func RevokeSubject(kind, id string) string {
	return "cof.ctl.revoke." + kind + "." + routing.EscapeToken(id)
}

// Revocation is an organisation's signed request to revoke a user of one
// of its accounts: every JWT of that user issued before At stops
// admitting it, and the server closes its connections.
type Revocation struct {
	Issuer  string    // the organisation's signing key that signed it
	Account string    // the account's public key
	User    string    // the user's public key
	At      time.Time // when it was signed
}

// SignRevocation signs the revocation of user of account with an
// organisation's signing key; user "*" (jwt.All) revokes every user of
// the account issued until then.
func SignRevocation(orgKey nkeys.KeyPair, account, user string) (string, error) {
	if !nkeys.IsValidPublicAccountKey(account) {
		return "", errors.New("accounts: revocation: not a public account key")
	}
	if user != jwt.All && !nkeys.IsValidPublicUserKey(user) {
		return "", errors.New("accounts: revocation: not a public user key, nor * (every user)")
	}
	gc := jwt.NewGenericClaims(user)
	gc.Data["type"] = revocationType
	gc.Data["account"] = account
	return gc.Encode(orgKey)
}

// ParseRevocation checks a revocation's signature and form. Whether its
// issuer may revoke users of its account is the caller's to check.
func ParseRevocation(token string) (Revocation, error) {
	gc, err := jwt.DecodeGeneric(token)
	if err != nil {
		return Revocation{}, fmt.Errorf("accounts: revocation: %w", err)
	}
	if t, _ := gc.Data["type"].(string); t != revocationType {
		return Revocation{}, errors.New("accounts: revocation: not a revocation")
	}
	acc, _ := gc.Data["account"].(string)
	r := Revocation{Issuer: gc.Issuer, Account: acc, User: gc.Subject, At: time.Unix(gc.IssuedAt, 0)}
	switch {
	case !nkeys.IsValidPublicAccountKey(r.Issuer):
		return Revocation{}, errors.New("accounts: revocation: not signed by an account signing key")
	case !nkeys.IsValidPublicAccountKey(r.Account):
		return Revocation{}, errors.New("accounts: revocation: no account")
	case r.User != jwt.All && !nkeys.IsValidPublicUserKey(r.User):
		return Revocation{}, errors.New("accounts: revocation: not a user's, nor * (every user)")
	}
	return r, nil
}

// RevocationsOf reads the revocations an account's JWT holds, keyed as in
// Revocations, if the operator op signed it: what the embedded server's
// resolver kept across a restart.
func RevocationsOf(token, op string) (name string, revoked map[string]int64, ok bool) {
	ac, err := jwt.DecodeAccountClaims(token)
	if err != nil || ac.Issuer != op {
		return "", nil, false
	}
	revoked = map[string]int64{}
	for user, at := range ac.Revocations {
		revoked[user] = at
	}
	return ac.Name, revoked, true
}

// MaxDateSkew is how far ahead of the exchange's clock a user's JWT may be
// dated: an issuing host's clock may run ahead. A revocation of every
// user reaches those dated up to that far ahead, and the embedded server
// cuts off users dated further ahead as they connect.
const MaxDateSkew = time.Minute

// Disabled renders the JWT of an account the registry no longer has: no
// imports, no connections, every user revoked (those dated up to
// MaxDateSkew ahead too), and the users of revoked, those revoked later
// than that, kept revoked. The resolver keeps the JWTs it was given
// (allow_delete is off), so a removed identity's account is replaced by
// this one rather than left as it was.
func (o *Operator) Disabled(pub, name string, revoked map[string]int64) (string, error) {
	ac := jwt.NewAccountClaims(pub)
	ac.Name = name
	ac.Limits.Conn, ac.Limits.LeafNodeConn = 0, 0
	all := time.Now().Add(MaxDateSkew).Unix()
	for user, at := range revoked {
		// The revocations of single users that outlast the one of all
		// (keys revoked for good) stay: should the identity come back,
		// a restart reads them back from this JWT.
		if user != jwt.All && at > all {
			ac.RevokeAt(user, time.Unix(at, 0))
		}
	}
	ac.RevokeAt(jwt.All, time.Unix(all, 0))
	return ac.Encode(o.kp)
}

// ResolverState is what a full account resolver's directory holds of an
// operator's accounts (ReadResolverDir).
type ResolverState struct {
	// Revoked is the revocations each account holds, by account name.
	Revoked Revocations
	// Live is the accounts of identities (neither the system's nor
	// EXCHANGE's) not disabled yet, public key to name.
	Live map[string]string
	// System says whether the operator's system account is there, as
	// in every directory its server keeps.
	System bool
	// Skipped names the files that are no account of the operator's (of
	// another operator, or not a JWT).
	Skipped []string
}

// ReadResolverDir reads a full account resolver's directory (one
// <public key>.jwt per account) for the operator op. A render of a later
// registry carries the revocations, and disables the live accounts it no
// longer has. A missing directory holds nothing.
func ReadResolverDir(dir, op string) (ResolverState, error) {
	st := ResolverState{Revoked: Revocations{}, Live: map[string]string{}}
	files, err := filepath.Glob(filepath.Join(dir, "*.jwt"))
	if err != nil {
		return st, err
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return st, fmt.Errorf("accounts: resolver directory: %w", err)
		}
		tok := strings.TrimSpace(string(b))
		name, r, ok := RevocationsOf(tok, op)
		if !ok {
			st.Skipped = append(st.Skipped, filepath.Base(f))
			continue
		}
		if len(r) > 0 {
			if st.Revoked[name] == nil {
				st.Revoked[name] = map[string]int64{}
			}
			maps.Copy(st.Revoked[name], r)
		}
		switch {
		case name == SystemAccount:
			st.System = true
		case name != ExchangeAccount && !IsDisabled(tok):
			st.Live[strings.TrimSuffix(filepath.Base(f), ".jwt")] = name
		}
	}
	return st, nil
}

// ClaimsAfter renders ids as Claims does, after the state of a full
// account resolver's directory dir (ReadResolverDir): the revocations its
// accounts hold are carried into the new JWTs, and the account of every
// identity it has that ids lack is rendered disabled. It returns the
// names of the accounts it disabled. What a NATS deployment of the
// exchange's own pushes after a registry change, so that a push neither
// undoes a revocation nor leaves a removed identity's users admitted.
func (o *Operator) ClaimsAfter(ids []Identity, opt ClaimsOptions, dir string) (*Claims, []string, error) {
	st, err := ReadResolverDir(dir, o.PublicKey())
	if err != nil {
		return nil, nil, err
	}
	if !st.System {
		return nil, nil, fmt.Errorf("accounts: %s holds no system account of this operator (%d files of another operator, or not JWTs): not this deployment's resolver directory", dir, len(st.Skipped))
	}
	revoked, live := st.Revoked, st.Live
	for name, r := range opt.Revoked {
		if revoked[name] == nil {
			revoked[name] = map[string]int64{}
		}
		maps.Copy(revoked[name], r)
	}
	opt.Revoked = revoked
	c, err := o.Claims(ids, opt)
	if err != nil {
		return nil, nil, err
	}
	disabled, err := o.DisableGone(c, live, revoked)
	if err != nil {
		return nil, nil, err
	}
	return c, disabled, nil
}

// DisableGone adds to c, disabled (Disabled, with what revoked holds for
// them), the accounts of live (public key to name) that c lacks: those of
// identities the registry no longer has. It returns their names.
func (o *Operator) DisableGone(c *Claims, live map[string]string, revoked Revocations) ([]string, error) {
	var disabled []string
	for _, pub := range slices.Sorted(maps.Keys(live)) {
		if _, ok := c.Accounts[pub]; ok {
			continue
		}
		name := live[pub]
		tok, err := o.Disabled(pub, name, revoked[name])
		if err != nil {
			return nil, err
		}
		c.Accounts[pub], c.Names[name+" (removed)"] = tok, pub
		disabled = append(disabled, name)
	}
	return disabled, nil
}

// IsDisabled reports whether an account's JWT is one Disabled made.
func IsDisabled(token string) bool {
	ac, err := jwt.DecodeAccountClaims(token)
	return err == nil && ac.Limits.Conn == 0 && len(ac.Imports) == 0
}
