// Package feed is a peer organisation's access to its feed on an exchange:
// binding the durable consumer the switch provisioned on its stream,
// through the API prefix its account imports, and reading the feed's
// records as COF lines without acking them (Tail): through an ordered
// consumer, or by direct get, which is what the peer's own identity may do
// on its stream.
//
// It is what a peer runs, so it imports no switch package: cof, routing,
// accounts (the names its permissions allow) and the NATS client.
package feed

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cofswitch/cofswitch/accounts"
	"github.com/cofswitch/cofswitch/routing"
)

// ErrBind reports that the peer's durable consumer could not be bound: a
// wrong peer id, consumer name or credentials, or a missing stream.
var ErrBind = errors.New("feed: cannot bind the consumer")

// InboxPrefix is the connect option a peer must use: its permissions allow
// replies on its own inbox prefix only.
func InboxPrefix(peer string) nats.Option {
	return nats.CustomInboxPrefix(accounts.PeerInbox(peer))
}

// JetStream opens JetStream on nc under apiPrefix ("" for the account's
// own API, as the operator and an unauthenticated exchange have it).
func JetStream(nc *nats.Conn, apiPrefix string) (jetstream.JetStream, error) {
	if apiPrefix == "" {
		return jetstream.New(nc)
	}
	return jetstream.NewWithAPIPrefix(nc, strings.TrimSuffix(apiPrefix, "."))
}

// Bind binds the durable consumer named consumer on the peer's stream, over
// a connection made with InboxPrefix(peer).
func Bind(ctx context.Context, nc *nats.Conn, peer, apiPrefix, consumer string) (jetstream.Consumer, error) {
	js, err := JetStream(nc, apiPrefix)
	if err != nil {
		return nil, err
	}
	stream := routing.PeerStream(peer)
	cons, err := js.Consumer(ctx, stream, consumer)
	if err != nil {
		return nil, fmt.Errorf("%w %s on %s: %w", ErrBind, consumer, stream, err)
	}
	return cons, nil
}

// Ready reports whether a process reading the feed can: nc is connected
// and the consumer cons still exists on its stream (the error names it).
// It is what the /readyz of a sink or a database checks.
func Ready(ctx context.Context, nc *nats.Conn, cons jetstream.Consumer) error {
	if !nc.IsConnected() {
		return fmt.Errorf("feed: not connected to NATS (%s)", nc.Status())
	}
	ci := cons.CachedInfo()
	if _, err := cons.Info(ctx); err != nil {
		return fmt.Errorf("feed: consumer %s on %s: %w", ci.Name, ci.Stream, err)
	}
	return nil
}
