package feed

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cofswitch/cofswitch/cof"
	"github.com/cofswitch/cofswitch/routing"
)

// ErrUndecodable reports a delivery whose compression or framing cannot be
// read.
var ErrUndecodable = errors.New("feed: undecodable delivery")

// Defaults of a tail.
const (
	// fetchWait bounds each fetch of an ordered tail, so that an interrupt
	// is honoured within it.
	fetchWait = time.Second
	// fetchBatch is how many messages an ordered tail asks for at once.
	fetchBatch = 256
	// DefaultPoll is how often a direct tail that has caught up asks for
	// the next message.
	DefaultPoll = 250 * time.Millisecond
	// outBuffer is the output buffer; it is flushed whenever the tail
	// has caught up.
	outBuffer = 64 << 10
)

// TailOptions choose how a tail reads, where it starts and when it stops.
type TailOptions struct {
	// FromStart begins with the oldest message the stream holds; otherwise
	// with the next one stored.
	FromStart bool
	// Limit stops after that many records (0: no limit).
	Limit int
	// Idle stops once nothing has arrived for that long (0: follow until
	// ctx ends).
	Idle time.Duration
	// Direct reads the stream by direct get (its info, then each next
	// message by subject) instead of through an ordered consumer. It is
	// what a peer's own identity may do (see package accounts): it
	// creates nothing on the server. The stream must allow direct get.
	Direct bool
	// Poll is how often a direct tail that has caught up asks again
	// (DefaultPoll when 0).
	Poll time.Duration
	// Guard, if set, verifies the exchange's signature of each batch:
	// a batch it refuses is not printed (it is logged and counted).
	Guard *Guard
}

// Tail writes the records of a peer's stream to w as NDJSON. Either way it
// acks nothing, so it takes nothing from a sink or database bound to the
// same stream: by default through an ordered consumer of its own, with
// o.Direct by direct get. It returns the number of records written; the
// end of ctx is a normal stop.
func Tail(ctx context.Context, js jetstream.JetStream, peer string, o TailOptions, w io.Writer) (int, error) {
	p, err := newPrinter(w, o.Limit)
	if err != nil {
		return 0, err
	}
	p.guard = o.Guard
	defer p.close()
	if o.Direct {
		err = tailDirect(ctx, js, peer, o, p)
	} else {
		err = tailOrdered(ctx, js, peer, o, p)
	}
	if errors.Is(err, errLimit) {
		err = nil
	}
	if ferr := p.flush(); err == nil {
		err = ferr
	}
	return p.printed, err
}

// tailOrdered reads through an ordered consumer.
func tailOrdered(ctx context.Context, js jetstream.JetStream, peer string, o TailOptions, p *printer) error {
	cfg := jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverNewPolicy}
	if o.FromStart {
		cfg.DeliverPolicy = jetstream.DeliverAllPolicy
	}
	cons, err := js.OrderedConsumer(ctx, routing.PeerStream(peer), cfg)
	if err != nil {
		return fmt.Errorf("feed: peer %s: %w", peer, err)
	}
	wait := fetchWait
	if o.Idle > 0 && o.Idle < wait {
		wait = o.Idle
	}
	idleSince := time.Now()
	for {
		batch, err := cons.Fetch(fetchBatch, jetstream.FetchMaxWait(wait))
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("feed: peer %s: %w", peer, err)
		}
		got := 0
		for m := range batch.Messages() {
			got++
			var seq uint64
			if meta, err := m.Metadata(); err == nil {
				seq = meta.Sequence.Stream
			}
			if err := p.print(m.Subject(), m.Headers(), m.Data(), seq); err != nil {
				return err
			}
		}
		if err := p.flush(); err != nil {
			return err
		}
		if ctx.Err() != nil {
			return nil
		}
		if err := batch.Error(); err != nil && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, jetstream.ErrNoHeartbeat) {
			return fmt.Errorf("feed: peer %s: %w", peer, err)
		}
		if got > 0 {
			idleSince = time.Now()
		} else if o.Idle > 0 && time.Since(idleSince) >= o.Idle {
			return nil
		}
	}
}

// errLimit stops a tail that has printed its limit.
var errLimit = errors.New("feed: limit reached")

// printer writes the records of batches as NDJSON lines, up to a limit.
type printer struct {
	codec   *cof.Codec
	br      *cof.BatchReader
	out     *bufio.Writer
	limit   int
	printed int
	guard   *Guard
}

func newPrinter(w io.Writer, limit int) (*printer, error) {
	codec, err := cof.NewCodec()
	if err != nil {
		return nil, err
	}
	return &printer{codec: codec, br: codec.NewBatchReader(), out: bufio.NewWriterSize(w, outBuffer), limit: limit}, nil
}

// print writes the records of one batch (none when the guard refuses
// it); errLimit once the limit is reached.
func (p *printer) print(subject string, h nats.Header, data []byte, seq uint64) error {
	if p.guard.Check(subject, h, data, seq) != nil {
		return nil
	}
	enc, err := cof.ParseEncoding(h.Get("Content-Encoding"))
	if err == nil {
		err = p.br.Reset(data, enc)
	}
	if err != nil {
		return fmt.Errorf("%w: %w", ErrUndecodable, err)
	}
	for p.br.Next() {
		p.out.Write(p.br.Line())
		p.out.WriteByte('\n')
		p.printed++
		if p.limit > 0 && p.printed >= p.limit {
			return errLimit
		}
	}
	return nil
}

func (p *printer) flush() error {
	if err := p.out.Flush(); err != nil {
		return fmt.Errorf("feed: writing output: %w", err)
	}
	return nil
}

func (p *printer) close() { p.codec.Close() }
