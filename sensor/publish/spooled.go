package publish

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cofswitch/cofswitch/batchsig"
	"github.com/cofswitch/cofswitch/cof"
	"github.com/cofswitch/cofswitch/routing"
	"github.com/cofswitch/cofswitch/sensor/spool"
)

// maxBackoff is the longest wait between two rounds of a spooled
// publisher that cannot reach the exchange.
const maxBackoff = 30 * time.Second

// defaultMaxPayload is NATS's default max payload, assumed until the
// server says.
const defaultMaxPayload = 1 << 20

// errNotConnected ends a round while the connection is down: a publish
// would wait in the client's reconnect buffer for an ack that times out.
var errNotConnected = errors.New("not connected to the exchange")

// Spooled is a publisher for a sensor that runs for good: each batch is
// written to a spool on disk before it is sent, sent in order with at most
// MaxPending awaiting their acks, and removed once the exchange stored it.
// While the exchange is out of reach it keeps the batches (up to the
// spool's bound, dropping the oldest) and retries with a backoff; after a
// restart it sends what the spool holds first. Ids are the batches' own,
// so a batch sent twice is stored once.
//
// Add and Flush are called from one goroutine; Run sends.
type Spooled struct {
	nc      *nats.Conn
	js      jetstream.JetStream
	sp      *spool.Spool
	o       Options
	signer  *batchsig.Signer
	log     *slog.Logger
	subject string
	maxBody int
	codec   *cof.Codec

	body  []byte
	lines int
	wake  chan struct{}

	spooled, stored, duplicates, records, dropped, failures, rejected atomic.Int64
	closeOnce                                                         sync.Once
}

// SpooledStats count a spooled publisher's work.
type SpooledStats struct {
	// Spooled batches (and their Records), Stored by the exchange,
	// Duplicates it already had, Dropped from a full spool, Rejected as
	// too large for the server's max payload (never storable); Failures
	// are rounds that will be retried.
	Spooled, Records, Stored, Duplicates, Dropped, Rejected, Failures int64
	// Backlog is what the spool holds now.
	Backlog      int64
	BacklogBytes int64
}

// NewSpooled makes a spooled publisher on the JetStream context of nc
// and the open spool sp (log may be nil).
func NewSpooled(nc *nats.Conn, js jetstream.JetStream, sp *spool.Spool, o Options, log *slog.Logger) (*Spooled, error) {
	if err := routing.ValidateID("sensor", o.Sensor, false); err != nil {
		return nil, fmt.Errorf("%w: sensor: %w", ErrInvalidOption, err)
	}
	if o.Batch == 0 {
		o.Batch = DefaultBatch
	}
	if o.MaxPending == 0 {
		o.MaxPending = DefaultMaxPending
	}
	if o.Batch < 1 || o.Batch > cof.DefaultMaxRecords || o.MaxPending < 1 {
		return nil, fmt.Errorf("%w: batch %d (1..%d), max pending %d", ErrInvalidOption, o.Batch, cof.DefaultMaxRecords, o.MaxPending)
	}
	switch o.Encoding {
	case cof.Identity, cof.Zstd, cof.S2:
	default:
		return nil, fmt.Errorf("%w: encoding %q", ErrInvalidOption, string(o.Encoding))
	}
	signer, err := o.signer()
	if err != nil {
		return nil, err
	}
	codec, err := cof.NewCodec()
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	// A sensor may start while the exchange is out of reach: its max
	// payload is then not known, and NATS's default is assumed.
	maxPayload := nc.MaxPayload()
	if maxPayload <= 0 {
		maxPayload = defaultMaxPayload
	}
	return &Spooled{nc: nc, js: js, sp: sp, o: o, log: log, subject: routing.InSubject(o.Sensor),
		maxBody: int(maxPayload) - headroom, codec: codec, signer: signer, wake: make(chan struct{}, 1)}, nil
}

// MaxLine is the longest line that fits in a batch.
func (p *Spooled) MaxLine() int { return p.maxBody }

// Add appends one COF line; a full batch is spooled. The error says why a
// batch could not be spooled (its lines are then lost: the disk is full or
// unwritable).
func (p *Spooled) Add(line []byte) error {
	if len(line) > 0 && line[len(line)-1] != '\n' {
		line = append(line, '\n')
	}
	if len(line) > p.maxBody {
		return fmt.Errorf("publish: a line of %d bytes does not fit in a batch (%d)", len(line), p.maxBody)
	}
	var err error
	if p.lines > 0 && len(p.body)+len(line) > p.maxBody {
		err = p.Flush()
	}
	p.body = append(p.body, line...)
	p.lines++
	if p.lines >= p.o.Batch {
		err = errors.Join(err, p.Flush())
	}
	return err
}

// Flush spools the partial batch, if any.
func (p *Spooled) Flush() error {
	if p.lines == 0 {
		return nil
	}
	n := p.lines
	id := BatchID(p.body)
	data, err := p.codec.Compress(nil, p.body, p.o.Encoding)
	p.body, p.lines = p.body[:0], 0
	if err != nil {
		return fmt.Errorf("publish: batch %s of %d records: %w", id, n, err)
	}
	// Meta is "encoding;records[;signature]": the signature is made once,
	// spooled with the batch, and every resend carries it.
	meta := fmt.Sprintf("%s;%d", p.o.Encoding, n)
	if p.signer != nil {
		meta += ";" + p.signer.SignInput(p.o.Sensor, string(p.o.Encoding), id, data)
	}
	_, dropped, err := p.sp.Put(id, meta, data)
	if len(dropped) > 0 {
		p.dropped.Add(int64(len(dropped)))
		p.log.Warn("spool full: oldest batches dropped", "batches", len(dropped), "dropped_total", p.dropped.Load())
	}
	if err != nil {
		return fmt.Errorf("publish: spooling batch %s of %d records: %w", id, n, err)
	}
	p.spooled.Add(1)
	p.records.Add(int64(n))
	select {
	case p.wake <- struct{}{}:
	default:
	}
	return nil
}

