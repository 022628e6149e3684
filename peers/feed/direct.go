package feed

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cofswitch/cofswitch/routing"
)

// ErrNoDirect reports a peer stream that does not allow direct get: it
// was made by an older exchange, whose next start updates it.
var ErrNoDirect = errors.New("feed: the stream does not allow direct get")

// Locate returns JetStream for reading the peer's stream over nc: under
// apiPrefix when the stream answers there; otherwise, when nothing at all
// answers under the prefix and fallback is set, under the account's own
// API. That is how one command serves a peer (its account imports the
// exchange's API under the prefix) and the operator (the switch's identity
// is in the exchange's account, where the API has no prefix).
func Locate(ctx context.Context, nc *nats.Conn, peer, apiPrefix string, fallback bool) (jetstream.JetStream, error) {
	js, err := JetStream(nc, apiPrefix)
	if err != nil || apiPrefix == "" {
		return js, err
	}
	_, err = js.Stream(ctx, routing.PeerStream(peer))
	switch {
	case err == nil:
		return js, nil
	case fallback && errors.Is(err, nats.ErrNoResponders):
		return JetStream(nc, "")
	}
	return nil, fmt.Errorf("feed: peer %s: %w", peer, err)
}

// tailDirect reads by direct get: the stream's info for where to start,
// then the next message on the peer's subject from a sequence, one request
// per message, asking again every o.Poll once caught up.
func tailDirect(ctx context.Context, js jetstream.JetStream, peer string, o TailOptions, p *printer) error {
	name := routing.PeerStream(peer)
	stream, err := js.Stream(ctx, name)
	if err != nil {
		return fmt.Errorf("feed: peer %s: %w", peer, err)
	}
	info := stream.CachedInfo()
	if !info.Config.AllowDirect {
		return fmt.Errorf("%w: %s (restart the exchange's serve to update it)", ErrNoDirect, name)
	}
	seq := info.State.LastSeq + 1
	if o.FromStart {
		seq = max(info.State.FirstSeq, 1)
	}
	poll := o.Poll
	if poll <= 0 {
		poll = DefaultPoll
	}
	subject := routing.OutSubject(peer)
	idleSince := time.Now()
	for {
		m, err := stream.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(subject))
		switch {
		case err == nil:
			seq = m.Sequence + 1
			idleSince = time.Now()
			if err := p.print(m.Subject, m.Header, m.Data, m.Sequence); err != nil {
				return err
			}
			continue
		case ctx.Err() != nil:
			return nil
		case !errors.Is(err, jetstream.ErrMsgNotFound):
			return fmt.Errorf("feed: peer %s: direct get from %d: %w", peer, seq, err)
		}
		// Caught up.
		if err := p.flush(); err != nil {
			return err
		}
		wait := poll
		if o.Idle > 0 {
			left := o.Idle - time.Since(idleSince)
			if left <= 0 {
				return nil
			}
			wait = min(wait, left)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
	}
}
