// Package api serves a db.Store over the two query APIs passive DNS
// clients speak: DNSDB API v2 (dnsdbq's default, SAF framing, X-Api-Key)
// and the CIRCL style (/pdns/query, HTTP Basic, dribble pagination). Both
// answer application/x-ndjson with canonical COF: integer times and count,
// rdata arrays, rrtype strings.
//
// The server is meant to face clients it does not trust: connections are
// capped and time out (serve.go), failed logins are logged in bounded
// volume and throttled per client address (guard.go), each key and user
// has a request rate (ratelimit.go), and the work of one query is bounded
// (MaxOffset, DefaultLimit). Of this module it imports cof and peers/db
// only.
package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/time/rate"

	"github.com/cofswitch/cofswitch/peers/db"
)

// Server answers queries from a store. Make it with New.
type Server struct {
	store    db.Store
	log      *slog.Logger
	now      func() time.Time
	keys     []apiKey
	users    map[string]*account
	dummy    *Password // a real bcrypt hash, spent on unknown users
	verified *verifyCache
	guard    *loginGuard
	rate     Rate
	burst    int
	timeouts Timeouts
	maxConns int
	metrics  *Metrics
	// maxResults is the most rrsets one answer holds.
	maxResults   int
	queryTimeout time.Duration
}

// identity is who a request authenticated as: an API key (named by its
// position, never by its value) or a user, with its request budget.
type identity struct {
	name string
	lim  *rate.Limiter // nil: unlimited
}

type apiKey struct {
	secret []byte
	who    *identity
}

type account struct {
	pw  Password
	who *identity
}

// ErrInvalidOption wraps the error of an Option given an argument out of
// range.
var ErrInvalidOption = errors.New("api: invalid option")

// Option configures a Server.
type Option func(*options) error

type options struct {
	log          *slog.Logger
	now          func() time.Time
	rate         Rate
	burst        int
	timeouts     Timeouts
	maxConns     int
	loginBurst   int
	loginEvery   time.Duration
	metrics      *Metrics
	maxResults   int
	queryTimeout time.Duration
}

// WithLogger sets the logger (default: slog.Default()).
func WithLogger(l *slog.Logger) Option {
	return func(o *options) error {
		if l == nil {
			return fmt.Errorf("%w: nil logger", ErrInvalidOption)
		}
		o.log = l
		return nil
	}
}

// WithClock sets the clock of the rate limits and the failed-login guard
// (tests); connection deadlines always use the real time.
func WithClock(now func() time.Time) Option {
	return func(o *options) error {
		if now == nil {
			return fmt.Errorf("%w: nil clock", ErrInvalidOption)
		}
		o.now = now
		return nil
	}
}

// WithRateLimit sets the request rate of each API key and each user and
// the burst it may spend at once (default DefaultRate, DefaultBurst). A
// zero rate is unlimited.
func WithRateLimit(r Rate, burst int) Option {
	return func(o *options) error {
		if !r.Unlimited() && burst < 1 {
			return fmt.Errorf("%w: burst %d: want 1 or more", ErrInvalidOption, burst)
		}
		o.rate, o.burst = r, burst
		return nil
	}
}

// WithMaxResults sets the most rrsets one answer holds (default
// DefaultLimit): a DNSDB query's limit is capped there and its answer,
// when cut, ends with "limited" and the offset to go on; a CIRCL page
// holds at most that many.
func WithMaxResults(n int) Option {
	return func(o *options) error {
		if n < 1 || n > 1_000_000 {
			return fmt.Errorf("%w: max results %d: want 1 to 1000000", ErrInvalidOption, n)
		}
		o.maxResults = n
		return nil
	}
}

// WithTimeouts sets the connection timeouts; a zero field keeps its
// default.
func WithTimeouts(t Timeouts) Option {
	return func(o *options) error {
		for _, d := range []time.Duration{t.ReadHeader, t.Read, t.Write, t.Idle} {
			if d < 0 {
				return fmt.Errorf("%w: negative timeout %v", ErrInvalidOption, d)
			}
		}
		o.timeouts = t.withDefaults(o.timeouts)
		return nil
	}
}

// WithMaxConns caps the connections served at once (default
// DefaultMaxConns); more wait to be accepted. 0 is no cap.
func WithMaxConns(n int) Option {
	return func(o *options) error {
		if n < 0 {
			return fmt.Errorf("%w: max conns %d: want 0 (no cap) or more", ErrInvalidOption, n)
		}
		o.maxConns = n
		return nil
	}
}

// WithLoginLimit sets how many failed logins a client address may make at
// once, and after how long it may make one more (default
// DefaultLoginBurst, DefaultLoginEvery).
func WithLoginLimit(burst int, every time.Duration) Option {
	return func(o *options) error {
		if burst < 1 || every <= 0 {
			return fmt.Errorf("%w: login limit %d per %v: want both positive", ErrInvalidOption, burst, every)
		}
		o.loginBurst, o.loginEvery = burst, every
		return nil
	}
}

// CheckOptions reports the first option given an argument out of range,
// as New would: a command can refuse its flags before it opens anything.
func CheckOptions(opts ...Option) error {
	var o options
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return err
		}
	}
	return nil
}

