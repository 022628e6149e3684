package deadletters

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cofswitch/cofswitch/routing"
)

// maxViewWait stays below the view consumer's MaxRequestExpires (a minute),
// which the server enforces on every fetch.
const maxViewWait = 50 * time.Second

// fetchBatch is how many messages one fetch asks for.
const fetchBatch = 64

// List calls emit with each entry that f chooses, in the order stored,
// and returns how many it emitted: at most o.Limit when set. It waits
// o.Idle for a delivery at most, and stops once the server says nothing
// more is pending. As a sensor, f.Sensor must be the Client's sensor (or
// empty, meaning it).
func (c *Client) List(ctx context.Context, f Filter, o Options, emit func(*Entry) error) (int, error) {
	n := 0
	err := c.letters(ctx, f, o, func(l *Letter) (bool, error) {
		if !f.Until.IsZero() && l.Stored.After(f.Until) {
			return false, nil // stored in order: nothing later is wanted
		}
		if !f.stored(l.Stored) {
			return true, nil
		}
		for i := range l.Entries {
			if f.Kind != "" && l.Entries[i].Kind != f.Kind {
				continue
			}
			if err := emit(&l.Entries[i]); err != nil {
				return false, err
			}
			if n++; o.Limit > 0 && n >= o.Limit {
				return false, nil
			}
		}
		return true, nil
	})
	return n, err
}

// Show returns the dead letter stored at seq in COF_DLQ, with the bytes
// of a batch dead-lettered whole. ErrNotFound when there is none that
// this identity may see, or it is not sensor's (when given).
func (c *Client) Show(ctx context.Context, sensor string, seq uint64) (*Letter, error) {
	ctx, cancel := c.refusals.watch(ctx)
	defer cancel()
	notFound := fmt.Errorf("%w: %d", ErrNotFound, seq)
	if c.view != nil {
		if sensor != "" && sensor != c.sensor {
			return nil, fmt.Errorf("%w: this identity reads sensor %s's dead letters only", ErrDenied, c.sensor)
		}
		cu, err := c.viewFrom(ctx, seq)
		if err != nil {
			return nil, err
		}
		m, meta, err := cu.next(ctx)
		if err != nil {
			return nil, c.refusals.denied(err, "")
		}
		if m == nil || meta.Sequence.Stream != seq {
			return nil, fmt.Errorf("%w (not one of sensor %s's kept dead letters)", notFound, c.sensor)
		}
		l := letterOf(m.Subject(), seq, meta.Timestamp, m.Headers(), m.Data(), true)
		return &l, nil
	}
	st, err := c.js.Stream(ctx, routing.DLQStream)
	if err != nil {
		return nil, c.refusals.denied(err, "")
	}
	m, err := st.GetMsg(ctx, seq)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, fmt.Errorf("%w (not kept)", notFound)
	}
	if err != nil {
		return nil, c.refusals.denied(err, "")
	}
	if sensor != "" && m.Subject != routing.DLQSubject(sensor) {
		return nil, fmt.Errorf("%w (not one of sensor %s's)", notFound, sensor)
	}
	l := letterOf(m.Subject, m.Sequence, m.Time, m.Header, m.Data, true)
	return &l, nil
}

// letters calls each with each letter of f's sensor (or every sensor's),
// from f.Since, until each says to stop, nothing more is pending, or
// nothing arrives for o.Idle.
func (c *Client) letters(ctx context.Context, f Filter, o Options, each func(*Letter) (bool, error)) error {
	ctx, cancel := c.refusals.watch(ctx)
	defer cancel()
	var cu *cursor
	var err error
	if c.view != nil {
		if f.Sensor != "" && f.Sensor != c.sensor {
			return fmt.Errorf("%w: this identity reads sensor %s's dead letters only", ErrDenied, c.sensor)
		}
		cu, err = c.viewFrom(ctx, 1)
	} else {
		cu, err = c.ordered(ctx, f)
	}
	if err != nil {
		return c.refusals.denied(err, "")
	}
	cu.idle = o.Idle
	for {
		m, meta, err := cu.next(ctx)
		if err != nil {
			return c.refusals.denied(err, "")
		}
		if m == nil {
			return c.refusals.denied(nil, "")
		}
		l := letterOf(m.Subject(), meta.Sequence.Stream, meta.Timestamp, m.Headers(), m.Data(), false)
		if more, err := each(&l); err != nil || !more {
			return err
		}
	}
}

