package bus

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// SecurityLogInterval is the window over which the embedded server's
// security events are aggregated: per identity and kind of event, the
// first in a window is logged in full and the rest are counted into one
// summary at the window's end. It is also the window in which a
// connection's permissions violations are counted towards disconnection.
const SecurityLogInterval = 10 * time.Second

// DefaultMaxViolations is how many permissions violations (refused
// publishes or subscriptions) one connection may commit within
// SecurityLogInterval before the embedded server disconnects it.
const DefaultMaxViolations = 100

// Bounds on what the security log tracks within one window, so that an
// attacker who rotates identities or addresses cannot grow it: beyond
// maxTrackedKeys (identity, kind) pairs, events are counted under
// otherIdentity; beyond maxTrackedConns connections, violations are
// counted but do not lead to disconnection.
const (
	maxTrackedKeys  = 1000
	maxTrackedConns = 1000
	otherIdentity   = "other"
)

// disconnecter closes a connection by id (*server.Server does).
type disconnecter interface {
	DisconnectClientByID(id uint64) error
}

// secKey is what events are aggregated under.
type secKey struct {
	identity string
	kind     secKind
}

// secCount is the state of one key in the current window.
type secCount struct {
	more   int    // events after the first one, which was logged
	detail string // the last event's subject or user
	cid    uint64 // the last event's connection
}

// connCount is one connection's violations in the current window.
type connCount struct {
	n      int
	kicked bool
}

// slogAdapter is the embedded server's logger: it logs through slog and
// aggregates security events (permissions violations, authentication
// failures, protocol errors), so that a flood of them costs a few lines,
// and disconnects a connection that keeps violating its permissions.
// Other lines pass through.
type slogAdapter struct {
	l             *slog.Logger
	interval      time.Duration
	maxViolations int // < 0: never disconnect
	now           func() time.Time
	srv           atomic.Value // disconnecter, set once the server exists

	mu        sync.Mutex
	since     time.Time // start of the window
	events    map[secKey]*secCount
	conns     map[uint64]*connCount
	untracked int // violations by connections beyond maxTrackedConns
}

// newSlogAdapter returns an adapter logging to l; maxViolations 0 means
// DefaultMaxViolations, negative never disconnects.
func newSlogAdapter(l *slog.Logger, maxViolations int) *slogAdapter {
	if maxViolations == 0 {
		maxViolations = DefaultMaxViolations
	}
	a := &slogAdapter{l: l, interval: SecurityLogInterval, maxViolations: maxViolations, now: time.Now}
	a.reset(a.now())
	return a
}

// reset starts a window. Lock held (or not yet shared).
func (a *slogAdapter) reset(now time.Time) {
	a.since = now
	a.events = map[secKey]*secCount{}
	a.conns = map[uint64]*connCount{}
	a.untracked = 0
}

// setServer gives the adapter the server whose connections it may close.
func (a *slogAdapter) setServer(d disconnecter) { a.srv.Store(d) }

// run flushes the window every interval until stop is closed, then once
// more.
func (a *slogAdapter) run(stop <-chan struct{}) {
	t := time.NewTicker(a.interval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			a.flush()
		case <-stop:
			a.flush()
			return
		}
	}
}

// Noticef logs at debug: cofswitch logs what an operator needs of the
// server's notices (the start-up banner among them) itself.
func (a *slogAdapter) Noticef(format string, v ...any) { a.pass(slog.LevelDebug, format, v) }

// Warnf logs a warning, or records a security event.
func (a *slogAdapter) Warnf(format string, v ...any) {
	a.log(slog.LevelWarn, fmt.Sprintf(format, v...))
}

// Fatalf logs an error: the embedded server must not exit the process.
func (a *slogAdapter) Fatalf(format string, v ...any) {
	a.log(slog.LevelError, fmt.Sprintf(format, v...))
}

// Errorf logs an error, or records a security event.
func (a *slogAdapter) Errorf(format string, v ...any) {
	a.log(slog.LevelError, fmt.Sprintf(format, v...))
}

// Debugf logs at debug.
func (a *slogAdapter) Debugf(format string, v ...any) { a.pass(slog.LevelDebug, format, v) }

// Tracef logs at debug.
func (a *slogAdapter) Tracef(format string, v ...any) { a.pass(slog.LevelDebug, format, v) }

// pass logs a line as it is, formatting it only if it will be written.
func (a *slogAdapter) pass(level slog.Level, format string, v []any) {
	if a.l.Enabled(context.Background(), level) {
		a.l.Log(context.Background(), level, fmt.Sprintf(format, v...))
	}
}

