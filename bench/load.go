package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cofswitch/cofswitch/cof"
	"github.com/cofswitch/cofswitch/gen"
	"github.com/cofswitch/cofswitch/routing"
	"github.com/cofswitch/cofswitch/switch/engine"
)

// pool is the sensors' input, made before the timed window: encoded
// batches of exactly perBatch records each, which the sensors send round
// robin.
type pool struct {
	batches  [][]byte
	perBatch int
	enc      cof.Encoding
}

func (p *pool) records() int { return len(p.batches) * p.perBatch }

// makePool generates records (at least one batch) into batches of
// perBatch records in the encoding enc.
func makePool(g *gen.Generator, codec *cof.Codec, records, perBatch int, enc cof.Encoding) (*pool, error) {
	n := max(records/perBatch, 1)
	p := &pool{batches: make([][]byte, 0, n), perBatch: perBatch, enc: enc}
	var body []byte
	for range n {
		body = g.AppendLines(body[:0], perBatch)
		data, err := codec.Compress(nil, body, enc)
		if err != nil {
			return nil, fmt.Errorf("bench: compressing a batch: %w", err)
		}
		// Compressors leave room for the uncompressed size: a pool of
		// millions of records would hold five times its bytes.
		p.batches = append(p.batches, bytes.Clone(data))
	}
	return p, nil
}

// sent is one input batch as its sensor saw it.
type sent struct {
	sensor  string
	seq     uint64 // the sequence in the sensor's input stream
	at      int64  // unix ns: when it was due (paced) or sent (flat out)
	records int32
}

// loadResult is what the sensors sent.
type loadResult struct {
	sent     []sent
	records  uint64
	first    time.Time
	refused  uint64 // publishes refused at a sensor's COF_IN cap, then retried
	duration time.Duration
}

// load drives the sensors: each on its own connection, publishing batches
// from the pool round robin for d, at rate records a second across all
// sensors or, with rate 0, as fast as the gate lets them.
type load struct {
	url     string
	sensors []string
	pool    *pool
	rate    float64
	d       time.Duration
	window  int // batches in flight per sensor
	gate    *gate
}

func (l *load) run(ctx context.Context) (loadResult, error) {
	start := time.Now().Add(50 * time.Millisecond) // all sensors from one instant
	results := make([]loadResult, len(l.sensors))
	errs := make([]error, len(l.sensors))
	var wg sync.WaitGroup
	for i, id := range l.sensors {
		wg.Go(func() { results[i], errs[i] = l.sensor(ctx, i, id, start) })
	}
	wg.Wait()
	if err := joinDistinct(errs); err != nil {
		return loadResult{}, err
	}
	var out loadResult
	for _, r := range results {
		out.sent = append(out.sent, r.sent...)
		out.records += r.records
		out.refused += r.refused
		if out.first.IsZero() || r.first.Before(out.first) {
			out.first = r.first
		}
	}
	out.duration = time.Since(start)
	return out, nil
}

type inflight struct {
	fut     jetstream.PubAckFuture
	msg     *nats.Msg
	at      int64
	records int32
}

// sensor is one sensor's publishing loop.
func (l *load) sensor(ctx context.Context, k int, id string, start time.Time) (loadResult, error) {
	nc, err := nats.Connect(l.url, nats.Name("cofswitch-bench-"+id))
	if err != nil {
		return loadResult{}, fmt.Errorf("sensor %s: %w", id, err)
	}
	defer nc.Close()
	// The acks channel bounds what is in flight; the client's own bound
	// sits above it, so that it never stalls a publish.
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(2*l.window+1))
	if err != nil {
		return loadResult{}, fmt.Errorf("sensor %s: %w", id, err)
	}
	var res loadResult
	acks := make(chan inflight, l.window)
	collected := make(chan error, 1)
	go func() { collected <- l.collect(ctx, id, js, acks, &res) }()

	subject := routing.InSubject(id)
	n := len(l.sensors)
	var interval time.Duration
	if l.rate > 0 {
		interval = time.Duration(float64(time.Second) * float64(l.pool.perBatch*n) / l.rate)
	}
	offset := interval * time.Duration(k) / time.Duration(n) // spread the sensors
	time.Sleep(time.Until(start))
	var err2 error
	for j := 0; ; j++ {
		var due time.Time
		if interval > 0 {
			due = start.Add(offset + time.Duration(j)*interval)
			if due.Sub(start) >= l.d {
				break
			}
			time.Sleep(time.Until(due))
		} else if time.Since(start) >= l.d {
			break
		}
		if ctx.Err() != nil {
			err2 = ctx.Err()
			break
		}
		l.gate.wait(ctx)
		m := nats.NewMsg(subject)
		m.Data = l.pool.batches[(k+j*n)%len(l.pool.batches)]
		if l.pool.enc != cof.Identity {
			m.Header.Set(engine.HeaderEncoding, string(l.pool.enc))
		}
		// An id makes a retried publish harmless.
		m.Header.Set(jetstream.MsgIDHeader, id+":"+strconv.Itoa(j))
		now := time.Now()
		if due.IsZero() {
			due = now
		}
		if res.first.IsZero() {
			res.first = due
		}
		l.gate.inflight.Add(1)
		fut, err := js.PublishMsgAsync(m)
		if err != nil {
			l.gate.inflight.Add(-1)
			err2 = fmt.Errorf("sensor %s: publish: %w", id, err)
			break
		}
		acks <- inflight{fut: fut, msg: m, at: due.UnixNano(), records: int32(l.pool.perBatch)}
	}
	close(acks)
	if err := <-collected; err != nil {
		return res, err
	}
	return res, err2
}