// New returns a server of store for creds, with every default set:
// DefaultRate and DefaultBurst per key and user, the Default* timeouts,
// DefaultMaxConns, DefaultLoginBurst failed logins per DefaultLoginEvery.
// Options: WithLogger, WithClock, WithRateLimit, WithTimeouts,
// WithMaxConns, WithLoginLimit, WithMaxResults, WithQueryTimeout,
// WithMetrics. Having no key and no user is
// ErrNoCredentials. Each user whose password is in plaintext is warned
// about in the log.
func New(store db.Store, creds Credentials, opts ...Option) (*Server, error) {
	if store == nil {
		return nil, fmt.Errorf("%w: nil store", ErrInvalidOption)
	}
	if len(creds.Keys) == 0 && len(creds.Users) == 0 {
		return nil, ErrNoCredentials
	}
	o := options{
		log: slog.Default(), now: time.Now,
		rate: DefaultRate(), burst: DefaultBurst,
		timeouts: defaultTimeouts, maxConns: DefaultMaxConns,
		loginBurst: DefaultLoginBurst, loginEvery: DefaultLoginEvery,
		maxResults: DefaultLimit, queryTimeout: DefaultQueryTimeout,
	}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	if o.metrics == nil {
		o.metrics = NewMetrics()
	}
	s := &Server{
		store: store, log: o.log, now: o.now,
		users:    map[string]*account{},
		verified: newVerifyCache(DefaultVerifiedTTL, DefaultVerifiedMax),
		guard:    newLoginGuard(o.loginBurst, o.loginEvery, DefaultLoginLogEvery, o.log),
		rate:     o.rate, burst: o.burst, timeouts: o.timeouts, maxConns: o.maxConns, metrics: o.metrics,
		maxResults: o.maxResults, queryTimeout: o.queryTimeout,
	}
	for i, k := range creds.Keys {
		s.keys = append(s.keys, apiKey{[]byte(k), s.identity("api key " + strconv.Itoa(i+1))})
	}
	for _, name := range slices.Sorted(mapKeys(creds.Users)) {
		pw := creds.Users[name]
		s.users[name] = &account{pw, s.identity("user " + name)}
		if pw.Plaintext() {
			s.warnPlaintext(name, creds.UsersFile)
		} else if s.dummy == nil {
			s.dummy = &pw
		}
	}
	return s, nil
}

func (s *Server) identity(name string) *identity {
	id := &identity{name: name}
	if !s.rate.Unlimited() {
		id.lim = rate.NewLimiter(s.rate.Limit(), s.burst)
	}
	return id
}

func (s *Server) warnPlaintext(user, file string) {
	if file == "" {
		file = "USERS"
	}
	s.log.Warn("PLAINTEXT PASSWORD: a user's password is stored in the clear; replace its line with a bcrypt hash",
		"user", user, "fix", fmt.Sprintf("htpasswd -B %s %s (htpasswd -B -c %s %s starts a new file)", file, user, file, user))
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// Handler returns the HTTP handler of both APIs, each request counted
// and timed in the server's Metrics.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /dnsdb/v2/rate_limit", s.auth(s.rateLimit, false))
	mux.HandleFunc("GET /dnsdb/v2/ping", s.auth(ping, false))
	mux.HandleFunc("GET /openapi.json", s.openAPI)
	mux.HandleFunc("GET /dnsdb/v2/{verb}/{kind}/{by}/", s.auth(s.dnsdb, true))
	mux.HandleFunc("GET /pdns/query/", s.auth(s.circl, true))
	return s.metrics.instrument(mux)
}

// DefaultQueryTimeout is how long the lookups of one request may take
// (WithQueryTimeout).
const DefaultQueryTimeout = 10 * time.Second

// WithQueryTimeout bounds the time the lookups of one request may take
// (default DefaultQueryTimeout); past it the request is answered 503,
// saying so. Each request also has one budget of index entries examined
// (db.MaxExamined), however many lookups it makes.
func WithQueryTimeout(d time.Duration) Option {
	return func(o *options) error {
		if d <= 0 {
			return fmt.Errorf("%w: query timeout %v: want more than 0", ErrInvalidOption, d)
		}
		o.queryTimeout = d
		return nil
	}
}

// queryContext bounds the lookups of a request in time and in entries.
func (s *Server) queryContext(r *http.Request) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(r.Context(), s.queryTimeout)
	return db.WithExamineBudget(ctx, db.MaxExamined), cancel
}

// lookupFailed maps a lookup's error to a status and a message: the
// client's query (400), the time bound (503), the store (500).
func (s *Server) lookupFailed(err error) (int, string) {
	switch {
	case errors.Is(err, db.ErrBadQuery):
		return http.StatusBadRequest, err.Error()
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusServiceUnavailable, fmt.Sprintf("the query took longer than %v: narrow it (a deeper zone, an rrtype, time fences)", s.queryTimeout)
	}
	return http.StatusInternalServerError, err.Error()
}

// ping answers DNSDB's liveness check.
func ping(w http.ResponseWriter, _ *http.Request, _ *identity) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte(`{"ping":"ok"}` + "\n"))
}

// pathParts splits what follows prefix in the escaped path and decodes
// each part: dnsdbq percent-encodes them (%2A for '*', %2C for ',').
func pathParts(r *http.Request, prefix string) ([]string, bool) {
	rest, ok := strings.CutPrefix(r.URL.EscapedPath(), prefix)
	if !ok {
		return nil, false
	}
	var out []string
	for _, p := range strings.Split(strings.Trim(rest, "/"), "/") {
		v, err := urlUnescape(p)
		if err != nil {
			return nil, false
		}
		out = append(out, v)
	}
	return out, true
}

func intParam(r *http.Request, name string) (int64, bool) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return 0, true
	}
	n, err := strconv.ParseInt(v, 10, 64)
	return n, err == nil && n >= 0
}
