package accounts

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nkeys"
)

// Operator mode renders the same model as ServerConfig (Plan: one account
// per identity, EXCHANGE exporting to each exactly its own services) as
// JWTs for the server's account resolver. What changes is who issues the
// users: an identity's account carries each of its organisation's signing
// keys as a scoped signer whose template is that identity's permissions.
// The server applies the template to every user such a key signs,
// whatever the user's JWT says (a scoped user with permissions of its own
// is refused), so an organisation mints and revokes users for its own
// sensors and peers and can grant them nothing more; it holds no key of
// another organisation's accounts, nor of EXCHANGE's.

// Revocations are the users revoked in operator mode, by account name,
// then user public key: the Unix time before which that user's JWTs no
// longer admit it.
type Revocations map[string]map[string]int64

// ClaimsOptions is what operator mode needs besides the registry.
type ClaimsOptions struct {
	// SigningKeys returns the signing keys of an organisation.
	SigningKeys func(org string) []string
	Revoked     Revocations
}

// Claims is a registry rendered for operator mode.
type Claims struct {
	Operator   string            // the operator's JWT
	System     string            // the system account's public key
	Exchange   string            // EXCHANGE's public key
	Accounts   map[string]string // account public key -> its JWT
	Names      map[string]string // account name -> public key
	Identities []Identity
}

// Claims renders ids (see Plan; in operator mode every identity, with an
// nkey or not) as the operator's and the accounts' JWTs.
func (o *Operator) Claims(ids []Identity, opt ClaimsOptions) (*Claims, error) {
	c := &Claims{Accounts: map[string]string{}, Names: map[string]string{}, Identities: ids}
	sys, exch := o.accountKey(SystemAccount), o.accountKey(ExchangeAccount)
	c.System, _ = sys.PublicKey()
	c.Exchange, _ = exch.PublicKey()

	oc := jwt.NewOperatorClaims(o.pub)
	oc.Name = "cofswitch"
	oc.SystemAccount = c.System
	var err error
	if c.Operator, err = oc.Encode(o.kp); err != nil {
		return nil, fmt.Errorf("accounts: operator JWT: %w", err)
	}
	sc := jwt.NewAccountClaims(c.System)
	sc.Name = SystemAccount
	if err := c.add(SystemAccount, sc, o.kp); err != nil {
		return nil, err
	}

	ec := jwt.NewAccountClaims(c.Exchange)
	ec.Name = ExchangeAccount
	ec.Limits.JetStreamLimits = jwt.JetStreamLimits{MemoryStorage: jwt.NoLimit, DiskStorage: jwt.NoLimit,
		Streams: jwt.NoLimit, Consumer: jwt.NoLimit, MaxAckPending: jwt.NoLimit}
	exported := map[string]bool{}
	for _, id := range ids {
		ac, exports, err := o.identityAccount(id, c.Exchange, opt)
		if err != nil {
			return nil, err
		}
		for _, e := range exports {
			if !exported[string(e.Subject)] {
				exported[string(e.Subject)] = true
				ec.Exports.Add(e)
			}
		}
		if err := c.add(id.Account, ac, o.kp); err != nil {
			return nil, err
		}
	}
	if err := c.add(ExchangeAccount, ec, o.kp); err != nil {
		return nil, err
	}
	return c, nil
}

// identityAccount renders the account of one identity, and the exports of
// EXCHANGE it imports.
func (o *Operator) identityAccount(id Identity, exchange string, opt ClaimsOptions) (*jwt.AccountClaims, []*jwt.Export, error) {
	exch := o.accountKey(ExchangeAccount)
	apub := o.AccountKey(id.Account)
	ac := jwt.NewAccountClaims(apub)
	ac.Name = id.Account
	// As accountLimits in the configuration of nkey mode.
	ac.Limits.Conn, ac.Limits.Subs, ac.Limits.LeafNodeConn = 16, 256, 1
	var exports []*jwt.Export
	for _, svc := range id.Services {
		e := &jwt.Export{Name: exportPattern(svc.remote), Subject: jwt.Subject(exportPattern(svc.remote)), Type: jwt.Service, TokenReq: true}
		if svc.stream {
			e.ResponseType = jwt.ResponseTypeStream
		}
		exports = append(exports, e)
		token, err := o.activation(exch, apub, svc)
		if err != nil {
			return nil, nil, fmt.Errorf("accounts: activation of %s for %s: %w", svc.remote, id.Account, err)
		}
		imp := &jwt.Import{Name: svc.local, Account: exchange, Subject: jwt.Subject(svc.remote), Type: jwt.Service, Token: token}
		if svc.local != svc.remote {
			imp.LocalSubject = jwt.RenamingSubject(svc.local)
		}
		ac.Imports.Add(imp)
	}
	perms := id.Permissions()
	for _, k := range opt.signingKeys(id.Organisation) {
		scope := jwt.NewUserScope()
		scope.Key, scope.Role = k, id.Kind+" "+id.ID
		scope.Description = "users of " + id.Kind + " " + id.ID + " issued by organisation " + id.Organisation
		scope.Template.Permissions = perms
		ac.SigningKeys.AddScopedSigner(scope)
	}
	for user, at := range opt.Revoked[id.Account] {
		ac.RevokeAt(user, time.Unix(at, 0))
	}
	return ac, exports, nil
}

