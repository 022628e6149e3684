package exchange

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
	"golang.org/x/time/rate"

	"github.com/cofswitch/cofswitch/accounts"
	"github.com/cofswitch/cofswitch/config"
)

// OperatorSeedFile, in the data directory, holds the operator's seed of
// an embedded server in operator mode when nats.operator names none.
const OperatorSeedFile = "operator.nk"

// SwitchCredsFile, in the data directory, is the switch's user in
// operator mode (its JWT and seed, mode 0600), for the exchange-wide
// tools: 'cofswitch tail --creds cofswitch-data/switch.creds'.
const SwitchCredsFile = "switch.creds"

// claimsTimeout bounds one claim update pushed to the account resolver.
const claimsTimeout = 10 * time.Second

// operatorMode is the embedded server's accounts in operator mode: it
// renders them from the registry, keeps the revocations the
// organisations sent, pushes every change to the server's account
// resolver (which closes the connections of revoked users), and answers
// the organisations' revocations.
type operatorMode struct {
	op      *accounts.Operator
	dir     string // the resolver's directory
	log     *slog.Logger
	switchK nkeys.KeyPair

	mu      sync.Mutex
	cfg     *config.Config
	claims  *accounts.Claims
	revoked accounts.Revocations
	// live is every account that may be enabled, name to public key:
	// those of the claims in force, and those a reload that failed
	// half-way pushed (or disabled) before failing.
	live map[string]string
	// leaving is the accounts a reload that failed half-way has disabled
	// (by public key) while the claims in force still have them: no
	// revocation may push them enabled again.
	leaving map[string]bool
	// preload is what the server was started with, account public key to
	// JWT, until started has checked that the resolver holds it.
	preload map[string]string
	// pushed is what the server holds of each account, public key to
	// accounts.Digest: a reload pushes only what differs.
	pushed map[string]string
	// limits pace each organisation's revocations (under mu).
	limits  map[string]*rate.Limiter
	revPace *pace // nil: revocationEvery and revocationBurst
	// skew is how far ahead of the exchange's clock a JWT may be dated
	// (revocationSkew; the tests shorten it).
	skew time.Duration
	// lastAll is, by account name, the signing time of the last
	// revocation of every user applied: one no newer is a replay.
	lastAll map[string]time.Time

	refusalMu sync.Mutex
	refusals  map[string]refusalLog // by revocation subject
	srv       *server.Server
	sys       *nats.Conn // the system account's user, pushing claims
	// dropped says connect events were lost; stopWatch ends the sweeps
	// (connwatch.go).
	dropped   chan struct{}
	stopWatch chan struct{}
	ctl       *nats.Conn // the responder's connection, in EXCHANGE
}

// newOperatorMode loads the operator and the revocations the resolver
// kept, and renders the registry. It returns the server configuration.
func newOperatorMode(cfg *config.Config, dataDir string, switchKey nkeys.KeyPair, head accounts.ServerOptions, log *slog.Logger) (*operatorMode, string, error) {
	path := cfg.NATS.Operator
	var op *accounts.Operator
	var err error
	if path == "" {
		op, err = accounts.LoadOrCreateOperator(filepath.Join(dataDir, OperatorSeedFile))
	} else {
		op, err = accounts.LoadOperator(path)
	}
	if err != nil {
		return nil, "", fmt.Errorf("exchange: %w", err)
	}
	m := &operatorMode{op: op, dir: filepath.Join(dataDir, accounts.ResolverDir), log: log, switchK: switchKey, revoked: accounts.Revocations{}, skew: revocationSkew}
	stale := m.loadResolverDir()
	if err := m.render(cfg); err != nil {
		return nil, "", err
	}
	preload := &accounts.Claims{Operator: m.claims.Operator, System: m.claims.System, Accounts: maps.Clone(m.claims.Accounts), Names: maps.Clone(m.claims.Names)}
	gone, err := op.DisableGone(preload, stale, m.revoked)
	if err != nil {
		return nil, "", err
	}
	for _, name := range gone {
		m.revokeAll(name)
	}
	m.preload = preload.Accounts
	if err := m.writeSwitchCreds(dataDir); err != nil {
		return nil, "", err
	}
	return m, accounts.OperatorServerConfig(preload, head, m.dir), nil
}

