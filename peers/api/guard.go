package api

import (
	"log/slog"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Defaults of the failed-login guard.
const (
	// DefaultLoginBurst is how many failed logins a client address may
	// make in a row.
	DefaultLoginBurst = 10
	// DefaultLoginEvery is how long after which a client address that used
	// up its failed logins may make one more (10 a minute).
	DefaultLoginEvery = 6 * time.Second
	// DefaultLoginLogEvery is the window of the failed-login log: a
	// client's first failure in a window is logged in full, the rest as
	// one count at its end.
	DefaultLoginLogEvery = 10 * time.Second
	// maxLoginDebt caps how far concurrent failures (which all passed the
	// check before any was counted) can push a client's next attempt.
	maxLoginDebt = 15 * time.Minute
	// maxLoginClients bounds the addresses tracked; beyond it, new
	// addresses share one bucket (a distributed guesser is slowed as one).
	maxLoginClients = 65536
)

// loginGuard throttles failed logins per client address with a token
// bucket of failures: DefaultLoginBurst in a row, then one per
// DefaultLoginEvery; a client with none left is refused with 429 before
// its credentials are checked. It also keeps the failed-login log bounded:
// per client and window, one line in full and one count.
type loginGuard struct {
	mu       sync.Mutex
	burst    int
	every    time.Duration
	logEvery time.Duration
	log      *slog.Logger
	clients  map[string]*loginClient
	overflow *loginClient
}

type loginClient struct {
	addr    string
	lim     *rate.Limiter
	window  time.Time // start of the log window; zero: none open
	failed  int       // failures in the window not yet logged
	refused int       // refusals in the window not yet logged
}

func newLoginGuard(burst int, every, logEvery time.Duration, log *slog.Logger) *loginGuard {
	g := &loginGuard{burst: burst, every: every, logEvery: logEvery, log: log, clients: map[string]*loginClient{}}
	g.overflow = g.newClient("(other addresses)")
	return g
}

func (g *loginGuard) newClient(addr string) *loginClient {
	return &loginClient{addr: addr, lim: rate.NewLimiter(rate.Every(g.every), g.burst)}
}

// lookup returns the client's state; create makes it if missing.
func (g *loginGuard) lookup(addr string, create bool) *loginClient {
	if c := g.clients[addr]; c != nil {
		return c
	}
	if len(g.clients) >= maxLoginClients {
		return g.overflow
	}
	if !create {
		return nil
	}
	c := g.newClient(addr)
	g.clients[addr] = c
	return c
}

// admit returns how long the client must wait before it may try to log
// in again, 0 if it may now. A refusal is counted for the log.
func (g *loginGuard) admit(addr string, now time.Time) time.Duration {
	g.mu.Lock()
	defer g.mu.Unlock()
	c := g.lookup(addr, false)
	if c == nil {
		return 0
	}
	tokens := c.lim.TokensAt(now)
	if tokens >= 1 {
		return 0
	}
	wait := time.Duration((1 - tokens) * float64(g.every))
	g.note(c, now, true, "login refused: too many failed logins", "client", c.addr, "retry_after", wait.Round(time.Second))
	return wait
}

// failed counts a failed login: method "api-key" or "basic", user the
// name if it is a known user (never the password, never the key).
func (g *loginGuard) failed(addr, method, user string, now time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	c := g.lookup(addr, true)
	if r := c.lim.ReserveN(now, 1); r.DelayFrom(now) > maxLoginDebt {
		r.CancelAt(now)
	}
	attrs := []any{"client", c.addr, "method", method}
	if user != "" {
		attrs = append(attrs, "user", user)
	}
	g.note(c, now, false, "failed login", attrs...)
}

// note logs an event in full if it opens the client's log window, and
// counts it otherwise.
func (g *loginGuard) note(c *loginClient, now time.Time, refused bool, msg string, attrs ...any) {
	if !c.window.IsZero() && now.Sub(c.window) < g.logEvery {
		if refused {
			c.refused++
		} else {
			c.failed++
		}
		return
	}
	g.summarize(c, now)
	c.window = now
	g.log.Warn(msg, attrs...)
}

// summarize logs the counts of the client's window, if any, and closes it.
func (g *loginGuard) summarize(c *loginClient, now time.Time) {
	if c.failed+c.refused > 0 {
		g.log.Warn("more failed logins", "client", c.addr, "failed", c.failed, "refused", c.refused,
			"in_last", now.Sub(c.window).Round(time.Second))
	}
	c.window, c.failed, c.refused = time.Time{}, 0, 0
}

// flush logs the counts of the windows that have ended and forgets the
// clients whose bucket is full again. Serve runs it every logEvery.
func (g *loginGuard) flush(now time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for addr, c := range g.clients {
		if !c.window.IsZero() && now.Sub(c.window) >= g.logEvery {
			g.summarize(c, now)
		}
		if c.window.IsZero() && c.lim.TokensAt(now) >= float64(g.burst) {
			delete(g.clients, addr)
		}
	}
	if !g.overflow.window.IsZero() && now.Sub(g.overflow.window) >= g.logEvery {
		g.summarize(g.overflow, now)
	}
}

// close logs every open window's counts (at shutdown).
func (g *loginGuard) close(now time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, c := range g.clients {
		g.summarize(c, now)
	}
	g.summarize(g.overflow, now)
}
