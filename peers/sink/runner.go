package sink

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cofswitch/cofswitch/cof"
	"github.com/cofswitch/cofswitch/peers/feed"
)

// Runner pulls a peer's batches from its durable consumer, one at a time,
// and acks each only once the Sink has confirmed it. A batch the sink
// refuses is kept (the server is told it is in progress) and offered again
// with growing delays, forever: nothing is dropped, and the failure shows
// in the log and in Stats.
type Runner struct {
	Consumer jetstream.Consumer
	Stream   string // for batch keys
	Sink     Sink
	Log      *slog.Logger
	// Backoff is the first delay before a refused batch is offered again
	// (doubled up to 30 s, or 5 min for permanent failures). Default 1 s.
	Backoff time.Duration
	// Metrics, if set, counts the deliveries retried (share it with the
	// sink's Options.Metrics).
	Metrics *Metrics
	// Guard, if set, verifies the exchange's signature of each batch: a
	// batch it refuses is not delivered and is terminated.
	Guard *feed.Guard

	mu    sync.Mutex
	stats Stats
}

// Stats counts a Runner's work.
type Stats struct {
	Batches, Records    uint64
	Failures, Permanent uint64 // refused deliveries (each retry counts)
	Failing             bool   // the current batch has been refused
}

// Stats returns a copy of the counters.
func (r *Runner) Stats() Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stats
}

// Run delivers until ctx ends. It returns nil on cancellation.
func (r *Runner) Run(ctx context.Context) error {
	codec, err := cof.NewCodec()
	if err != nil {
		return err
	}
	defer codec.Close()
	for ctx.Err() == nil {
		msg, err := r.Consumer.Next(jetstream.FetchMaxWait(2 * time.Second))
		if err != nil {
			if errors.Is(err, nats.ErrTimeout) || errors.Is(err, jetstream.ErrNoHeartbeat) || ctx.Err() != nil {
				continue
			}
			r.Log.Warn("fetching from the peer stream failed; retrying", "err", err)
			sleep(ctx, time.Second)
			continue
		}
		r.handle(ctx, codec, msg)
	}
	return nil
}

func (r *Runner) handle(ctx context.Context, codec *cof.Codec, msg jetstream.Msg) {
	meta, err := msg.Metadata()
	if err != nil {
		r.Log.Error("delivery without metadata; left for redelivery", "err", err)
		return
	}
	if err := r.Guard.Check(msg.Subject(), msg.Headers(), msg.Data(), meta.Sequence.Stream); err != nil {
		// Never delivered, never offered again: a forged batch is no
		// better the second time. It stays in the stream (max_age).
		_ = msg.TermWithReason("cofswitch: exchange signature refused")
		return
	}
	// The switch's message id (an opaque HMAC of the input batch, its
	// stream's creation, the peer and the chunk): unlike a stream sequence
	// it does not repeat when a stream is recreated or two exchanges feed
	// one receiver.
	key := msg.Headers().Get(jetstream.MsgIDHeader)
	if key == "" {
		key = r.Stream + ":" + strconv.FormatUint(meta.Sequence.Stream, 10)
	}
	b := Batch{Key: key, TLP: msg.Headers().Get("Cofswitch-TLP")}
	b.Records, _ = strconv.Atoi(msg.Headers().Get("Cofswitch-Records"))
	enc, err := cof.ParseEncoding(msg.Headers().Get("Content-Encoding"))
	if err == nil {
		b.Body, err = codec.Decompress(nil, msg.Data(), enc)
	}
	if err != nil {
		// Not ours to drop: keep it unacked, visible, until someone looks.
		r.Log.Error("undecodable delivery kept unacked", "key", b.Key, "err", err)
		_ = msg.NakWithDelay(time.Minute)
		return
	}
	delay := r.Backoff
	if delay == 0 {
		delay = time.Second
	}
	last := time.Now()
	for attempt := 1; ; attempt++ {
		err := r.Sink.Deliver(ctx, b)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return // unacked: redelivered to the next run
		}
		permanent := errors.Is(err, ErrPermanent)
		r.mu.Lock()
		r.stats.Failures++
		if permanent {
			r.stats.Permanent++
		}
		r.stats.Failing = true
		r.mu.Unlock()
		if attempt == 1 || time.Since(last) > time.Minute {
			r.Log.Error("destination refused a batch; keeping it and retrying", "key", b.Key, "attempt", attempt,
				"permanent", permanent, "next_in", delay, "err", err)
			last = time.Now()
		}
		_ = msg.InProgress()
		if !sleepInProgress(ctx, msg, delay) {
			return
		}
		r.Metrics.retry()
		limit := 30 * time.Second
		if permanent {
			limit = 5 * time.Minute
		}
		delay = min(2*delay, limit)
	}
	ackCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := msg.DoubleAck(ackCtx); err != nil {
		r.Log.Warn("ack failed; the batch will be delivered again", "key", b.Key, "err", err)
		return
	}
	r.mu.Lock()
	r.stats.Batches++
	r.stats.Records += uint64(b.Records)
	r.stats.Failing = false
	r.mu.Unlock()
}

// sleepInProgress waits d, telling the server every 10 s that the batch is
// still held; false if ctx ended.
func sleepInProgress(ctx context.Context, msg jetstream.Msg, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	tick := time.NewTicker(10 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
			return true
		case <-tick.C:
			_ = msg.InProgress()
		}
	}
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}
