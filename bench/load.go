package bench

import (
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
	"github.com/cofswitch/cofswitch/engine"
	"github.com/cofswitch/cofswitch/gen"
	"github.com/cofswitch/cofswitch/routing"
)

// pool is the sensors' input, made before the timed window: encoded
// batches of exactly perBatch records each, which the sensors send round
// robin.
type pool struct {
	batches  [][]byte
	perBatch int
	enc      cof.Encoding
}

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
		p.batches = append(p.batches, data)
	}
	return p, nil
}

// sent is one input batch as its sensor saw it.
type sent struct {
	seq     uint64 // COF_IN sequence
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
	if err := errors.Join(errs...); err != nil {
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
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(l.window))
	if err != nil {
		return loadResult{}, fmt.Errorf("sensor %s: %w", id, err)
	}
	var res loadResult
	acks := make(chan inflight, l.window)
	collected := make(chan error, 1)
	go func() { collected <- l.collect(ctx, js, acks, &res) }()

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
		fut, err := js.PublishMsgAsync(m)
		if err != nil {
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

// collect waits for each publish's ack; a publish refused (a sensor at its
// cap in COF_IN) or lost is sent again, synchronously, until stored.
func (l *load) collect(ctx context.Context, js jetstream.JetStream, acks <-chan inflight, res *loadResult) error {
	var failed error
	for in := range acks {
		var ack *jetstream.PubAck
		select {
		case ack = <-in.fut.Ok():
		case <-in.fut.Err():
			for ack == nil && failed == nil {
				res.refused++
				time.Sleep(2 * time.Millisecond)
				pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				a, err := js.PublishMsg(pctx, in.msg)
				cancel()
				switch {
				case err == nil:
					ack = a
				case ctx.Err() != nil:
					failed = ctx.Err()
				}
			}
		}
		if ack == nil {
			continue // failed: drain the channel
		}
		res.sent = append(res.sent, sent{seq: ack.Sequence, at: in.at, records: in.records})
		res.records += uint64(in.records)
	}
	return failed
}

// gate holds flat-out sensors back while COF_IN's backlog is at its high
// water mark, so that they feed the switch rather than fill the stream
// (whose per-sensor cap would then refuse them).
type gate struct {
	closed atomic.Bool
}

func (g *gate) wait(ctx context.Context) {
	for g.closed.Load() && ctx.Err() == nil {
		time.Sleep(time.Millisecond)
	}
}

// watch polls COF_IN's message count every few milliseconds until ctx
// ends, closing the gate at high messages and opening it below.
func (g *gate) watch(ctx context.Context, js jetstream.JetStream, high uint64) {
	stream, err := js.Stream(ctx, routing.InStream)
	if err != nil {
		return
	}
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			g.closed.Store(false)
			return
		case <-t.C:
		}
		info, err := stream.Info(ctx)
		if err != nil {
			continue
		}
		g.closed.Store(info.State.Msgs >= high)
	}
}
