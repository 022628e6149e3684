package backfill

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cofswitch/cofswitch/cof"
	"github.com/cofswitch/cofswitch/routing"
	"github.com/cofswitch/cofswitch/switch/engine"
)

// saveEvery bounds the time between two saves of the progress of a slow
// (paced) run.
const saveEvery = time.Second

// ackTimeout bounds the wait for one publish's ack.
const ackTimeout = 30 * time.Second

// run is one backfill in progress.
type run struct {
	o     Options
	js    jetstream.JetStream
	ev    *engine.Evaluator
	ids   *engine.IDs
	codec *cof.Codec
	prog  *progress
	epoch string
	until uint64
	pace  *pacer

	p       Progress
	start   time.Time
	win     window
	lastSav time.Time
}

// window is what was published since the last save: the archive
// sequences lo..hi gone through, and the publishes to await.
type window struct {
	lo, hi  uint64
	have    bool
	futs    []jetstream.PubAckFuture
	records int64
}

func (r *run) run(ctx context.Context) (Progress, error) {
	defer r.codec.Close()
	r.start, r.lastSav = r.o.Now(), r.o.Now()
	if r.until == 0 {
		return r.finish(ctx) // an empty archive
	}
	var cc jetstream.OrderedConsumerConfig
	open := &Open{Until: r.until, By: r.o.By}
	if r.o.Since > 0 {
		t := r.o.Now().Add(-r.o.Since)
		cc.DeliverPolicy, cc.OptStartTime = jetstream.DeliverByStartTimePolicy, &t
		open.From = t
	}
	r.prog.state.Open = open
	if err := r.prog.save(ctx, r.o.Now()); err != nil {
		return r.p, err
	}
	cons, err := r.js.OrderedConsumer(ctx, routing.ArchiveStream, cc)
	if err != nil {
		return r.p, fmt.Errorf("backfill: reading %s: %w", routing.ArchiveStream, err)
	}
	var first uint64
	for end := false; !end; {
		batch, err := cons.Fetch(fetchBatch, jetstream.FetchMaxWait(fetchWait))
		if err != nil {
			return r.p, fmt.Errorf("backfill: reading %s: %w", routing.ArchiveStream, err)
		}
		n := 0
		for m := range batch.Messages() {
			n++
			meta, err := m.Metadata()
			if err != nil {
				return r.p, fmt.Errorf("backfill: archived message without metadata: %w", err)
			}
			seq := meta.Sequence.Stream
			if seq > r.until {
				end = true
				break
			}
			if first == 0 {
				first, r.p.Total = seq, r.until-seq+1
			}
			if err := r.one(ctx, m, seq, meta.Timestamp); err != nil {
				return r.p, err
			}
			r.p.Position = seq - first + 1
			if seq == r.until {
				end = true
				break
			}
		}
		if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) && !errors.Is(err, context.DeadlineExceeded) {
			return r.p, fmt.Errorf("backfill: reading %s: %w", routing.ArchiveStream, err)
		}
		if n == 0 {
			end = true // what is left before until expired or was never there
		}
	}
	return r.finish(ctx)
}

// finish saves the last window and reports the end.
func (r *run) finish(ctx context.Context) (Progress, error) {
	if err := r.flush(ctx); err != nil {
		return r.p, err
	}
	if r.prog.state.Open != nil {
		r.prog.state.Open = nil
		if err := r.prog.save(ctx, r.o.Now()); err != nil {
			return r.p, err
		}
	}
	r.p.Done = true
	r.report()
	return r.p, nil
}

// one re-switches the archived batch m (sequence seq, archived at ts) for
// the peer and publishes its outputs.
func (r *run) one(ctx context.Context, m jetstream.Msg, seq uint64, ts time.Time) error {
	if r.prog.state.covers(seq) {
		r.p.Skipped++
		return nil
	}
	h := m.Headers()
	if h.Get(engine.HeaderConfigVersion) == r.o.Config.Version {
		// Switched under the configuration applied here: the peer got
		// what it is entitled to at the time.
		r.p.Skipped++
		r.mark(seq)
		return r.maybeFlush(ctx)
	}
	sensor := h.Get(engine.HeaderSensor)
	if s, err := routing.UnescapeToken(m.Subject()[len(routing.ArchivePrefix):]); err == nil && sensor == "" {
		sensor = s
	}
	inEnc := h.Get(engine.HeaderEncoding)
	ev, err := r.ev.Evaluate(sensor, seq, m.Data(), inEnc, r.o.Peer)
	if err != nil {
		// The switch accepted it: only a corrupt archive gets here.
		r.o.Log.Warn("archived batch undecodable, skipped", "seq", seq, "err", err)
		r.p.Skipped++
		r.mark(seq)
		return r.maybeFlush(ctx)
	}
	r.p.Batches++
	r.p.Filtered += int64(ev.Filtered)
	for _, out := range ev.Outputs {
		if err := r.deliver(ctx, out, seq, ts, inEnc); err != nil {
			return err
		}
	}
	r.mark(seq)
	return r.maybeFlush(ctx)
}