// collect waits for each publish's ack. A publish refused at the
// sensor's cap in its input stream, or unanswered, is sent again (its message id
// makes that harmless) for up to a minute; any other refusal, or ctx
// ending, fails the sensor.
func (l *load) collect(ctx context.Context, id string, js jetstream.JetStream, acks <-chan inflight, res *loadResult) error {
	var failed error
	for in := range acks {
		var ack *jetstream.PubAck
		var err error
		select {
		case ack = <-in.fut.Ok():
		case err = <-in.fut.Err():
		case <-ctx.Done():
			err = ctx.Err()
		}
		backoff, since := 2*time.Millisecond, time.Now()
		for ack == nil && failed == nil {
			switch {
			case ctx.Err() != nil:
				failed = ctx.Err()
			case !retryable(err):
				failed = fmt.Errorf("sensor %s: publish refused: %w", id, err)
			case time.Since(since) > time.Minute:
				failed = fmt.Errorf("sensor %s: publish not stored after a minute of retries: %w", id, err)
			}
			if failed != nil {
				break
			}
			if isFull(err) {
				res.refused++
			}
			time.Sleep(backoff)
			backoff = min(2*backoff, 100*time.Millisecond)
			pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			ack, err = js.PublishMsg(pctx, in.msg)
			cancel()
		}
		l.gate.inflight.Add(-1)
		if ack == nil {
			continue // failed: drain the channel
		}
		res.sent = append(res.sent, sent{sensor: id, seq: ack.Sequence, at: in.at, records: in.records})
		res.records += uint64(in.records)
	}
	return failed
}

// isFull: the stream refused the message at a limit (the sensor's cap).
func isFull(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode == 10077
}

// retryable: a refusal at a limit, or no answer in time.
func retryable(err error) bool {
	return isFull(err) || errors.Is(err, jetstream.ErrAsyncPublishTimeout) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, nats.ErrTimeout) || errors.Is(err, nats.ErrNoResponders) || errors.Is(err, jetstream.ErrNoStreamResponse)
}

// joinDistinct joins errors, each distinct message once: every sensor
// tends to fail the same way.
func joinDistinct(errs []error) error {
	seen := map[string]bool{}
	var out []error
	for _, err := range errs {
		if err != nil && !seen[err.Error()] {
			seen[err.Error()] = true
			out = append(out, err)
		}
	}
	return errors.Join(out...)
}

// gate holds flat-out sensors back while the input backlog, counting the
// publishes in flight, is at its high-water mark, so that they keep the
// switch fed without a queue that would only add latency (or fill the
// stream, whose per-sensor cap would then refuse them).
type gate struct {
	high     int64
	msgs     atomic.Int64 // the input streams' messages at the last poll
	inflight atomic.Int64 // publishes not yet acked
}

func (g *gate) wait(ctx context.Context) {
	for g.msgs.Load()+g.inflight.Load() >= g.high && ctx.Err() == nil {
		time.Sleep(time.Millisecond)
	}
}

// watch polls the input streams' message counts until ctx ends: every
// few milliseconds, a few streams each time (all of them with a handful of
// sensors; with a thousand, each is seen every second or so), summing the
// last count seen of each.
func (g *gate) watch(ctx context.Context, js jetstream.JetStream, sensors []string) {
	const perTick = 8
	var streams []jetstream.Stream
	for _, id := range sensors {
		s, err := js.Stream(ctx, routing.InStream(id))
		if err != nil {
			return
		}
		streams = append(streams, s)
	}
	counts := make([]int64, len(streams))
	var total int64
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	next := 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for range min(perTick, len(streams)) {
			if info, err := streams[next].Info(ctx); err == nil {
				n := int64(info.State.Msgs)
				total += n - counts[next]
				counts[next] = n
			}
			next = (next + 1) % len(streams)
		}
		g.msgs.Store(total)
	}
}
