package bus

import (
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/cofswitch/cofswitch/secretfile"
)

// Auth is how a client proves who it is to the servers and checks theirs:
// one of a credentials file or an nkey seed file, and TLS files. Every
// field is a path; empty fields are not used.
type Auth struct {
	Creds string // .creds file (JWT and nkey seed)
	NKey  string // nkey seed file
	CA    string // CA certificate to verify the servers
	Cert  string // client certificate (mutual TLS)
	Key   string // client key (mutual TLS)
}

// Connect opens a client connection. urls is a comma-separated list; name
// identifies the client in server monitoring. Credentials and TLS come from
// c (which may be nil); a seed or credentials file that others than its
// owner may read is refused (see package secretfile). Reconnection is unlimited: a switch or a sink rides
// out server restarts.
func Connect(urls, name string, c *Auth, log *slog.Logger, extra ...nats.Option) (*nats.Conn, error) {
	opts := []nats.Option{
		nats.Name(name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(500 * time.Millisecond),
		nats.Timeout(5 * time.Second),
	}
	if log != nil {
		opts = append(opts,
			nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
				if err != nil {
					log.Warn("disconnected from NATS", "err", err)
				}
			}),
			nats.ReconnectHandler(func(nc *nats.Conn) { log.Info("reconnected to NATS", "url", nc.ConnectedUrlRedacted()) }),
			nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
				subj := ""
				if sub != nil {
					subj = sub.Subject
				}
				log.Error("NATS error", "subject", subj, "err", err)
			}),
		)
	}
	if c != nil {
		switch {
		case c.Creds != "":
			if err := secretfile.Check(c.Creds); err != nil {
				return nil, fmt.Errorf("bus: credentials file: %w", err)
			}
			opts = append(opts, nats.UserCredentials(c.Creds))
		case c.NKey != "":
			if err := secretfile.Check(c.NKey); err != nil {
				return nil, fmt.Errorf("bus: nkey seed: %w", err)
			}
			o, err := nats.NkeyOptionFromSeed(c.NKey)
			if err != nil {
				return nil, fmt.Errorf("bus: nkey seed %s: %w", c.NKey, err)
			}
			opts = append(opts, o)
		}
		if c.CA != "" {
			opts = append(opts, nats.RootCAs(c.CA))
		}
		if c.Cert != "" {
			opts = append(opts, nats.ClientCert(c.Cert, c.Key))
		}
	}
	opts = append(opts, extra...)
	nc, err := nats.Connect(strings.TrimSpace(urls), opts...)
	if err != nil {
		return nil, fmt.Errorf("bus: connect to %s: %w", Redact(urls), err)
	}
	return nc, nil
}

// Redact removes user:password (or a token) from NATS URLs before they
// are logged, with or without a scheme.
func Redact(urls string) string {
	parts := strings.Split(urls, ",")
	for i, u := range parts {
		at := strings.LastIndex(u, "@")
		if at < 0 {
			continue
		}
		start := 0
		if scheme := strings.Index(u, "://"); scheme >= 0 && scheme < at {
			start = scheme + 3
		}
		parts[i] = u[:start] + "[redacted]" + u[at:]
	}
	return strings.Join(parts, ",")
}