// exportPatterns are the services EXCHANGE exports in operator mode, by
// the prefix of their subjects and the number of tokens that follow it:
// one export for all sensors or peers, each of which imports exactly its
// own subject with an activation token that names that subject alone
// (the server admits an import only within its token's subject). Per
// identity exports would make EXCHANGE's JWT grow with the registry, and
// the server checks an account's exports pairwise whenever it loads it:
// seconds for hundreds of sensors.
var exportPatterns = []struct {
	prefix string
	tokens int
	tail   string
}{
	{"cof.in.", 1, ""},
	{"cof.ctl.peer.", 1, ""},
	{"cof.ctl.revoke.", 2, ""},
	{"$JS.API.CONSUMER.MSG.NEXT.", 2, ""},
	{"$JS.API.CONSUMER.INFO.", 2, ""},
	{"$JS.API.CONSUMER.RESET.", 2, ""},
	{"$JS.API.STREAM.INFO.", 1, ""},
	{"$JS.API.DIRECT.GET.", 1, ""},
	{"$JS.ACK.", 2, ".>"},
}

// exportPattern is the export that covers a service's subject: its
// pattern, or the subject itself for one no pattern covers.
func exportPattern(remote string) string {
	for _, p := range exportPatterns {
		rest, ok := strings.CutPrefix(remote, p.prefix)
		if !ok {
			continue
		}
		rest, ok = strings.CutSuffix(rest, p.tail)
		if !ok || strings.Count(rest, ".") != p.tokens-1 || strings.ContainsAny(rest, "*>") {
			continue
		}
		return p.prefix + strings.TrimSuffix(strings.Repeat("*.", p.tokens), ".") + p.tail
	}
	return remote
}

// activation signs the token that lets the account apub import svc, or
// returns the one signed before: it never expires, and a reload of a
// thousand sensors would otherwise sign several thousand again.
func (o *Operator) activation(exch nkeys.KeyPair, apub string, svc service) (string, error) {
	key := apub + " " + svc.remote + " " + svc.local
	o.mu.Lock()
	defer o.mu.Unlock()
	if tok, ok := o.acts[key]; ok {
		return tok, nil
	}
	act := jwt.NewActivationClaims(apub)
	act.Name = svc.local
	act.ImportSubject, act.ImportType = jwt.Subject(svc.remote), jwt.Service
	tok, err := act.Encode(exch)
	if err != nil {
		return "", err
	}
	if o.acts == nil {
		o.acts = map[string]string{}
	}
	o.acts[key] = tok
	return tok, nil
}

// Account renders the JWT of one identity's account alone: what changes
// when its organisation revokes one of its users.
func (o *Operator) Account(id Identity, opt ClaimsOptions) (string, error) {
	ac, _, err := o.identityAccount(id, o.AccountKey(ExchangeAccount), opt)
	if err != nil {
		return "", err
	}
	c := &Claims{Accounts: map[string]string{}, Names: map[string]string{}}
	if err := c.add(id.Account, ac, o.kp); err != nil {
		return "", err
	}
	return c.Accounts[ac.Subject], nil
}

func (opt ClaimsOptions) signingKeys(org string) []string {
	if opt.SigningKeys == nil || org == "" {
		return nil
	}
	return opt.SigningKeys(org)
}

// add validates and signs an account's claims.
func (c *Claims) add(name string, ac *jwt.AccountClaims, op nkeys.KeyPair) error {
	// The library's validation is not run here: it checks EXCHANGE's
	// exports pairwise for overlaps (seconds for a thousand sensors;
	// they are distinct by construction, each naming its own sensor's or
	// peer's subject) and verifies again every activation just signed.
	// The server validates every account it is given, and refuses it
	// with the reason (see operatorMode.push).
	token, err := ac.Encode(op)
	if err != nil {
		return fmt.Errorf("accounts: account %s: %w", name, err)
	}
	c.Accounts[ac.Subject] = token
	c.Names[name] = ac.Subject
	return nil
}

