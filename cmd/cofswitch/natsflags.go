package main

import (
	"context"
	"errors"
	"flag"
	"log/slog"
	"os"
	"strings"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"

	"github.com/cofswitch/cofswitch/accounts"
	"github.com/cofswitch/cofswitch/bus"
	"github.com/cofswitch/cofswitch/config"
	"github.com/cofswitch/cofswitch/peers/feed"
	"github.com/cofswitch/cofswitch/secretfile"
)

// defaultURL is where the embedded server of 'cofswitch serve' listens.
const defaultURL = "nats://127.0.0.1:4222"

// natsFlags are the connection flags shared by the client commands.
type natsFlags struct {
	url                    string
	creds, nkey            string
	tlsCA, tlsCert, tlsKey string
}

func addNATSFlags(fs *flag.FlagSet, f *natsFlags, defURL string) {
	fs.StringVar(&f.url, "nats-url", defURL, "NATS server `URLs`, comma-separated")
	fs.StringVar(&f.creds, "creds", "", "NATS credentials `file` (JWT and nkey seed)")
	fs.StringVar(&f.nkey, "nkey", "", "NATS nkey seed `file`")
	fs.StringVar(&f.tlsCA, "tls-ca", "", "CA certificate `file` to verify the servers")
	fs.StringVar(&f.tlsCert, "tls-cert", "", "client certificate `file` (mutual TLS)")
	fs.StringVar(&f.tlsKey, "tls-key", "", "client key `file` (mutual TLS)")
}

// overlay returns the connection settings: the config's, replaced by any
// flag that was given.
func (f *natsFlags) overlay(c config.NATS) config.NATS {
	set := func(dst *string, v string) {
		if v != "" {
			*dst = v
		}
	}
	set(&c.Creds, f.creds)
	set(&c.NKey, f.nkey)
	set(&c.TLS.CA, f.tlsCA)
	set(&c.TLS.Cert, f.tlsCert)
	set(&c.TLS.Key, f.tlsKey)
	if f.url != "" {
		c.URLs = strings.Split(f.url, ",")
	}
	return c
}

// withConfig returns the flags that connect as the configuration says
// (its servers, or its embedded server's listener; its credentials and
// TLS), replaced by any flag that was given: an operator's command run
// with --config reaches the exchange that the file describes.
func (f *natsFlags) withConfig(c config.NATS) *natsFlags {
	n := f.overlay(c)
	out := &natsFlags{url: strings.Join(n.URLs, ","), creds: n.Creds, nkey: n.NKey, tlsCA: n.TLS.CA, tlsCert: n.TLS.Cert, tlsKey: n.TLS.Key}
	if out.url == "" && c.Listen != "" {
		out.url = "nats://" + c.Listen
	}
	if out.url == "" {
		out.url = defaultURL
	}
	return out
}

// signingKey is the seed of the identity the flags connect as (--nkey, or
// the seed in --creds), with which a sensor signs its batches; nil
// without either.
func (f *natsFlags) signingKey() (nkeys.KeyPair, error) {
	path := f.nkey
	if path == "" {
		path = f.creds
	}
	if path == "" {
		return nil, nil
	}
	b, err := secretfile.ReadFile(path)
	if err != nil {
		return nil, &exitError{code: exitUsage, msg: "signing key: " + err.Error()}
	}
	kp, err := nkeys.ParseDecoratedNKey(b)
	if err != nil {
		return nil, &exitError{code: exitUsage, msg: "signing key " + path + ": " + err.Error()}
	}
	return kp, nil
}

// auth is the client credentials and TLS files the flags name.
func (f *natsFlags) auth() *bus.Auth {
	return &bus.Auth{Creds: f.creds, NKey: f.nkey, CA: f.tlsCA, Cert: f.tlsCert, Key: f.tlsKey}
}

func (f *natsFlags) connect(name string, log *slog.Logger, extra ...nats.Option) (*nats.Conn, error) {
	return bus.Connect(f.url, name, f.auth(), log, extra...)
}

// connectJS connects for a client command and opens JetStream; a failure
// to connect exits 1.
func (f *natsFlags) connectJS(name string, extra ...nats.Option) (*nats.Conn, jetstream.JetStream, error) {
	nc, err := f.connect(name, nil, extra...)
	if errors.Is(err, nats.ErrAuthorization) {
		return nil, nil, &exitError{code: exitFailure, msg: err.Error() + ": the exchange does not know these credentials; " + authHint(f.creds != "")}
	}
	if err != nil {
		return nil, nil, &exitError{code: exitFailure, msg: err.Error()}
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	return nc, js, nil
}

// logFlags choose the log level and format.
type logFlags struct {
	level, format string
}

func addLogFlags(fs *flag.FlagSet, f *logFlags) {
	fs.StringVar(&f.level, "log-level", "info", "log `level`: debug, info, warn or error")
	fs.StringVar(&f.format, "log-format", "text", "log `format`: text or json")
}

func (f *logFlags) logger(io stdio) (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(f.level)); err != nil {
		return nil, usageErrorf("--log-level %q: want debug, info, warn or error", f.level)
	}
	opts := &slog.HandlerOptions{Level: lvl}
	switch f.format {
	case "text":
		return slog.New(slog.NewTextHandler(io.err, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(io.err, opts)), nil
	}
	return nil, usageErrorf("--log-format %q: want text or json", f.format)
}

// isTerminal reports whether w is a terminal, for progress output.
func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// bindPeerFeed connects as the peer (inbox under its own prefix) and
// binds the durable consumer on its stream, through the exchange's API
// prefix when the peer authenticates (its account imports the API there)
// unless apiPrefix says otherwise. A failure exits 1.
func (f *natsFlags) bindPeerFeed(ctx context.Context, name string, log *slog.Logger, peer, apiPrefix, consumer string) (*nats.Conn, jetstream.Consumer, error) {
	nc, err := f.connect(name, log, feed.InboxPrefix(peer))
	if err != nil {
		return nil, nil, &exitError{code: exitFailure, msg: err.Error()}
	}
	if apiPrefix == "" && (f.nkey != "" || f.creds != "") {
		apiPrefix = accounts.APIPrefix
	}
	cons, err := feed.Bind(ctx, nc, peer, apiPrefix, consumer)
	if err != nil {
		nc.Close()
		return nil, nil, &exitError{code: exitFailure, msg: err.Error()}
	}
	return nc, cons, nil
}

// authHint says what to check when the exchange refuses credentials: an
// nkey must be in its configuration; a user an organisation issued in
// operator mode may also have been revoked or have expired.
func authHint(creds bool) string {
	h := "check that --nkey (or --creds) is the right seed, that its public key ('cofswitch creds' printed it) is in the exchange's configuration for this identity, and that the exchange was reloaded since (SIGHUP)"
	if creds {
		h += "; in operator mode, that the user was issued for this sensor or peer by a signing key the exchange lists for its organisation, and has been neither revoked nor let expire"
	}
	return h
}
