package exchange

import (
	"encoding/json"
	"slices"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/cofswitch/cofswitch/accounts"
)

// The server checks a user against its account's revocations and signing
// keys when it authenticates, and sweeps the connected users once when an
// account changes. A user that authenticated under the account's old
// claims and registers after that sweep stays connected (a host with a
// stolen credential reconnecting in a loop wins that race about once in
// ten revocations). So every connection to an organisation's account is
// checked again as it registers, against the claims in force, from the
// server's connect event; and a user whose JWT says it was issued in the
// future is refused, since a revocation reaches only the JWTs issued
// before it.

// revokedForGood dates the revocation of one user: its key is out for
// good, whatever date its JWTs claim (an issuing host whose clock runs
// ahead, or a JWT dated ahead on purpose, would outlive a revocation
// dated now). Users are issued to new keys afterwards.
var revokedForGood = time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC).Unix()

// connectEvent is what the server says of a connection that registered.
type connectEvent struct {
	Client struct {
		ID        uint64 `json:"id"`
		Account   string `json:"acc"`
		JWT       string `json:"jwt"`
		IssuerKey string `json:"issuer_key"`
		Kind      string `json:"kind"`
	} `json:"client"`
}

// sweepEvery is how often every connection is checked again as well: a
// connect event can be lost (a slow consumer), and the check must not
// rest on it alone.
const sweepEvery = 30 * time.Second

// watchConnects checks each connection to an identity's account as it
// registers, and all of them every sweepEvery and whenever events were
// dropped, until stop is closed.
func (m *operatorMode) watchConnects(stop <-chan struct{}) error {
	sub, err := m.sys.Subscribe("$SYS.ACCOUNT.*.CONNECT", m.onConnect)
	if err != nil {
		return err
	}
	// A connect storm while a reload holds the lock queues events: room
	// for them, and a sweep when even that was not enough.
	if err := sub.SetPendingLimits(1<<20, 256<<20); err != nil {
		return err
	}
	go func() {
		t := time.NewTicker(sweepEvery)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
			case <-m.dropped:
			}
			m.sweep()
		}
	}()
	return nil
}

// sweep checks every connection to the server against the claims in
// force, as onConnect does one.
func (m *operatorMode) sweep() {
	const page = 1024
	for offset := 0; ; offset += page {
		cz, err := m.srv.Connz(&server.ConnzOptions{Username: true, Offset: offset, Limit: page})
		if err != nil {
			return
		}
		for _, ci := range cz.Conns {
			m.check(ci.Cid, ci.Account, ci.JWT)
		}
		if len(cz.Conns) < page {
			return
		}
	}
}

func (m *operatorMode) onConnect(msg *nats.Msg) {
	var ev connectEvent
	if json.Unmarshal(msg.Data, &ev) != nil {
		return
	}
	m.check(ev.Client.ID, ev.Client.Account, ev.Client.JWT)
}

// check cuts off connection cid, of the account with public key acc,
// whose user's JWT is tok, if the claims in force refuse it.
func (m *operatorMode) check(cid uint64, acc, tok string) {
	if tok == "" || cid == 0 {
		return
	}
	uc, err := jwt.DecodeUserClaims(tok)
	if err != nil {
		return
	}
	name, why := m.refusal(acc, uc, time.Now())
	if why == "" {
		return
	}
	if err := m.srv.DisconnectClientByID(cid); err != nil {
		return // gone already
	}
	m.logRefusal("user cut off", "account "+name, &refusedUser{user: uc.Subject, why: why})
}

// refusedUser is a connection cut as it registered.
type refusedUser struct{ user, why string }

func (e *refusedUser) Error() string { return "user " + e.user + " cut off: " + e.why }

// refusal says why a user of the account with public key acc may not be
// connected under the claims in force ("" when it may), and the
// account's name.
func (m *operatorMode) refusal(acc string, uc *jwt.UserClaims, now time.Time) (name, why string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var id *accounts.Identity
	for i := range m.claims.Identities {
		if idn := &m.claims.Identities[i]; m.claims.Names[idn.Account] == acc {
			id = idn
			break
		}
	}
	if id == nil {
		return "", "" // EXCHANGE's, the system's: not the organisations'
	}
	switch {
	case uc.IssuedAt > now.Add(m.skew).Unix():
		return id.Account, "its JWT says it was issued at " + time.Unix(uc.IssuedAt, 0).UTC().Format(time.RFC3339) + ", in the future (is the issuing host's clock ahead?)"
	case revokedAt(m.revoked[id.Account], uc.Subject, uc.IssuedAt):
		return id.Account, "revoked"
	case uc.IssuerAccount != "" && !slices.Contains(m.cfg.SigningKeysOf(id.Organisation), uc.Issuer):
		return id.Account, "signed by a key that is not organisation " + id.Organisation + "'s any more"
	}
	return id.Account, ""
}

// revokedAt says whether revocations reach a JWT of user issued at iat,
// as the server reads them.
func revokedAt(revocations map[string]int64, user string, iat int64) bool {
	if t, ok := revocations[user]; ok && t >= iat {
		return true
	}
	t, ok := revocations[jwt.All]
	return ok && t >= iat
}