// loadResolverDir reads the revocations of the accounts the resolver kept
// from an earlier run, and returns those accounts (public key to name)
// that are not yet disabled.
func (m *operatorMode) loadResolverDir() map[string]string {
	st, err := accounts.ReadResolverDir(m.dir, m.op.PublicKey())
	if err != nil {
		m.log.Warn("the account resolver's directory is unreadable: its revocations are not kept", "dir", m.dir, "err", err)
		return map[string]string{}
	}
	if len(st.Skipped) > 0 {
		m.log.Warn("the account resolver's directory holds files that are no account of this operator: ignored", "dir", m.dir, "files", len(st.Skipped))
	}
	for name, r := range st.Revoked {
		if m.revoked[name] == nil {
			m.revoked[name] = map[string]int64{}
		}
		maps.Copy(m.revoked[name], r)
	}
	return st.Live
}

// render makes the claims of cfg with the revocations kept, and makes
// them the ones in force. Called before the server runs.
func (m *operatorMode) render(cfg *config.Config) error {
	c, err := m.claimsOf(cfg)
	if err != nil {
		return err
	}
	m.cfg, m.claims, m.live = cfg, c, maps.Clone(c.Names)
	return nil
}

func (m *operatorMode) claimsOf(cfg *config.Config) (*accounts.Claims, error) {
	opt := accounts.ClaimsOptions{SigningKeys: cfg.SigningKeysOf, Revoked: m.revoked}
	return m.op.Claims(accounts.Plan(cfg.Sensors, cfg.Peers, true), opt)
}

// claimsOptions are the options of the registry in force.
func (m *operatorMode) claimsOptions() accounts.ClaimsOptions {
	return accounts.ClaimsOptions{SigningKeys: m.cfg.SigningKeysOf, Revoked: m.revoked}
}

// writeSwitchCreds writes the switch's user for the exchange-wide tools.
func (m *operatorMode) writeSwitchCreds(dataDir string) error {
	tok, err := m.switchJWT()
	if err != nil {
		return err
	}
	seed, _ := m.switchK.Seed()
	creds, err := jwt.FormatUserConfig(tok, seed)
	if err != nil {
		return err
	}
	path := filepath.Join(dataDir, SwitchCredsFile)
	_ = os.Remove(path)
	if err := os.WriteFile(path, creds, 0o600); err != nil {
		return fmt.Errorf("exchange: writing the switch's credentials: %w", err)
	}
	return nil
}

func (m *operatorMode) switchJWT() (string, error) {
	pub, _ := m.switchK.PublicKey()
	return m.op.ExchangeUser(pub, "cofswitch")
}

// connectOption admits the switch as its user of EXCHANGE.
func (m *operatorMode) connectOption() nats.Option {
	return nats.UserJWT(m.switchJWT, m.switchK.Sign)
}

// started connects the system account's user and the responder in
// process, once the server runs.
func (m *operatorMode) started(srv *server.Server) error {
	m.srv = srv
	sysUser, err := nkeys.CreateUser()
	if err != nil {
		return err
	}
	pub, _ := sysUser.PublicKey()
	sysJWT, err := m.op.SystemUser(pub, "cofswitch-accounts")
	if err != nil {
		return err
	}
	m.dropped = make(chan struct{}, 1)
	if m.sys, err = nats.Connect("", nats.InProcessServer(srv), nats.Name("cofswitch-accounts"), nats.MaxReconnects(-1),
		nats.UserJWT(func() (string, error) { return sysJWT, nil }, sysUser.Sign),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			if errors.Is(err, nats.ErrSlowConsumer) {
				select { // connect events were dropped: check every connection
				case m.dropped <- struct{}{}:
				default:
				}
			}
		})); err != nil {
		return fmt.Errorf("exchange: the system account's connection: %w", err)
	}
	if err := m.enforcePreload(); err != nil {
		return err
	}
	if m.ctl, err = nats.Connect("", nats.InProcessServer(srv), nats.Name("cofswitch-revocations"), nats.MaxReconnects(-1), m.connectOption()); err != nil {
		return fmt.Errorf("exchange: the revocations' connection: %w", err)
	}
	if _, err := m.ctl.QueueSubscribe("cof.ctl.revoke.>", "cofswitch", m.onRevoke); err != nil {
		return fmt.Errorf("exchange: answering revocations: %w", err)
	}
	m.stopWatch = make(chan struct{})
	if err := m.watchConnects(m.stopWatch); err != nil {
		return fmt.Errorf("exchange: watching connections: %w", err)
	}
	return nil
}

