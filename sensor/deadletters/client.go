package deadletters

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cofswitch/cofswitch/routing"
)

// Errors of List, Show and Purge.
var (
	// ErrDenied reports that the server refused this identity what was
	// asked: a sensor's seed reaches its own dead letters only, and only
	// the operator (the switch's identity) reads every sensor's or purges.
	ErrDenied = errors.New("deadletters: permission denied")
	// ErrNotFound reports a DLQ sequence that holds no dead letter this
	// identity may see (another sensor's, or no longer kept).
	ErrNotFound = errors.New("deadletters: no such dead letter")
	// ErrBusy reports that the sensor's view consumer moved under a
	// listing: another listing of the same sensor ran at the same time
	// (or the operator purged meanwhile). Run it again.
	ErrBusy = errors.New("deadletters: another listing of the same sensor's dead letters ran at the same time; run it again")
	// ErrNoPurge reports a COF_DLQ that the server will not purge: made
	// with deny_purge (before 'dlq purge' existed), which never lifts.
	ErrNoPurge = errors.New("deadletters: COF_DLQ refuses purges")
)

// Refusals records the server's permission violations on a connection and
// ends the calls of a Client waiting for answers that will not come. Give
// its Handler to nats.ErrorHandler when connecting.
type Refusals struct {
	mu   sync.Mutex
	err  error
	done chan struct{}
}

func (r *Refusals) init() {
	if r.done == nil {
		r.done = make(chan struct{})
	}
}

// Handler is a nats.ErrHandler that records permission violations.
func (r *Refusals) Handler(_ *nats.Conn, _ *nats.Subscription, err error) {
	if !errors.Is(err, nats.ErrPermissionViolation) {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.init()
	if r.err == nil {
		r.err = err
		close(r.done)
	}
}

// Err is the first refusal, or nil.
func (r *Refusals) Err() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

// watch returns ctx, cancelled as well at the first refusal.
func (r *Refusals) watch(ctx context.Context) (context.Context, context.CancelFunc) {
	r.mu.Lock()
	r.init()
	done := r.done
	r.mu.Unlock()
	ctx, cancel := context.WithCancel(ctx)
	go func() {
		select {
		case <-done:
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, cancel
}

// denied wraps err as ErrDenied when the server refused something on the
// connection, with hint for the reader.
func (r *Refusals) denied(err error, hint string) error {
	refused := r.Err()
	switch {
	case refused == nil:
		return err
	case hint == "":
		return fmt.Errorf("%w: %v", ErrDenied, refused)
	}
	return fmt.Errorf("%w: %v (%s)", ErrDenied, refused, hint)
}

// Client lists and shows dead letters, as a sensor (its own, through its
// view consumer) or as the operator (any, with the exchange's API); the
// operator also purges. Open decides which from what the server allows.
type Client struct {
	nc       *nats.Conn
	refusals *Refusals
	sensor   string
	view     jetstream.Consumer  // a sensor's own view consumer, or nil
	viewJS   jetstream.JetStream // the API under the sensor's prefix
	js       jetstream.JetStream // the operator's API, when view is nil
}

// Who is the identity a Client acts as.
type Who struct {
	// Sensor is the sensor whose dead letters are wanted, "" for all.
	Sensor string
	// APIPrefix is where a sensor's account sees the exchange's API
	// (accounts.APIPrefix with credentials, "" without).
	APIPrefix string
}

// Open binds a Client on nc, which must have been connected with r's
// handler (and, for a sensor, its own inbox prefix). With a sensor and an
// API prefix it binds the sensor's view consumer there; when nothing
// answers under the prefix (the operator's identity, in the exchange's own
// account) or without them, it uses the exchange's API as it is. A
// refusal by the server is ErrDenied.
func Open(ctx context.Context, nc *nats.Conn, r *Refusals, who Who) (*Client, error) {
	c := &Client{nc: nc, refusals: r, sensor: who.Sensor}
	ctx, cancel := r.watch(ctx)
	defer cancel()
	if who.Sensor != "" && who.APIPrefix != "" {
		js, err := jetstream.NewWithAPIPrefix(nc, strings.TrimSuffix(who.APIPrefix, "."))
		if err != nil {
			return nil, err
		}
		c.view, err = js.Consumer(ctx, routing.DLQStream, routing.DLQViewConsumer(who.Sensor))
		switch {
		case err == nil:
			c.viewJS = js
			return c, nil
		case r.Err() != nil:
			return nil, r.denied(err, "these credentials may read only their own sensor's dead letters: is --sensor that sensor?")
		case !errors.Is(err, nats.ErrNoResponders):
			return nil, fmt.Errorf("%w %s on %s: %w", ErrBind, routing.DLQViewConsumer(who.Sensor), routing.DLQStream, err)
		}
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	if _, err := js.Stream(ctx, routing.DLQStream); err != nil {
		return nil, r.denied(fmt.Errorf("deadletters: %s: %w", routing.DLQStream, err),
			"only the operator (the switch's identity) reads every sensor's dead letters; a sensor lists its own with --sensor and its own seed")
	}
	c.js = js
	return c, nil
}

// Operator reports whether the Client acts as the operator.
func (c *Client) Operator() bool { return c.view == nil }
