package exchange

import (
	"time"

	"github.com/nats-io/nats.go"
)

// WarnCleartext exposes warnCleartext to the tests: a listener beyond
// loopback cannot be opened here to see it from StartEmbedded.
var WarnCleartext = warnCleartext

// SameConsumer exposes sameConsumer: whether EnsureStreams leaves a
// consumer alone at the next start.
var SameConsumer = sameConsumer

var (
	Transient = transient
	Retrying  = retrying
)

// SameStream exposes sameStream: whether EnsureStreams leaves a stream
// alone at the next start.
var SameStream = sameStream

// SwapSystemConn replaces the connection through which operator mode
// pushes claims, and returns the one it replaced: a test stands a
// relay in between to make one push fail.
func SwapSystemConn(e *Embedded, nc *nats.Conn) *nats.Conn {
	e.opm.mu.Lock()
	defer e.opm.mu.Unlock()
	old := e.opm.sys
	e.opm.sys = nc
	return old
}

// SetRevocationPace sets how fast each organisation may revoke, for the
// tests that revoke by the thousand.
func SetRevocationPace(e *Embedded, every time.Duration, burst int) {
	e.opm.mu.Lock()
	defer e.opm.mu.Unlock()
	e.opm.revPace, e.opm.limits = &pace{every: every, burst: burst}, nil
}

// SetRevocationSkew sets how far ahead a JWT may be dated, and so how far
// ahead 'revoke --all' reaches (a minute by default).
func SetRevocationSkew(e *Embedded, d time.Duration) {
	e.opm.mu.Lock()
	defer e.opm.mu.Unlock()
	e.opm.skew = d
}

// ForgetToPush revokes user of the account name in the exchange's own
// list without pushing it to the server, as when the server missed it:
// only the exchange's checks of connections (connwatch.go) then act.
func ForgetToPush(e *Embedded, name, user string) {
	e.opm.mu.Lock()
	defer e.opm.mu.Unlock()
	if e.opm.revoked[name] == nil {
		e.opm.revoked[name] = map[string]int64{}
	}
	e.opm.revoked[name][user] = time.Now().Add(time.Hour).Unix()
}

// Sweep checks every connection at once (connwatch.go).
func Sweep(e *Embedded) { e.opm.sweep() }