// enforcePreload pushes each account whose JWT the resolver kept instead
// of the one preloaded: the preload keeps whichever JWT was issued later,
// so after the clock stepped back between two runs it would leave the
// accounts of the earlier run (identities since removed, signing keys
// since rolled over) in force. A push replaces the JWT whatever its date.
func (m *operatorMode) enforcePreload() error {
	for _, pub := range slices.Sorted(maps.Keys(m.preload)) {
		tok := m.preload[pub]
		b, err := os.ReadFile(filepath.Join(m.dir, pub+".jwt"))
		if err == nil && strings.TrimSpace(string(b)) == tok {
			continue
		}
		if err := m.push(tok); err != nil {
			return fmt.Errorf("exchange: account %s: the resolver kept another JWT than the one it was started with, and pushing it failed: %w", pub, err)
		}
		m.log.Warn("the resolver held another JWT of an account than the one it was started with (did the clock step back?): pushed", "account", pub)
	}
	for _, tok := range m.preload {
		m.notePushed(tok)
	}
	m.preload = nil
	return nil
}

// notePushed records what the server holds of an account.
func (m *operatorMode) notePushed(tok string) {
	if sub, d := accounts.Digest(tok); sub != "" {
		if m.pushed == nil {
			m.pushed = map[string]string{}
		}
		m.pushed[sub] = d
	}
}

// unchanged reports whether the server holds tok's account as tok says.
func (m *operatorMode) unchanged(tok string) bool {
	sub, d := accounts.Digest(tok)
	return sub != "" && d != "" && m.pushed[sub] == d
}

func (m *operatorMode) close() {
	if m.stopWatch != nil {
		close(m.stopWatch)
		m.stopWatch = nil
	}
	if m.ctl != nil {
		m.ctl.Close()
	}
	if m.sys != nil {
		m.sys.Close()
	}
}

// apply renders a new registry and pushes every account, and disables
// the accounts of identities it no longer has.
func (m *operatorMode) apply(cfg *config.Config) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	// The new claims are in force only once all are pushed: a reload that
	// fails half-way is tried again against the old ones, so that an
	// account it failed to disable is disabled then.
	next, err := m.claimsOf(cfg)
	if err != nil {
		return err
	}
	for _, name := range slices.Sorted(maps.Keys(m.live)) {
		pub := m.live[name]
		if _, ok := next.Accounts[pub]; ok {
			continue
		}
		tok, err := m.op.Disabled(pub, name, m.revoked[name])
		if err == nil {
			err = m.push(tok)
		}
		if err != nil {
			return fmt.Errorf("exchange: disabling the account of %s: %w", name, err)
		}
		if m.leaving == nil {
			m.leaving = map[string]bool{}
		}
		m.leaving[pub] = true
		m.revokeAll(name)
		m.log.Info("account disabled: its identity left the registry", "account", name)
	}
	// A push that fails may still have reached the server: whatever is
	// pushed from here on is disabled by a later reload that lacks it
	// (live keeps every account until a reload succeeds).
	maps.Copy(m.live, next.Names)
	for _, pub := range slices.Sorted(maps.Keys(next.Accounts)) {
		if m.unchanged(next.Accounts[pub]) {
			// Each push makes the server process the account again, and
			// one of EXCHANGE every importer: seconds for hundreds of
			// sensors. Only what changed is pushed.
			continue
		}
		if err := m.push(next.Accounts[pub]); err != nil {
			return fmt.Errorf("exchange: updating account %s: %w", pub, err)
		}
	}
	m.cfg, m.claims, m.live, m.leaving = cfg, next, maps.Clone(next.Names), nil
	return nil
}

// revokeAll keeps the revocation of every user of an account that was
// just disabled, as a restart reads it back from the disabled account's
// JWT: should the identity come back to the registry, the users issued
// before it left stay out.
func (m *operatorMode) revokeAll(name string) {
	if m.revoked[name] == nil {
		m.revoked[name] = map[string]int64{}
	}
	m.revoked[name][jwt.All] = time.Now().Add(m.skew).Unix()
}

// push sends one account's JWT to the resolver.
func (m *operatorMode) push(tok string) error {
	msg, err := m.sys.Request("$SYS.REQ.CLAIMS.UPDATE", []byte(tok), claimsTimeout)
	if err != nil {
		return err
	}
	var reply struct {
		Error *struct {
			Description string `json:"description"`
		} `json:"error"`
	}
	if err := json.Unmarshal(msg.Data, &reply); err != nil {
		return fmt.Errorf("the resolver's reply: %w", err)
	}
	if reply.Error != nil {
		return errors.New(reply.Error.Description)
	}
	m.notePushed(tok)
	return nil
}
