// Package ingest feeds a peer database from the peer's stream: it pulls
// batches through the peer's durable consumer, merges them into a db.Store
// and acks a batch only once the store holds it durably. It imports cof,
// peers/db and the NATS client.
package ingest

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cofswitch/cofswitch/cof"
	"github.com/cofswitch/cofswitch/peers/db"
	"github.com/cofswitch/cofswitch/peers/feed"
)

// Ingester applies a peer's feed to a store. A batch is acked only once it
// is durable (for the embedded store, once a snapshot holds it): after a
// crash the store reloads and the server redelivers the rest, which the
// store applies once (it skips the sequences it has applied).
type Ingester struct {
	Consumer jetstream.Consumer
	Stream   string // the peer stream, which names the applied sequence
	Store    db.Store
	// Save makes what Store holds durable (the embedded store's snapshot).
	// Nil for a store whose every Apply is durable (PostgreSQL commits).
	Save func() error
	// A checkpoint (snapshot, then acks) is taken after Every or after
	// Batches pending batches, whichever first; both stay well inside the
	// consumer's ack wait and max ack pending. Defaults 5 s and 500.
	Every   time.Duration
	Batches int
	Log     *slog.Logger
	// Metrics, if set, counts the applied batches and records and times
	// the durable step.
	Metrics *Metrics
	// Guard, if set, verifies the exchange's signature of each batch: a
	// batch it refuses is not applied and is terminated.
	Guard *feed.Guard

	mu    sync.Mutex
	stats Stats
}

// Stats counts an Ingester's work.
type Stats struct {
	Batches, Records, Skipped, Checkpoints uint64
	// Failed counts the deliveries the store failed to apply (each
	// nacked, to come again).
	Failed uint64
}

// Stats returns a copy of the counters.
func (in *Ingester) Stats() Stats {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.stats
}

// Run ingests until ctx ends, then takes a last checkpoint.
func (in *Ingester) Run(ctx context.Context) error {
	every, limit := in.Every, in.Batches
	if every == 0 {
		every = 5 * time.Second
	}
	if limit == 0 {
		limit = 500
	}
	if in.Log == nil {
		in.Log = slog.New(slog.DiscardHandler)
	}
	codec, err := cof.NewCodec()
	if err != nil {
		return err
	}
	defer codec.Close()
	var pending []jetstream.Msg
	last := time.Now()
	checkpoint := func() error {
		if len(pending) == 0 {
			return nil
		}
		if in.Save != nil {
			start := time.Now()
			if err := in.Save(); err != nil {
				return err
			}
			in.Metrics.durable(start)
		}
		for _, m := range pending {
			_ = m.Ack() // a lost ack only brings a batch the store skips
		}
		// The ack floor also passes messages the stream no longer holds:
		// holes in the applied set that no delivery would ever fill.
		if ci, err := in.Consumer.Info(ctx); err == nil {
			_ = in.Store.AdvanceApplied(ctx, in.Stream, ci.AckFloor.Stream)
		}
		in.mu.Lock()
		in.stats.Checkpoints++
		in.mu.Unlock()
		pending, last = pending[:0], time.Now()
		return nil
	}
	// Fetching and decoding run beside the store, a few batches ahead:
	// each is a good part of the work of a batch.
	deliveries := make(chan delivery, 2)
	fctx, stop := context.WithCancel(ctx)
	go in.fetch(fctx, codec.NewBatchReader(), deliveries)
	defer func() { // the fetcher uses codec: it must end before codec closes
		stop()
		for range deliveries {
		}
	}()
	tick := time.NewTicker(min(every, time.Second))
	defer tick.Stop()
	for {
		select {
		case d, open := <-deliveries:
			if !open { // ctx ended; what was fetched and not applied comes again
				return checkpoint()
			}
			if d.refused {
				continue // terminated already
			}
			if !in.store(ctx, d) {
				continue // not acked: redelivered after the delay, applied then
			}
			pending = append(pending, d.msg)
			if len(pending) < limit && time.Since(last) < every {
				continue
			}
		case <-tick.C:
			if time.Since(last) < every {
				continue
			}
		}
		if err := checkpoint(); err != nil {
			return err
		}
	}
}

// delivery is a message of the peer stream, decoded.
type delivery struct {
	msg  jetstream.Msg
	seq  uint64
	recs []*cof.Record
	skip bool // undecodable: acked, not applied
	// refused: its signature did not verify; terminated, not applied
	// and not acked.
	refused bool
}

// fetch pulls and decodes the peer stream's messages into out until ctx
// ends, then closes out.
func (in *Ingester) fetch(ctx context.Context, br *cof.BatchReader, out chan<- delivery) {
	defer close(out)
	for ctx.Err() == nil {
		msg, err := in.Consumer.Next(jetstream.FetchMaxWait(time.Second))
		if err != nil {
			if !errors.Is(err, nats.ErrTimeout) && !errors.Is(err, jetstream.ErrNoHeartbeat) && ctx.Err() == nil {
				in.Log.Warn("fetching from the peer stream failed; retrying", "err", err)
			}
			continue
		}
		select {
		case out <- in.decode(br, msg):
		case <-ctx.Done():
		}
	}
}

// retryDelay is how long a batch the store failed to apply waits before
// it is delivered again.
const retryDelay = 2 * time.Second

// decode reads a delivery's records. One that cannot be decoded is
// logged and skipped (acked): delivering it again would change nothing.
func (in *Ingester) decode(br *cof.BatchReader, msg jetstream.Msg) delivery {
	d := delivery{msg: msg, skip: true}
	meta, err := msg.Metadata()
	if err != nil {
		in.Log.Error("delivery without metadata", "err", err)
		return d
	}
	d.seq = meta.Sequence.Stream
	if err := in.Guard.Check(msg.Subject(), msg.Headers(), msg.Data(), d.seq); err != nil {
		// Not applied, never offered again; it stays in the stream
		// (max_age), and the ack floor passes it.
		_ = msg.TermWithReason("cofswitch: exchange signature refused")
		d.refused = true
		return d
	}
	enc, err := cof.ParseEncoding(msg.Headers().Get("Content-Encoding"))
	if err == nil {
		err = br.Reset(msg.Data(), enc)
	}
	if err != nil {
		in.Log.Error("undecodable delivery skipped", "seq", d.seq, "err", err)
		return d
	}
	for br.Next() {
		if r := br.Record(); r != nil {
			c := *r
			d.recs = append(d.recs, &c)
		}
	}
	d.skip = false
	return d
}

// store merges one delivery into the store. It returns false when the
// store failed (a full disk, a database gone): the delivery is then
// nacked, never acked, so neither it nor the ack floor passes it, and it
// comes again.
func (in *Ingester) store(ctx context.Context, d delivery) bool {
	if d.skip {
		return true
	}
	start := time.Now()
	applied, err := in.Store.Apply(ctx, in.Stream, d.seq, d.recs)
	if err != nil {
		if ctx.Err() == nil {
			in.Log.Error("storing a batch failed; it will come again", "seq", d.seq, "err", err)
		}
		_ = d.msg.NakWithDelay(retryDelay)
		in.mu.Lock()
		in.stats.Failed++
		in.mu.Unlock()
		return false
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	if !applied {
		in.stats.Skipped++
		return true
	}
	if in.Save == nil { // the store's Apply is its durable step
		in.Metrics.durable(start)
	}
	in.Metrics.applied(len(d.recs))
	in.stats.Batches++
	in.stats.Records += uint64(len(d.recs))
	return true
}
