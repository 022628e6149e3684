package dnstap

import (
	"fmt"
	"io/fs"
	"log/slog"
	"time"
)

// Defaults.
const (
	// DefaultSocketMode is the mode of a unix socket file: the resolver's
	// user must share the sensor's group.
	DefaultSocketMode fs.FileMode = 0o660
	// DefaultMaxFrameBytes bounds one data frame: a query and a response
	// of 64 KiB each with room for the other fields.
	DefaultMaxFrameBytes = 256 << 10
	// DefaultHandshakeTimeout bounds the Frame Streams handshake.
	DefaultHandshakeTimeout = 10 * time.Second
	// DefaultMaxConnections bounds the connections one server serves.
	DefaultMaxConnections = 64
	// logEvery is the least time between two log lines about malformed
	// input from one converter or input.
	logEvery = 10 * time.Second
	// maxRecordRData bounds the rdata of one record in presentation form,
	// so that its COF line stays under cof.DefaultMaxLineBytes.
	maxRecordRData = 128 << 10
)

// Option configures a Converter (NewConverter) or an input (ListenUnix,
// ListenTCP, ReadFile, ReadStream). Each option says which it applies to;
// the others ignore it.
type Option func(*options) error

type options struct {
	authority, additional bool
	clientResponses       bool
	rrsig                 bool
	stats                 *Stats
	log                   *slog.Logger
	now                   func() time.Time

	socketMode       fs.FileMode
	allowNonLoopback bool
	maxFrameBytes    int
	handshakeTimeout time.Duration
	maxConnections   int
}

func buildOptions(opts []Option) (options, error) {
	o := options{
		stats:            &Stats{},
		log:              slog.Default(),
		now:              time.Now,
		socketMode:       DefaultSocketMode,
		maxFrameBytes:    DefaultMaxFrameBytes,
		handshakeTimeout: DefaultHandshakeTimeout,
		maxConnections:   DefaultMaxConnections,
	}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return options{}, err
		}
	}
	return o, nil
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalidOption}, args...)...)
}

// WithAuthority converts the authority section too (Converter). Off by
// default: referrals then give the delegation's NS RRsets, and negative
// answers give nothing either way.
func WithAuthority() Option {
	return func(o *options) error { o.authority = true; return nil }
}

// WithAdditional converts the additional section too (Converter), such as
// glue addresses. OPT, TSIG and SIG(0) RRs are skipped all the same.
func WithAdditional() Option {
	return func(o *options) error { o.additional = true; return nil }
}

// WithClientResponses converts CLIENT_RESPONSE and FORWARDER_RESPONSE
// messages too (Converter), for resolvers such as Knot Resolver that log
// only the answers they give their clients. The clients' addresses are
// never read either way.
func WithClientResponses() Option {
	return func(o *options) error { o.clientResponses = true; return nil }
}

// WithRRSIG keeps RRSIG RRs as records of their own (Converter).
func WithRRSIG() Option {
	return func(o *options) error { o.rrsig = true; return nil }
}

// WithStats counts into s (Converter and inputs), so that several of them
// can share one Stats; by default each has its own.
func WithStats(s *Stats) Option {
	return func(o *options) error {
		if s == nil {
			return invalid("nil Stats")
		}
		o.stats = s
		return nil
	}
}

// WithLogger logs to l (Converter and inputs) instead of slog.Default().
func WithLogger(l *slog.Logger) Option {
	return func(o *options) error {
		if l == nil {
			return invalid("nil logger")
		}
		o.log = l
		return nil
	}
}

// SocketMode sets the permission bits of the unix socket file
// (ListenUnix); DefaultSocketMode by default.
func SocketMode(m fs.FileMode) Option {
	return func(o *options) error {
		if m == 0 || m&^fs.ModePerm != 0 {
			return invalid("socket mode %v is not a set of permission bits", m)
		}
		o.socketMode = m
		return nil
	}
}

// AllowNonLoopback lets ListenTCP listen on an address that is not a
// loopback address. dnstap has no authentication: anyone who can connect
// can feed records in.
func AllowNonLoopback() Option {
	return func(o *options) error { o.allowNonLoopback = true; return nil }
}

// MaxFrameBytes bounds one data frame (inputs); a longer frame ends its
// connection. DefaultMaxFrameBytes by default.
func MaxFrameBytes(n int) Option {
	return func(o *options) error {
		if n < 1<<10 || n > 16<<20 {
			return invalid("max frame bytes %d not in 1 KiB..16 MiB", n)
		}
		o.maxFrameBytes = n
		return nil
	}
}

// HandshakeTimeout bounds the Frame Streams handshake of a connection
// (ListenUnix, ListenTCP). DefaultHandshakeTimeout by default.
func HandshakeTimeout(d time.Duration) Option {
	return func(o *options) error {
		if d <= 0 {
			return invalid("handshake timeout %v is not positive", d)
		}
		o.handshakeTimeout = d
		return nil
	}
}

// MaxConnections bounds the connections a server serves at once
// (ListenUnix, ListenTCP); one more is closed at once and counted.
// DefaultMaxConnections by default.
func MaxConnections(n int) Option {
	return func(o *options) error {
		if n < 1 {
			return invalid("max connections %d is below 1", n)
		}
		o.maxConnections = n
		return nil
	}
}

// withNow sets the clock (tests).
func withNow(now func() time.Time) Option {
	return func(o *options) error { o.now = now; return nil }
}
