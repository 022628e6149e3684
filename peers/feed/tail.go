package feed

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/cofswitch/cofswitch/cof"
	"github.com/cofswitch/cofswitch/routing"
)

// ErrUndecodable reports a delivery whose compression or framing cannot be
// read.
var ErrUndecodable = errors.New("feed: undecodable delivery")

// TailOptions choose where a tail starts and when it stops.
type TailOptions struct {
	// FromStart begins with the oldest message the stream holds; otherwise
	// with the next one stored.
	FromStart bool
	// Limit stops after that many records (0: no limit).
	Limit int
	// Idle stops once nothing has arrived for that long (0: follow until
	// ctx ends).
	Idle time.Duration
}

// Tail writes the records of a peer's stream to w as NDJSON, through an
// ordered consumer of its own (which acks nothing: it takes nothing from a
// sink or database bound to the same stream). It returns the number of
// records written; the end of ctx is a normal stop.
func Tail(ctx context.Context, js jetstream.JetStream, peer string, o TailOptions, w io.Writer) (int, error) {
	cfg := jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverNewPolicy}
	if o.FromStart {
		cfg.DeliverPolicy = jetstream.DeliverAllPolicy
	}
	cons, err := js.OrderedConsumer(ctx, routing.PeerStream(peer), cfg)
	if err != nil {
		return 0, fmt.Errorf("feed: peer %s: %w", peer, err)
	}
	codec, err := cof.NewCodec()
	if err != nil {
		return 0, err
	}
	defer codec.Close()
	br := codec.NewBatchReader()
	out := bufio.NewWriterSize(w, 64<<10)
	defer out.Flush()
	printed := 0
	idleSince := time.Now()
	for {
		// Short fetches, so that an interrupt is honoured within a second.
		fetchWait := time.Second
		if o.Idle > 0 && o.Idle < fetchWait {
			fetchWait = o.Idle
		}
		batch, err := cons.Fetch(256, jetstream.FetchMaxWait(fetchWait))
		if err != nil {
			if ctx.Err() != nil {
				return printed, nil
			}
			return printed, fmt.Errorf("feed: peer %s: %w", peer, err)
		}
		got := 0
		for m := range batch.Messages() {
			got++
			enc, err := cof.ParseEncoding(m.Headers().Get("Content-Encoding"))
			if err == nil {
				err = br.Reset(m.Data(), enc)
			}
			if err != nil {
				return printed, fmt.Errorf("%w: %w", ErrUndecodable, err)
			}
			for br.Next() {
				out.Write(br.Line())
				out.WriteByte('\n')
				printed++
				if o.Limit > 0 && printed >= o.Limit {
					return printed, nil
				}
			}
		}
		if err := out.Flush(); err != nil {
			return printed, fmt.Errorf("feed: writing output: %w", err)
		}
		if ctx.Err() != nil {
			return printed, nil
		}
		if err := batch.Error(); err != nil && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, jetstream.ErrNoHeartbeat) {
			return printed, fmt.Errorf("feed: peer %s: %w", peer, err)
		}
		if got > 0 {
			idleSince = time.Now()
		} else if o.Idle > 0 && time.Since(idleSince) >= o.Idle {
			return printed, nil
		}
	}
}
