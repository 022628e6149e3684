package exchange

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats.go"
	"golang.org/x/time/rate"

	"github.com/cofswitch/cofswitch/accounts"
	"github.com/cofswitch/cofswitch/routing"
)

// RevokeReply is the exchange's answer to a revocation.
type RevokeReply struct {
	OK      bool   `json:"ok"`
	Account string `json:"account,omitempty"` // the account's name
	User    string `json:"user,omitempty"`
	Error   string `json:"error,omitempty"`
}

// maxRevocationBytes bounds a revocation request: a JWT of a few hundred
// bytes.
const maxRevocationBytes = 4096

// maxRevocations bounds the revocations one account keeps, and so the
// size of its JWT (about 60 bytes each). An organisation that needs more
// rolls its signing key over, which invalidates every user it signed.
const maxRevocations = 1000

// revocationSkew is how far ahead of the exchange's clock a user's JWT or
// a revocation may be dated: clocks differ. A user dated further ahead is
// cut off as it connects (connwatch.go); 'revoke --all' reaches the users
// dated up to that far ahead, so that an issuing host whose clock runs
// ahead cannot keep a user out of its reach.
const revocationSkew = accounts.MaxDateSkew

// maxRevocationAge is how long after its signing a revocation of every
// user is accepted: a replay later is refused (a replay sooner, of one
// already applied, is a no-op).
const maxRevocationAge = 5 * time.Minute

// Each organisation may have revocationBurst revocations answered at
// once, then one every revocationEvery: each that changes an account
// re-signs and pushes it, under the lock every other organisation's
// revocation and every reload wait for.
const (
	revocationBurst = 20
	revocationEvery = 500 * time.Millisecond
)

// pace is a rate of revocations other than the default, for the tests.
type pace struct {
	every time.Duration
	burst int
}

// refusalLogEvery is how often the refused revocations of one identity
// are logged: the first in full, the others counted in the next line.
const refusalLogEvery = 10 * time.Second

// maxRefusalLogs bounds the identities whose refusals are tracked.
const maxRefusalLogs = 1000

// refusalLog is when an identity's refused revocations were last logged
// and how many were not since.
type refusalLog struct {
	at         time.Time
	suppressed int
}

// onRevoke answers a revocation sent on cof.ctl.revoke.<kind>.<id>: the
// organisation of that identity may revoke users of any of its accounts,
// with a signature of one of its signing keys.
func (m *operatorMode) onRevoke(msg *nats.Msg) {
	reply := RevokeReply{}
	name, user, err := m.revoke(msg.Subject, msg.Data)
	if err != nil {
		reply.Error = err.Error()
		m.logRefusal("revocation refused", msg.Subject, err)
	} else {
		reply = RevokeReply{OK: true, Account: name, User: user}
		m.log.Info("user revoked by its organisation", "account", name, "user", user, "via", msg.Subject)
	}
	b, _ := json.Marshal(reply)
	_ = msg.Respond(b)
}

// logRefusal logs a refused revocation (or a user cut off as it
// connected), at most once every refusalLogEvery for each subject: any
// identity may send garbage on its revocation subject, or reconnect, as
// fast as it can.
func (m *operatorMode) logRefusal(what, subject string, err error) {
	m.refusalMu.Lock()
	now := time.Now()
	l, ok := m.refusals[subject]
	if ok && now.Sub(l.at) < refusalLogEvery {
		l.suppressed++
		m.refusals[subject] = l
		m.refusalMu.Unlock()
		return
	}
	if m.refusals == nil || len(m.refusals) >= maxRefusalLogs {
		m.refusals = map[string]refusalLog{}
	}
	m.refusals[subject] = refusalLog{at: now}
	m.refusalMu.Unlock()
	m.log.Warn(what, "subject", subject, "err", err, "refused_since_last_logged", l.suppressed)
}

// allow reports whether an organisation may have one more revocation
// answered now.
func (m *operatorMode) allow(org string) bool {
	l := m.limits[org]
	if l == nil {
		if m.limits == nil {
			m.limits = map[string]*rate.Limiter{}
		}
		every, burst := revocationEvery, revocationBurst
		if m.revPace != nil {
			every, burst = m.revPace.every, m.revPace.burst
		}
		l = rate.NewLimiter(rate.Every(every), burst)
		m.limits[org] = l
	}
	return l.Allow()
}

