// Package publish is the sensor side of an exchange: it batches COF lines
// and publishes them on the sensor's input subject with bounded pending
// acks, retrying a failed batch under the same message id, so that a
// partner's program can publish as 'cofswitch publish' does.
//
// Lines are sent as they are: the switch validates them. The package
// imports cof, routing and accounts (the names a sensor's permissions
// allow), and the NATS client; nothing of the switch.
package publish

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"

	"github.com/cofswitch/cofswitch/accounts"
	"github.com/cofswitch/cofswitch/batchsig"
	"github.com/cofswitch/cofswitch/cof"
	"github.com/cofswitch/cofswitch/routing"
)

// Defaults.
const (
	DefaultBatch      = 500
	DefaultLinger     = 200 * time.Millisecond
	DefaultMaxPending = 64
	// maxAttempts is how often a batch is sent before it counts as failed,
	// unless the failure is one a cluster gives while it elects a leader
	// (see Options.RetryFor).
	maxAttempts = 3
	// DefaultRetryFor covers a stream leader's election after a server of
	// a cluster dies: seconds in which publishes go unanswered, more than
	// 20 on a loaded 2-core machine (the cluster test saw it).
	DefaultRetryFor = time.Minute
	// ackTimeout bounds the wait for one batch's ack.
	ackTimeout = 10 * time.Second
	// headroom is kept below the server's max payload for headers.
	headroom = 64 << 10
)

// ErrInvalidOption reports an option out of its range.
var ErrInvalidOption = errors.New("publish: invalid option")

// Options tune a Publisher. Zero values take the defaults.
type Options struct {
	Sensor     string        // the sensor id (required)
	Batch      int           // lines per batch, 1..cof.DefaultMaxRecords
	Linger     time.Duration // longest wait before a partial batch is sent
	Encoding   cof.Encoding  // batch compression (cof.Identity for none)
	MaxPending int           // most batches awaiting their acks
	// Refusals, when set, is the connection's record of the server's
	// refusals: a permissions violation then ends the waits at once.
	Refusals *Refusals
	// Stored, when set, is told of the records and bytes stored so far.
	Stored func(records int, bytes int64)
	// RetryFor is how long a batch is sent again while the server does
	// not answer (no responders, no ack in time, JetStream unavailable):
	// on a cluster, while the stream's leader is elected again. Default
	// DefaultRetryFor; negative: maxAttempts sends at most.
	RetryFor time.Duration
	// Sign, when set, signs every batch with this nkey seed (the
	// sensor's own: the exchange verifies against its registered public
	// nkey), in the Cofswitch-Signature header; see package batchsig.
	Sign nkeys.KeyPair
}

// signer is the batchsig signer of o.Sign, or nil.
func (o Options) signer() (*batchsig.Signer, error) {
	if o.Sign == nil {
		return nil, nil
	}
	s, err := batchsig.NewSigner(o.Sign)
	if err != nil {
		return nil, fmt.Errorf("%w: sign: %w", ErrInvalidOption, err)
	}
	return s, nil
}

// sign sets the signature header of a batch of sensor's, if s signs.
func sign(s *batchsig.Signer, m *nats.Msg, sensor string) {
	if s != nil {
		m.Header.Set(batchsig.HeaderSignature, s.SignInput(sensor, m.Header.Get("Content-Encoding"), m.Header.Get(jetstream.MsgIDHeader), m.Data))
	}
}

// Result says what a publisher stored.
type Result struct {
	Subject string
	Records int // records in batches stored by this publisher
	Batches int // batches sent
	// Duplicates are batches the sensor's stream already held (the same
	// content, within the duplicate window): a re-published file, or a
	// retry whose first ack was lost. Their records are not in Records.
	Duplicates       int
	DuplicateRecords int
	Failed           int   // batches not stored
	FailedRecords    int   // records in those
	LastError        error // why the last of those was not stored
	Refused          error // the server's permissions violation, if any
	// Skipped lists the lines too long for a message (ReadFrom skips them
	// and goes on), the first MaxSkippedListed of them by place and size;
	// SkippedLines counts them all.
	Skipped      []Skip
	SkippedLines int
	// Resume is where to start again to send what was not stored: the
	// first line of the earliest batch not stored or, when reading was
	// interrupted, the first line not read. Empty when all was sent.
	// Publishing the whole input again is safe too: batches already
	// stored are recognised (Duplicates) within the duplicate window.
	Resume Position
}

