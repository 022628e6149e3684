package exchange

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

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

// revocationSkew is how far in the future a revocation's time may be:
// clocks differ, but a revocation dated ahead would also revoke the JWTs
// an organisation issues to the same key afterwards.
const revocationSkew = time.Minute

// onRevoke answers a revocation sent on cof.ctl.revoke.<kind>.<id>: the
// organisation of that identity may revoke users of any of its accounts,
// with a signature of one of its signing keys.
func (m *operatorMode) onRevoke(msg *nats.Msg) {
	reply := RevokeReply{}
	name, user, err := m.revoke(msg.Subject, msg.Data)
	if err != nil {
		reply.Error = err.Error()
		m.log.Warn("revocation refused", "subject", msg.Subject, "err", err)
	} else {
		reply = RevokeReply{OK: true, Account: name, User: user}
		m.log.Info("user revoked by its organisation", "account", name, "user", user, "via", msg.Subject)
	}
	b, _ := json.Marshal(reply)
	_ = msg.Respond(b)
}

func (m *operatorMode) revoke(subject string, data []byte) (name, user string, err error) {
	if len(data) > maxRevocationBytes {
		return "", "", fmt.Errorf("a revocation of %d bytes: at most %d", len(data), maxRevocationBytes)
	}
	kind, id, err := parseRevokeSubject(subject)
	if err != nil {
		return "", "", err
	}
	r, err := accounts.ParseRevocation(strings.TrimSpace(string(data)))
	if err != nil {
		return "", "", err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var via, target *accounts.Identity
	for i := range m.claims.Identities {
		idn := &m.claims.Identities[i]
		if idn.Kind == kind && idn.ID == id {
			via = idn
		}
		if m.claims.Names[idn.Account] == r.Account {
			target = idn
		}
	}
	switch {
	case via == nil:
		return "", "", fmt.Errorf("%s %q is not registered", kind, id)
	case target == nil:
		return "", "", fmt.Errorf("account %s is no sensor's or peer's", r.Account)
	case target.Organisation == "" || target.Organisation != via.Organisation:
		return "", "", fmt.Errorf("account %s is not of organisation %q", r.Account, via.Organisation)
	case !slices.Contains(m.cfg.SigningKeysOf(target.Organisation), r.Issuer):
		return "", "", fmt.Errorf("not signed by a signing key of organisation %q", target.Organisation)
	case m.leaving[r.Account]:
		return "", "", fmt.Errorf("account %s is leaving the registry", r.Account)
	}
	at := r.At
	if now := time.Now(); at.After(now.Add(revocationSkew)) {
		return "", "", fmt.Errorf("signed at %s, in the future", at.UTC().Format(time.RFC3339))
	} else if at.After(now) {
		at = now
	}
	revoked := m.revoked[target.Account]
	if prev, ok := revoked[r.User]; ok && prev >= at.Unix() {
		// Already in force (a replay, or no newer than what the account
		// holds): nothing to re-sign or push.
		return target.Account, r.User, nil
	}
	if _, ok := revoked[r.User]; !ok && len(revoked) >= maxRevocations {
		return "", "", fmt.Errorf("account %s already holds %d revocations: roll the organisation's signing key over instead", r.Account, maxRevocations)
	}
	next := maps.Clone(revoked)
	if next == nil {
		next = map[string]int64{}
	}
	next[r.User] = at.Unix()
	opt := m.claimsOptions()
	opt.Revoked = maps.Clone(m.revoked)
	opt.Revoked[target.Account] = next
	tok, err := m.op.Account(*target, opt)
	if err != nil {
		return "", "", err
	}
	if err := m.push(tok); err != nil {
		return "", "", fmt.Errorf("updating the account: %w", err)
	}
	// Only once the server has it: a revocation it refused is not kept.
	m.revoked[target.Account] = next
	m.claims.Accounts[r.Account] = tok
	return target.Account, r.User, nil
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