// log writes line, or records it if it is a security event.
func (a *slogAdapter) log(level slog.Level, line string) {
	ev, ok := parseSecEvent(line)
	if !ok {
		a.l.Log(context.Background(), level, line)
		return
	}
	a.record(level, line, ev)
}

// record counts ev in its window: the first of its key is logged in full,
// the rest wait for the summary. It disconnects a connection on its
// maxViolations-th violation in the window.
func (a *slogAdapter) record(level slog.Level, line string, ev secEvent) {
	a.mu.Lock()
	key := secKey{ev.identity, ev.kind}
	c, seen := a.events[key]
	capped := false
	if !seen && len(a.events) >= maxTrackedKeys {
		key.identity, capped = otherIdentity, true
		c, seen = a.events[key]
	}
	if !seen {
		c = &secCount{}
		a.events[key] = c
	} else {
		c.more++
	}
	c.detail, c.cid = ev.detail, ev.cid
	kick, n := a.countViolation(ev)
	a.mu.Unlock()

	if !seen {
		attrs := []any{"security", ev.kind.String(), "identity", ev.identity}
		if capped {
			attrs = append(attrs, "aggregated_as", otherIdentity,
				"note", fmt.Sprintf("more than %d identities this interval", maxTrackedKeys))
		}
		a.l.Log(context.Background(), level, line, attrs...)
	}
	if kick {
		a.disconnect(ev, n)
	}
}

// countViolation counts a violation against its connection and reports
// whether this one reaches the limit (once per connection and window).
// Lock held.
func (a *slogAdapter) countViolation(ev secEvent) (kick bool, n int) {
	if !ev.kind.violation() || ev.cid == 0 || a.maxViolations < 0 {
		return false, 0
	}
	cc := a.conns[ev.cid]
	if cc == nil {
		if len(a.conns) >= maxTrackedConns {
			a.untracked++
			return false, 0
		}
		cc = &connCount{}
		a.conns[ev.cid] = cc
	}
	cc.n++
	if cc.n < a.maxViolations || cc.kicked {
		return false, cc.n
	}
	cc.kicked = true
	return true, cc.n
}

// disconnect closes ev's connection and says so. The server calls its
// logger from within its own code paths, so the close runs apart from
// them.
func (a *slogAdapter) disconnect(ev secEvent, n int) {
	d, _ := a.srv.Load().(disconnecter)
	a.l.Warn(fmt.Sprintf("disconnecting connection cid:%d (%s): %d permissions violations within %s", ev.cid, ev.identity, n, a.interval),
		"security", "disconnect", "identity", ev.identity, "cid", ev.cid, "violations", n, "last_subject", ev.detail)
	if d == nil {
		return
	}
	go func() {
		if err := d.DisconnectClientByID(ev.cid); err != nil {
			a.l.Debug("disconnect", "cid", ev.cid, "error", err)
		}
	}()
}

// secSummary is one line of a window's summary.
type secSummary struct {
	key secKey
	secCount
}

// flush ends the window: it logs one summary per key with events beyond
// the first, and starts the next window.
func (a *slogAdapter) flush() {
	a.mu.Lock()
	now := a.now()
	elapsed := roundWindow(now.Sub(a.since))
	var sums []secSummary
	for k, c := range a.events {
		if c.more > 0 {
			sums = append(sums, secSummary{k, *c})
		}
	}
	untracked := a.untracked
	a.reset(now)
	a.mu.Unlock()

	slices.SortFunc(sums, func(x, y secSummary) int {
		return cmp.Or(cmp.Compare(x.key.kind, y.key.kind), cmp.Compare(x.key.identity, y.key.identity))
	})
	for _, s := range sums {
		who := s.key.identity
		if who == otherIdentity {
			who = fmt.Sprintf("other identities (more than %d)", maxTrackedKeys)
		}
		a.l.Warn(fmt.Sprintf("%d more %ss by %s in the last %s (last: %q)", s.more, s.key.kind, who, elapsed, s.detail),
			"security", s.key.kind.String(), "identity", s.key.identity, "count", s.more,
			"last", s.detail, "last_cid", s.cid, "interval", elapsed.String())
	}
	if untracked > 0 {
		a.l.Warn(fmt.Sprintf("%d permissions violations by connections beyond the %d tracked in the last %s: not disconnected", untracked, maxTrackedConns, elapsed),
			"security", "untracked connections", "count", untracked, "interval", elapsed.String())
	}
}

// roundWindow rounds a window's length for the log: to the second, or to
// the millisecond for a window cut short (by the server's shutdown).
func roundWindow(d time.Duration) time.Duration {
	if d >= time.Second {
		return d.Round(time.Second)
	}
	return d.Round(time.Millisecond)
}