// Position is a line of an input.
type Position struct {
	Input string
	Line  int
}

// String is "input:line", or "" for no position.
func (p Position) String() string {
	if p.Input == "" {
		return ""
	}
	return fmt.Sprintf("%s:%d", p.Input, p.Line)
}

// Skip is one line too long for a message.
type Skip struct {
	Position
	Bytes int
}

// MaxSkippedListed bounds Result.Skipped.
const MaxSkippedListed = 10

// Refusals records the server's refusals on a sensor's connection, so that
// a publisher stops waiting for acks that will never come. Pass Handler to
// nats.ErrorHandler (ConnectOptions does).
type Refusals struct{ v atomic.Value }

// Handler is a nats.ErrHandler that records permission violations.
func (r *Refusals) Handler(_ *nats.Conn, _ *nats.Subscription, err error) {
	if errors.Is(err, nats.ErrPermissionViolation) {
		r.v.CompareAndSwap(nil, err)
	}
}

// Err is the first refusal, or nil.
func (r *Refusals) Err() error {
	if r == nil {
		return nil
	}
	if v := r.v.Load(); v != nil {
		return v.(error)
	}
	return nil
}

// ConnectOptions are what a sensor's connection needs: its own inbox
// prefix (its permissions allow no other) and r's handler.
func ConnectOptions(sensor string, r *Refusals) []nats.Option {
	return []nats.Option{nats.CustomInboxPrefix(accounts.SensorInbox(sensor)), nats.ErrorHandler(r.Handler)}
}

// Publisher batches lines for one sensor and publishes them. It is not
// safe for concurrent use.
type Publisher struct {
	js      jetstream.JetStream
	codec   *cof.Codec
	o       Options
	signer  *batchsig.Signer
	subject string
	maxBody int
	body    []byte
	lines   int
	seq     int
	queue   []*pending
	records int
	bytes   int64
	failed  int
	failedN int
	dups    int // batches the stream already held
	dupsN   int

	from      Position // first line of the batch being filled
	resume    Position // first line of the earliest batch not stored
	resumeSeq int      // and its sequence
	unread    Position // first line not read, when reading was interrupted
	skipped   []Skip
	nSkipped  int
	lastErr   error
}

type pending struct {
	msg      *nats.Msg
	fut      jetstream.PubAckFuture
	records  int
	attempts int
	first    time.Time // first sent
	sendErr  error     // why the last send failed at once
	from     Position
	seq      int // order sent, first attempt
}