// Permissions are what an identity's users may do: publish to its
// services, subscribe to its inbox prefix.
func (id Identity) Permissions() jwt.Permissions {
	var p jwt.Permissions
	p.Pub.Allow.Add(id.Publish()...)
	p.Sub.Allow.Add(id.Inbox + ".>")
	return p
}

// ResolverDir is where the embedded server of an exchange in operator
// mode keeps the accounts' JWTs, below its data directory.
const ResolverDir = "jwt"

// OperatorServerConfig renders a nats-server configuration in operator
// mode: the operator's JWT, the system account, a full account resolver
// (dir, where the server keeps the accounts' JWTs and which claim updates
// pushed to it change) preloaded with every account. A client naming an
// account the server does not know waits while the server asks its
// cluster for it: the resolver's timeout (2s) bounds that wait.
func OperatorServerConfig(c *Claims, o ServerOptions, resolverDir string) string {
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	writeHead(&b, o)
	w("operator: %s\n", q(c.Operator))
	w("system_account: %s\n", q(c.System))
	w("resolver: {\n  type: full\n  dir: %s\n  allow_delete: false\n  interval: \"2m\"\n  timeout: \"2s\"\n}\n", q(resolverDir))
	w("# The accounts: %s, %s, and one per sensor and peer.\n", SystemAccount, ExchangeAccount)
	w("resolver_preload: {\n")
	byKey := map[string]string{}
	for name, pub := range c.Names {
		byKey[pub] = name
	}
	for _, pub := range slices.Sorted(maps.Keys(c.Accounts)) {
		w("  # %s\n  %s: %s\n", byKey[pub], pub, q(c.Accounts[pub]))
	}
	w("}\n")
	return b.String()
}

// IssueUser signs the JWT of the user whose public key is user, of the
// account whose public key is account, by issuer: the account's own key,
// or one of its signing keys. perms nil puts no permissions in the JWT,
// which is what a scoped signing key requires (its template applies);
// expires zero never expires.
func IssueUser(issuer nkeys.KeyPair, account, user, name string, perms *jwt.Permissions, expires time.Time) (string, error) {
	if !nkeys.IsValidPublicUserKey(user) {
		return "", errors.New("accounts: not a public user nkey")
	}
	ipub, err := issuer.PublicKey()
	if err != nil {
		return "", err
	}
	uc := jwt.NewUserClaims(user)
	uc.Name = name
	if ipub != account {
		uc.IssuerAccount = account
	}
	if perms != nil {
		uc.Permissions = *perms
	} else if ipub != account {
		// A scoped signer's user must carry no permissions and no limits
		// (not even "unlimited"): its template is what applies.
		uc.UserPermissionLimits = jwt.UserPermissionLimits{}
	}
	if !expires.IsZero() {
		uc.Expires = expires.Unix()
	}
	return uc.Encode(issuer)
}

// ExchangeUser signs the JWT of a user of EXCHANGE (the switch, the
// exchange's tools), unrestricted within it.
func (o *Operator) ExchangeUser(user, name string) (string, error) {
	return IssueUser(o.accountKey(ExchangeAccount), o.AccountKey(ExchangeAccount), user, name, nil, time.Time{})
}

// SystemUser signs the JWT of a user of the system account, which pushes
// claim updates to the account resolver.
func (o *Operator) SystemUser(user, name string) (string, error) {
	return IssueUser(o.accountKey(SystemAccount), o.AccountKey(SystemAccount), user, name, nil, time.Time{})
}

// IdentityUser signs, with the account's own key, the JWT of a user of an
// identity, with that identity's permissions: the exchange issuing a user
// for an organisation that does not issue its own.
func (o *Operator) IdentityUser(id Identity, user string, expires time.Time) (string, error) {
	perms := id.Permissions()
	return IssueUser(o.accountKey(id.Account), o.AccountKey(id.Account), user, id.Kind+" "+id.ID, &perms, expires)
}

// Digest identifies what a JWT says, its issue time and id aside: two
// renderings of an unchanged account have the same digest, so a reload
// pushes only the accounts that changed. It returns the JWT's subject
// too; an unreadable JWT has an empty digest, which matches none.
func Digest(token string) (subject, digest string) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return "", ""
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return "", ""
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		return "", ""
	}
	subject, _ = claims["sub"].(string)
	delete(claims, "iat")
	delete(claims, "jti")
	canon, err := json.Marshal(claims) // map keys sorted
	if err != nil {
		return "", ""
	}
	sum := sha256.Sum256(canon)
	return subject, hex.EncodeToString(sum[:])
}