// Stats returns the counters.
func (p *Spooled) Stats() SpooledStats {
	st := p.sp.Stats()
	return SpooledStats{Spooled: p.spooled.Load(), Records: p.records.Load(), Stored: p.stored.Load(),
		Duplicates: p.duplicates.Load(), Dropped: p.dropped.Load(), Rejected: p.rejected.Load(), Failures: p.failures.Load(),
		Backlog: st.Entries, BacklogBytes: st.Bytes}
}

// inflight is a batch sent and not yet acked.
type inflight struct {
	seq uint64
	id  string
	fut jetstream.PubAckFuture
}

// Run sends the spool's batches until ctx ends.
func (p *Spooled) Run(ctx context.Context) {
	backoff := time.Duration(0)
	for ctx.Err() == nil {
		err := p.round(ctx)
		if err == nil {
			backoff = 0
			select {
			case <-ctx.Done():
			case <-p.wake:
			case <-time.After(time.Second):
			}
			continue
		}
		if ctx.Err() != nil {
			return
		}
		p.failures.Add(1)
		backoff = min(max(2*backoff, 250*time.Millisecond), maxBackoff)
		if p.failures.Load() == 1 || backoff == maxBackoff {
			p.log.Warn("exchange out of reach: batches kept in the spool", "err", err, "retry_in", backoff,
				"backlog", p.sp.Stats().Entries)
		}
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		}
	}
}

// round sends everything the spool holds, oldest first, and removes what
// the exchange stored; it stops at the first failure.
func (p *Spooled) round(ctx context.Context) error {
	var cursor uint64
	var queue []inflight
	for {
		if !p.nc.IsConnected() {
			return errNotConnected
		}
		if room := p.o.MaxPending - len(queue); room > 0 {
			es, err := p.sp.After(cursor, room)
			if err != nil {
				return err
			}
			for _, e := range es {
				fut, err := p.js.PublishMsgAsync(p.message(e))
				if errors.Is(err, nats.ErrMaxPayload) {
					// Cut before the server's limit was known: it can
					// never be stored, and must not block those after it.
					p.rejected.Add(1)
					p.log.Error("batch larger than the server's max payload: dropped", "batch", e.ID,
						"bytes", len(e.Data), "max_payload", p.nc.MaxPayload())
					if err := p.sp.Done(e.Seq); err != nil {
						return err
					}
					cursor = e.Seq
					continue
				}
				if err != nil {
					return fmt.Errorf("batch %s: %w", e.ID, err)
				}
				queue = append(queue, inflight{seq: e.Seq, id: e.ID, fut: fut})
				cursor = e.Seq
			}
		}
		if len(queue) == 0 {
			return nil
		}
		if err := p.await(ctx, queue[0]); err != nil {
			return err
		}
		queue = queue[1:]
	}
}

func (p *Spooled) message(e spool.Entry) *nats.Msg {
	m := nats.NewMsg(p.subject)
	m.Data = e.Data
	m.Header.Set(jetstream.MsgIDHeader, e.ID)
	// Meta is "encoding;records[;signature]".
	f := strings.SplitN(e.Meta, ";", 3)
	if enc := f[0]; enc != "" && enc != string(cof.Identity) {
		m.Header.Set("Content-Encoding", enc)
	}
	switch {
	case len(f) == 3 && f[2] != "":
		m.Header.Set(batchsig.HeaderSignature, f[2])
	default:
		// Spooled before the sensor signed: signed now (ed25519 is
		// deterministic: the same signature at every resend).
		sign(p.signer, m, p.o.Sensor)
	}
	return m
}

// await waits for one batch's ack and removes it from the spool.
func (p *Spooled) await(ctx context.Context, b inflight) error {
	timer := time.NewTimer(ackTimeout)
	defer timer.Stop()
	select {
	case ack := <-b.fut.Ok():
		if ack.Duplicate {
			p.duplicates.Add(1)
		} else {
			p.stored.Add(1)
		}
		return p.sp.Done(b.seq)
	case err := <-b.fut.Err():
		if err := p.o.Refusals.Err(); err != nil {
			return fmt.Errorf("batch %s refused: %w", b.id, err)
		}
		return fmt.Errorf("batch %s: %w", b.id, err)
	case <-timer.C:
		return fmt.Errorf("batch %s: no ack in %s", b.id, ackTimeout)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close spools the partial batch, then waits until the spool is empty or
// ctx ends (what is left stays spooled for the next start).
func (p *Spooled) Close(ctx context.Context) error {
	err := p.Flush()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for p.sp.Stats().Entries > 0 {
		select {
		case <-ctx.Done():
			return errors.Join(err, fmt.Errorf("publish: %d batches left in the spool: %w", p.sp.Stats().Entries, ctx.Err()))
		case <-tick.C:
		}
	}
	p.closeOnce.Do(p.codec.Close)
	return err
}