// New makes a publisher on the JetStream context of nc.
func New(nc *nats.Conn, js jetstream.JetStream, o Options) (*Publisher, error) {
	if err := routing.ValidateID("sensor", o.Sensor, false); err != nil {
		return nil, fmt.Errorf("%w: sensor: %w", ErrInvalidOption, err)
	}
	if o.Batch == 0 {
		o.Batch = DefaultBatch
	}
	if o.Batch < 1 || o.Batch > cof.DefaultMaxRecords {
		return nil, fmt.Errorf("%w: batch %d: want 1..%d", ErrInvalidOption, o.Batch, cof.DefaultMaxRecords)
	}
	if o.Linger == 0 {
		o.Linger = DefaultLinger
	}
	if o.RetryFor == 0 {
		o.RetryFor = DefaultRetryFor
	}
	if o.MaxPending == 0 {
		o.MaxPending = DefaultMaxPending
	}
	if o.MaxPending < 1 || o.Linger < 0 {
		return nil, fmt.Errorf("%w: max pending and linger must be positive", ErrInvalidOption)
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
	return &Publisher{
		js: js, codec: codec, o: o, signer: signer, subject: routing.InSubject(o.Sensor),
		maxBody: int(nc.MaxPayload()) - headroom,
	}, nil
}

// MaxLine is the longest line that fits in a batch.
func (p *Publisher) MaxLine() int { return p.maxBody }

// Add appends a line (a trailing newline is added if missing), sending the
// batch when it is full or the next line would not fit in a message.
func (p *Publisher) Add(line []byte) { p.add(context.Background(), line, Position{}) }

func (p *Publisher) add(ctx context.Context, line []byte, at Position) {
	if len(line) > 0 && line[len(line)-1] != '\n' {
		line = append(line, '\n')
	}
	if p.lines > 0 && len(p.body)+len(line) > p.maxBody {
		p.flush(ctx)
	}
	if p.lines == 0 {
		p.from = at
	}
	p.body = append(p.body, line...)
	p.lines++
	if p.lines >= p.o.Batch {
		p.flush(ctx)
	}
}

// skip notes a line too long for a message.
func (p *Publisher) skip(at Position, size int) {
	p.nSkipped++
	if len(p.skipped) < MaxSkippedListed {
		p.skipped = append(p.skipped, Skip{Position: at, Bytes: size})
	}
}

// Pending reports the lines of the batch being filled.
func (p *Publisher) Pending() int { return p.lines }

// Flush sends the partial batch, if any, waiting first for the oldest ack
// when MaxPending batches are in flight.
func (p *Publisher) Flush() { p.flush(context.Background()) }

// flush is Flush whose wait for a free slot ends with ctx: an interrupted
// publisher stops waiting on a full input at once.
func (p *Publisher) flush(ctx context.Context) {
	if p.lines == 0 {
		return
	}
	data, err := p.codec.Compress(nil, p.body, p.o.Encoding)
	if err != nil {
		p.failed++
		p.failedN += p.lines
		p.lastErr = err
		if p.resumeSeq == 0 {
			p.resume, p.resumeSeq = p.from, p.seq+1
		}
		p.body, p.lines = p.body[:0], 0
		return
	}
	p.seq++
	m := nats.NewMsg(p.subject)
	m.Data = data
	m.Header.Set(jetstream.MsgIDHeader, BatchID(p.body))
	if p.o.Encoding != cof.Identity {
		m.Header.Set("Content-Encoding", string(p.o.Encoding))
	}
	sign(p.signer, m, p.o.Sensor)
	p.bytes += int64(len(p.body))
	item := &pending{msg: m, records: p.lines, from: p.from, seq: p.seq}
	p.body, p.lines = p.body[:0], 0
	p.drain(ctx, p.o.MaxPending-1)
	p.send(item)
}

// Close sends the partial batch and waits (until ctx ends) for every ack,
// then reports what was stored.
func (p *Publisher) Close(ctx context.Context) Result {
	p.Flush()
	p.drain(ctx, 0)
	p.codec.Close()
	return Result{
		Subject: p.subject, Records: p.records, Batches: p.seq, Duplicates: p.dups, DuplicateRecords: p.dupsN,
		Failed: p.failed, FailedRecords: p.failedN, Refused: p.o.Refusals.Err(),
		Skipped: p.skipped, SkippedLines: p.nSkipped, Resume: p.resumeAt(), LastError: p.lastErr,
	}
}

// resumeAt is the earliest batch not stored or else the first line not
// read.
func (p *Publisher) resumeAt() Position {
	if p.resume.Input != "" {
		return p.resume
	}
	return p.unread
}

func (p *Publisher) send(item *pending) {
	item.attempts++
	if item.first.IsZero() {
		item.first = time.Now()
	}
	fut, err := p.js.PublishMsgAsync(item.msg)
	item.fut, item.sendErr = fut, err
	if err != nil {
		item.fut = nil
	}
	p.queue = append(p.queue, item)
}

// drain waits for the oldest acks until at most keep remain pending.
func (p *Publisher) drain(ctx context.Context, keep int) {
	for len(p.queue) > keep {
		item := p.queue[0]
		p.queue = p.queue[1:]
		ack, err := p.wait(ctx, item)
		switch {
		case err == nil && ack.Duplicate:
			p.dups++
			p.dupsN += item.records
		case err == nil:
			p.records += item.records
			if p.o.Stored != nil {
				p.o.Stored(p.records, p.bytes)
			}
		case p.again(ctx, item, err):
			backoff := time.NewTimer(min(time.Duration(item.attempts)*250*time.Millisecond, 2*time.Second))
			select {
			case <-backoff.C:
			case <-ctx.Done():
				backoff.Stop()
			}
			p.send(item) // same message id: stored at most once
		default:
			p.failed++
			p.failedN += item.records
			p.lastErr = err
			if p.resumeSeq == 0 || item.seq < p.resumeSeq {
				// Retries reorder the queue: the earliest batch wins.
				p.resume, p.resumeSeq = item.from, item.seq
			}
		}
	}
}

// again reports whether a batch whose send failed with err is sent again.
func (p *Publisher) again(ctx context.Context, item *pending, err error) bool {
	if ctx.Err() != nil || p.o.Refusals.Err() != nil {
		return false
	}
	return item.attempts < maxAttempts || unanswered(err) && time.Since(item.first) < p.o.RetryFor
}

// errCodeUnavailable is the server's "JetStream system temporarily
// unavailable" (a 503 like a full stream's refusal, which is not
// temporary: only this code is waited out).
const errCodeUnavailable jetstream.ErrorCode = 10008

// unanswered reports a send that the server did not answer, or answered
// with JetStream unavailable: what a cluster does while it elects a
// stream's leader.
func unanswered(err error) bool {
	var api *jetstream.APIError
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) ||
		errors.Is(err, nats.ErrNoResponders) || errors.Is(err, jetstream.ErrNoStreamResponse) ||
		errors.Is(err, nats.ErrDisconnected) || errors.Is(err, nats.ErrReconnectBufExceeded) ||
		errors.Is(err, nats.ErrConnectionReconnecting) ||
		errors.As(err, &api) && api.ErrorCode == errCodeUnavailable
}

