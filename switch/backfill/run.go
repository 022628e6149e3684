package backfill

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cofswitch/cofswitch/batchsig"
	"github.com/cofswitch/cofswitch/cof"
	"github.com/cofswitch/cofswitch/routing"
	"github.com/cofswitch/cofswitch/switch/engine"
)

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

	p     Progress
	start time.Time
	win   window
	held  map[heldKey]*heldPage // of the window, delivered at its end
}

// heldKey names the held outputs of one bucket: what the switch would
// have released together.
type heldKey struct {
	release int64 // the bucket's end, Unix seconds
	tlp     string
	hold    time.Duration
}

// heldPage is a bucket's held records of the window, merged.
type heldPage struct {
	m        *engine.Merger
	versions map[string]bool
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
	r.start = r.o.Now()
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
	if tok, ok := strings.CutPrefix(m.Subject(), routing.ArchivePrefix); ok && sensor == "" {
		sensor, _ = routing.UnescapeToken(tok)
	}
	inEnc := h.Get(engine.HeaderEncoding)
	ev, err := r.ev.Evaluate(ctx, sensor, seq, m.Data(), inEnc, r.o.Peer)
	switch {
	case errors.Is(err, engine.ErrUnknownSensor):
		// Its sensor was removed from the configuration since.
		r.p.Unregistered++
		r.mark(seq)
		return r.maybeFlush(ctx)
	case err != nil:
		// The switch accepted it: only a corrupt archive gets here.
		r.o.Log.Warn("archived batch undecodable, skipped", "seq", seq, "err", err)
		r.p.Skipped++
		r.mark(seq)
		return r.maybeFlush(ctx)
	}
	r.p.Batches++
	r.p.Filtered += int64(ev.Filtered)
	r.p.ThresholdHeld += int64(ev.Held)
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
		// Held by the switch until its bucket ends, then released
		// merged: merged here with the bucket's other records of the
		// window, delivered at the window's end.
		k := heldKey{release: engine.ReleaseAt(ts, out.Hold), tlp: out.TLP, hold: out.Hold}
		pg := r.held[k]
		if pg == nil {
			pg = &heldPage{m: r.ev.NewMerger(), versions: map[string]bool{}}
			r.held[k] = pg
		}
		for v := range strings.SplitSeq(out.Versions, ",") {
			pg.versions[v] = true
		}
		return pg.m.Add(out.Body)
	}
	if err := r.pace.wait(ctx, out.Records); err != nil {
		return err
	}
	id := "bf:" + r.epoch + ":" + strconv.FormatUint(seq, 10) + ":" + r.o.Peer + ":" + out.TLP + ":0"
	return r.publish(out.Body, id, out.TLP, out.Versions, r.encoding(inEnc))
}

// deliverHeld publishes the window's held pages, each once its bucket
// has ended (old input's has: at once), in a fixed order and under ids
// that name the window's sequences, so that a rerun of the window makes
// the same messages.
func (r *run) deliverHeld(ctx context.Context) error {
	keys := slices.SortedFunc(maps.Keys(r.held), func(a, b heldKey) int {
		return cmp.Or(cmp.Compare(a.release, b.release), cmp.Compare(a.tlp, b.tlp), cmp.Compare(a.hold, b.hold))
	})
	for _, k := range keys {
		pg := r.held[k]
		if err := sleepUntil(ctx, r.o.Now(), time.Unix(k.release, 0)); err != nil {
			return err
		}
		if err := r.pace.wait(ctx, pg.m.Len()); err != nil {
			return err
		}
		versions := slices.Sorted(maps.Keys(pg.versions))
		id := "bf:" + r.epoch + ":" + strconv.FormatUint(r.win.lo, 10) + "-" + strconv.FormatUint(r.win.hi, 10) + ":" + r.o.Peer + ":" +
			k.tlp + ":" + strconv.FormatInt(int64(k.hold/time.Second), 10) + ":" + strconv.FormatInt(k.release, 10)
		if err := r.publish(pg.m.Body(), id, k.tlp, strings.Join(versions, ","), r.encoding("")); err != nil {
			return err
		}
	}
	clear(r.held)
	return nil
}

// publish sends body in chunks, the internal id id with the chunk's
// index made opaque under the switch's secret.
func (r *run) publish(body []byte, id, tlp, versions string, enc cof.Encoding) error {
	for i, chunk := range engine.SplitLines(body, engine.MaxOutputBytes(r.js.Conn().MaxPayload())) {
		data, err := r.codec.Compress(nil, chunk, enc)
		if err != nil {
			return err
		}
		msg := nats.NewMsg(routing.OutSubject(r.o.Peer))
		msg.Data = data
		msg.Header.Set(jetstream.MsgIDHeader, r.ids.MsgID(id+":"+strconv.Itoa(i)))
		n := countLines(chunk)
		engine.SetBatchHeaders(msg.Header, tlp, enc, n, versions)
		if r.o.Signer != nil {
			msg.Header.Set(engine.HeaderExchangeSignature, r.o.Signer.SignOutput(batchsig.OutputOf(msg.Subject, msg.Header), msg.Data))
		}
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

// maybeFlush ends the window at the last sequence of each block of
// Window archive sequences: windows fall at the same sequences in every
// run, so that a rerun of a window merges and names its held pages as
// the first did.
func (r *run) maybeFlush(ctx context.Context) error {
	if r.win.hi%uint64(r.o.Window) == 0 {
		return r.flush(ctx)
	}
	return nil
}

// flush delivers the window's held pages, awaits its publishes, then
// saves its range as done.
func (r *run) flush(ctx context.Context) error {
	if err := r.deliverHeld(ctx); err != nil {
		return err
	}
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