// revoke applies one revocation sent on subject by a registered
// identity: it returns the account and the user (or jwt.All) revoked.
func (m *operatorMode) revoke(subject string, data []byte) (name, user string, err error) {
	if len(data) > maxRevocationBytes {
		return "", "", fmt.Errorf("a revocation of %d bytes: at most %d", len(data), maxRevocationBytes)
	}
	kind, id, err := parseRevokeSubject(subject)
	if err != nil {
		return "", "", err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	target, r, err := m.revocationTarget(kind, id, data)
	if err != nil {
		return "", "", err
	}
	at, inForce, err := m.revocationDate(target, r, time.Now())
	switch {
	case err != nil:
		return "", "", err
	case inForce:
		return target.Account, r.User, nil
	}
	if err := m.applyRevocation(target, r, at); err != nil {
		return "", "", err
	}
	return target.Account, r.User, nil
}

// revocationTarget checks a revocation sent through identity kind/id:
// the identity is registered and within its organisation's pace, the
// revocation parses, and it names an account of that organisation,
// signed by one of its signing keys. It returns the account's identity.
func (m *operatorMode) revocationTarget(kind, id string, data []byte) (*accounts.Identity, accounts.Revocation, error) {
	var via *accounts.Identity
	for i := range m.claims.Identities {
		if idn := &m.claims.Identities[i]; idn.Kind == kind && idn.ID == id {
			via = idn
		}
	}
	if via == nil {
		return nil, accounts.Revocation{}, fmt.Errorf("%s %q is not registered", kind, id)
	}
	if !m.allow(via.Organisation) {
		return nil, accounts.Revocation{}, fmt.Errorf("organisation %q sends revocations too fast: at most %d at once, then one every %v; try again later", via.Organisation, revocationBurst, revocationEvery)
	}
	r, err := accounts.ParseRevocation(strings.TrimSpace(string(data)))
	if err != nil {
		return nil, r, err
	}
	var target *accounts.Identity
	for i := range m.claims.Identities {
		if idn := &m.claims.Identities[i]; m.claims.Names[idn.Account] == r.Account {
			target = idn
		}
	}
	switch {
	case target == nil:
		return nil, r, fmt.Errorf("account %s is no sensor's or peer's", r.Account)
	case target.Organisation == "" || target.Organisation != via.Organisation:
		return nil, r, fmt.Errorf("account %s is not of organisation %q", r.Account, via.Organisation)
	case !slices.Contains(m.cfg.SigningKeysOf(target.Organisation), r.Issuer):
		return nil, r, fmt.Errorf("not signed by a signing key of organisation %q", target.Organisation)
	case m.leaving[r.Account]:
		return nil, r, fmt.Errorf("account %s is leaving the registry", r.Account)
	}
	return target, r, nil
}

// revocationDate is the date a revocation takes effect from, in the
// account's revocations, or inForce when the account already holds it.
func (m *operatorMode) revocationDate(target *accounts.Identity, r accounts.Revocation, now time.Time) (at int64, inForce bool, err error) {
	if r.At.After(now.Add(m.skew)) {
		return 0, false, fmt.Errorf("signed at %s, in the future", r.At.UTC().Format(time.RFC3339))
	}
	// One user's key is out for good, whatever date its JWTs claim; all
	// users, up to a minute ahead of now (the skew a JWT's date may have:
	// the exchange refuses users dated further ahead as they connect,
	// connwatch.go).
	at = revokedForGood
	if r.User == jwt.All {
		// Dated by its arrival, whatever the signing host's clock says,
		// so that it reaches every user issued until now. A replay must
		// not cut the users issued since: one signed too long ago is
		// refused, one no newer than the last applied is already in
		// force.
		if r.At.Before(now.Add(-maxRevocationAge)) {
			return 0, false, fmt.Errorf("signed at %s, more than %v ago: sign it again (is the signing host's clock right?)", r.At.UTC().Format(time.RFC3339), maxRevocationAge)
		}
		if last, ok := m.lastAll[target.Account]; ok && !r.At.After(last) {
			return 0, true, nil
		}
		at = now.Add(m.skew).Unix()
	}
	revoked := m.revoked[target.Account]
	if prev, ok := revoked[r.User]; ok && prev >= at {
		// Already in force (a replay, or no newer than what the account
		// holds): nothing to re-sign or push.
		return 0, true, nil
	}
	if _, ok := revoked[r.User]; !ok && r.User != jwt.All && len(revoked) >= maxRevocations {
		return 0, false, fmt.Errorf("account %s already holds %d revocations of single users: revoke all its users at once ('cofswitch revoke --all'), then issue new ones with new keys", r.Account, maxRevocations)
	}
	return at, false, nil
}

// applyRevocation re-signs the target's account with r in force from at
// and pushes it to the server; only then is it kept.
func (m *operatorMode) applyRevocation(target *accounts.Identity, r accounts.Revocation, at int64) error {
	next := maps.Clone(m.revoked[target.Account])
	if next == nil {
		next = map[string]int64{}
	}
	next[r.User] = at
	if r.User == jwt.All {
		// Every user issued before at is out: the revocations of single
		// users up to then say nothing more. A key revoked for good
		// stays so: a JWT of it dated beyond at would come back.
		for u, t := range next {
			if u != jwt.All && t <= at {
				delete(next, u)
			}
		}
	}
	opt := m.claimsOptions()
	opt.Revoked = maps.Clone(m.revoked)
	opt.Revoked[target.Account] = next
	tok, err := m.op.Account(*target, opt)
	if err != nil {
		return err
	}
	if err := m.push(tok); err != nil {
		return fmt.Errorf("updating the account: %w", err)
	}
	// Only once the server has it: a revocation it refused is not kept.
	m.revoked[target.Account] = next
	if r.User == jwt.All {
		if m.lastAll == nil {
			m.lastAll = map[string]time.Time{}
		}
		m.lastAll[target.Account] = r.At
	}
	m.claims.Accounts[r.Account] = tok
	return nil
}

// parseRevokeSubject reads the identity a revocation came through.
func parseRevokeSubject(subject string) (kind, id string, err error) {
	parts := strings.Split(subject, ".")
	if len(parts) != 5 || (parts[3] != "sensor" && parts[3] != "peer") {
		return "", "", errors.New("not a revocation subject")
	}
	if id, err = routing.UnescapeToken(parts[4]); err != nil {
		return "", "", err
	}
	return parts[3], id, nil
}
