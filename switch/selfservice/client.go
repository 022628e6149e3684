package selfservice

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go"

	"github.com/cofswitch/cofswitch/routing"
)

// ErrRefused reports a request the switch refused; the error says why.
var ErrRefused = errors.New("selfservice: refused")

// Ask sends req on peer's control subject over nc, which must be
// connected as the peer (its own credentials, and its inbox prefix
// accounts.PeerInbox: its permissions allow no other), and returns the
// switch's reply. A refusal is a reply too: see Reply.Err.
func Ask(ctx context.Context, nc *nats.Conn, peer string, req Request) (Reply, error) {
	data, err := json.Marshal(req)
	if err != nil {
		return Reply{}, err
	}
	m, err := nc.RequestWithContext(ctx, routing.ControlSubject(peer), data)
	if errors.Is(err, nats.ErrNoResponders) {
		return Reply{}, fmt.Errorf("selfservice: peer %q: no switch answers on %s (is this the peer's own identity, and does the exchange run a version with self-service?): %w",
			peer, routing.ControlSubject(peer), err)
	}
	if err != nil {
		return Reply{}, fmt.Errorf("selfservice: peer %q: %w", peer, err)
	}
	var rep Reply
	if err := json.Unmarshal(m.Data, &rep); err != nil {
		return Reply{}, fmt.Errorf("selfservice: peer %q: the reply does not decode: %w", peer, err)
	}
	return rep, nil
}

// Err is nil for a reply that reports success, else ErrRefused with the
// code and the reason.
func (r Reply) Err() error {
	if r.OK {
		return nil
	}
	return fmt.Errorf("%w (%s): %s", ErrRefused, r.Code, r.Error)
}