// viewFrom rewinds the sensor's view consumer to seq (the reset API,
// which its account is granted for that consumer alone).
func (c *Client) viewFrom(ctx context.Context, seq uint64) (*cursor, error) {
	name := routing.DLQViewConsumer(c.sensor)
	r, err := c.viewJS.ResetConsumerToSequence(ctx, routing.DLQStream, name, seq)
	if err != nil {
		return nil, fmt.Errorf("deadletters: rewinding %s: %w", name, err)
	}
	return &cursor{cons: c.view, pending: int64(r.NumPending), view: true}, nil
}

// ordered is the operator's cursor: an ordered consumer of its own on
// COF_DLQ, filtered to the sensor's subject (or all), from f.Since.
func (c *Client) ordered(ctx context.Context, f Filter) (*cursor, error) {
	cfg := jetstream.OrderedConsumerConfig{FilterSubjects: []string{routing.DLQPrefix + ">"}}
	if f.Sensor != "" {
		cfg.FilterSubjects = []string{routing.DLQSubject(f.Sensor)}
	}
	if !f.Since.IsZero() {
		since := f.Since
		cfg.DeliverPolicy, cfg.OptStartTime = jetstream.DeliverByStartTimePolicy, &since
	}
	cons, err := c.js.OrderedConsumer(ctx, routing.DLQStream, cfg)
	if err != nil {
		return nil, fmt.Errorf("deadletters: reading %s: %w", routing.DLQStream, err)
	}
	return &cursor{cons: cons, pending: -1}, nil
}

// cursor delivers the messages of a consumer on COF_DLQ in order.
type cursor struct {
	cons jetstream.Consumer
	idle time.Duration
	// pending is what the server last said was left: -1 unknown.
	pending int64
	// view marks a sensor's view consumer, whose delivery sequences must
	// run 1, 2, 3... after its reset: anything else is another reader.
	view      bool
	delivered uint64
	buf       []jetstream.Msg
}

// next returns the next message, or nil at the end.
func (cu *cursor) next(ctx context.Context) (jetstream.Msg, *jetstream.MsgMetadata, error) {
	for len(cu.buf) == 0 {
		if cu.pending == 0 || ctx.Err() != nil {
			return nil, nil, nil
		}
		if err := cu.fetch(); err != nil {
			return nil, nil, err
		}
		if len(cu.buf) == 0 {
			if cu.view && cu.pending > 0 {
				return nil, nil, ErrBusy // another reader took them
			}
			return nil, nil, nil
		}
	}
	m := cu.buf[0]
	cu.buf = cu.buf[1:]
	meta, err := m.Metadata()
	if err != nil {
		return nil, nil, fmt.Errorf("deadletters: %w", err)
	}
	if cu.view && meta.Sequence.Consumer != cu.delivered+1 {
		return nil, nil, ErrBusy
	}
	cu.delivered = meta.Sequence.Consumer
	cu.pending = int64(meta.NumPending)
	return m, meta, nil
}

// fetch fills buf with what one fetch brings.
func (cu *cursor) fetch() error {
	idle := cu.idle
	if idle <= 0 {
		idle = defaultIdle
	}
	n := fetchBatch
	if cu.view {
		idle = min(idle, maxViewWait)
	}
	if cu.pending > 0 && cu.pending < int64(n) {
		n = int(cu.pending)
	}
	// Fetch waits for n messages: ask for what the server said is pending
	// or, not knowing, for what it has now (a listing is a snapshot).
	var batch jetstream.MessageBatch
	var err error
	if cu.pending < 0 {
		batch, err = cu.cons.FetchNoWait(n)
	} else {
		batch, err = cu.cons.Fetch(n, jetstream.FetchMaxWait(idle))
	}
	if err != nil {
		return fmt.Errorf("deadletters: %w", err)
	}
	for m := range batch.Messages() {
		cu.buf = append(cu.buf, m)
	}
	if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("deadletters: %w", err)
	}
	return nil
}