// wait waits for one batch's ack.
func (p *Publisher) wait(ctx context.Context, item *pending) (*jetstream.PubAck, error) {
	if err := p.o.Refusals.Err(); err != nil {
		return nil, err
	}
	if item.fut == nil {
		return nil, fmt.Errorf("publish: not sent: %w", item.sendErr)
	}
	timer := time.NewTimer(ackTimeout)
	defer timer.Stop()
	select {
	case ack := <-item.fut.Ok():
		return ack, nil
	case err := <-item.fut.Err():
		return nil, err
	case <-timer.C:
		return nil, context.DeadlineExceeded
	case <-p.refusedSoon():
		return nil, p.o.Refusals.Err()
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// BatchID is the message id of a batch: the SHA-256 of its lines, in hex.
// It is deterministic, so that a re-published file or a retried batch is
// stored once; a sensor's ids are judged in its own input stream only, so
// knowing or guessing them gains another sensor nothing.
func BatchID(lines []byte) string {
	sum := sha256.Sum256(lines)
	return hex.EncodeToString(sum[:16])
}

// refusedSoon is closed within 100 ms of a permissions violation, so that
// waits on acks that will never come end early.
func (p *Publisher) refusedSoon() <-chan struct{} {
	ch := make(chan struct{})
	if p.o.Refusals == nil {
		return ch
	}
	go func() {
		for i := 0; i < 100 && p.o.Refusals.Err() == nil; i++ {
			time.Sleep(100 * time.Millisecond)
		}
		if p.o.Refusals.Err() != nil {
			close(ch)
		}
	}()
	return ch
}