// deliver publishes one output, once its bucket has ended (a holding
// policy's) and the pace allows.
func (r *run) deliver(ctx context.Context, out engine.Output, seq uint64, ts time.Time, inEnc string) error {
	if out.Hold > 0 {
		// Old input's bucket has ended: at once. Input of the bucket in
		// progress waits for its end, as the switch would have held it.
		if err := sleepUntil(ctx, r.o.Now(), time.Unix(engine.ReleaseAt(ts, out.Hold), 0)); err != nil {
			return err
		}
	}
	if err := r.pace.wait(ctx, out.Records); err != nil {
		return err
	}
	enc := r.encoding(inEnc)
	output := r.o.Peer + ":" + out.TLP + ":" + strconv.FormatInt(int64(out.Hold/time.Second), 10)
	for i, chunk := range engine.SplitLines(out.Body, engine.DefaultMaxOutputBytes) {
		data, err := r.codec.Compress(nil, chunk, enc)
		if err != nil {
			return err
		}
		msg := nats.NewMsg(routing.OutSubject(r.o.Peer))
		msg.Data = data
		internal := "bf:" + r.epoch + ":" + strconv.FormatUint(seq, 10) + ":" + output + ":" + strconv.Itoa(i)
		msg.Header.Set(jetstream.MsgIDHeader, r.ids.MsgID(internal))
		n := countLines(chunk)
		engine.SetBatchHeaders(msg.Header, out.TLP, enc, n, out.Versions)
		fut, err := r.js.PublishMsgAsync(msg, jetstream.WithExpectStream(routing.PeerStream(r.o.Peer)))
		if err != nil {
			return fmt.Errorf("backfill: publishing to %s: %w", routing.PeerStream(r.o.Peer), err)
		}
		r.win.futs = append(r.win.futs, fut)
		r.win.records += int64(n)
	}
	return nil
}

// encoding is the output encoding of the configuration's switch section.
func (r *run) encoding(inEnc string) cof.Encoding {
	switch e := r.o.Config.Switch.OutputEncoding; e {
	case "none":
		return cof.Identity
	case "input":
		if enc, err := cof.ParseEncoding(inEnc); err == nil {
			return enc
		}
		return cof.Identity
	default:
		return cof.Encoding(e)
	}
}

// mark adds seq to the window's range.
func (r *run) mark(seq uint64) {
	if !r.win.have {
		r.win.lo, r.win.have = seq, true
	}
	r.win.hi = seq
}

// maybeFlush saves the window when it is full or has waited long enough.
func (r *run) maybeFlush(ctx context.Context) error {
	if len(r.win.futs) >= r.o.Window || r.o.Now().Sub(r.lastSav) >= saveEvery {
		return r.flush(ctx)
	}
	return nil
}

// flush awaits the window's publishes, then saves its range as done.
func (r *run) flush(ctx context.Context) error {
	for _, fut := range r.win.futs {
		t := time.NewTimer(ackTimeout)
		select {
		case ack := <-fut.Ok():
			if ack.Duplicate {
				r.p.Duplicate++
			}
		case err := <-fut.Err():
			t.Stop()
			return fmt.Errorf("backfill: publishing to %s (progress kept up to the last window): %w", routing.PeerStream(r.o.Peer), err)
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
			return fmt.Errorf("backfill: no ack from %s in %v", routing.PeerStream(r.o.Peer), ackTimeout)
		}
		t.Stop()
	}
	r.p.Messages += int64(len(r.win.futs))
	r.p.Records += r.win.records
	if r.win.have {
		r.prog.state.add(r.win.lo, r.win.hi)
		r.prog.state.Records += r.win.records
		if err := r.prog.save(ctx, r.o.Now()); err != nil {
			return err
		}
	}
	r.win = window{futs: r.win.futs[:0]}
	r.lastSav = r.o.Now()
	r.report()
	return nil
}

func (r *run) report() {
	r.p.Waits, r.p.Waited = r.pace.waits, r.pace.waited
	r.p.Elapsed = r.o.Now().Sub(r.start)
	if r.o.Progress != nil {
		r.o.Progress(r.p)
	}
}

func countLines(b []byte) int {
	n := 0
	for _, c := range b {
		if c == '\n' {
			n++
		}
	}
	return n
}
