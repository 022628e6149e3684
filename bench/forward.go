package bench

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cofswitch/cofswitch/routing"
	"github.com/cofswitch/cofswitch/switch/engine"
)

// Forwarder is the raw baseline: it moves each input batch, unread, to
// the stream of every peer subscribed to its sensor, with the switch's
// inputs (engine.Inputs: every sensor's stream, pulled fairly), consumer
// settings, message ids and acks. What it reaches is the bus's
// own limit for the switch's shape of work (one stored input, one stored
// output per peer, the acks); the switch cannot beat it.
type Forwarder struct {
	nc       *nats.Conn
	js       jetstream.JetStream
	table    *routing.Table
	consumer string
	workers  int
	maxAck   int
	timeout  time.Duration
	log      *slog.Logger
	inputs   *engine.Inputs

	batches, outputs atomic.Uint64
}

// NewForwarder returns a Forwarder over nc that routes with table, pulling
// with the durable consumer name, workers batches at a time.
func NewForwarder(nc *nats.Conn, table *routing.Table, consumer string, workers int, log *slog.Logger) (*Forwarder, error) {
	if table == nil || workers < 1 || consumer == "" {
		return nil, errors.New("bench: forwarder needs a routing table, a consumer name and at least one worker")
	}
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(4*workers*64))
	if err != nil {
		return nil, fmt.Errorf("bench: jetstream: %w", err)
	}
	return &Forwarder{nc: nc, js: js, table: table, consumer: consumer, workers: workers,
		maxAck: engine.DefaultMaxAckPending, timeout: engine.DefaultPublishTimeout, log: log}, nil
}

// Counts returns the input batches forwarded and the output messages
// stored so far.
func (f *Forwarder) Counts() (batches, outputs uint64) { return f.batches.Load(), f.outputs.Load() }

// Start creates (or binds) the durable consumer on every sensor's input
// stream and starts pulling; Run then forwards.
func (f *Forwarder) Start(ctx context.Context) error {
	// Every sensor's stream must be there: a feeder would otherwise wait
	// for it in the background, and the benchmark measure its absence.
	for _, s := range f.table.Sensors() {
		if _, err := f.js.Stream(ctx, routing.InStream(s.ID)); err != nil {
			return fmt.Errorf("bench: stream %s: %w", routing.InStream(s.ID), err)
		}
	}
	f.inputs = engine.NewInputs(f.js, engine.InputOptions{
		Consumer: f.consumer, Description: "cofswitch bench: raw forwarding baseline",
		AckWait: engine.DefaultAckWait, MaxAckPending: f.maxAck, Log: f.log, MaxInFlight: max(1, f.workers/2),
	})
	f.inputs.Reconcile(f.table.Sensors())
	return nil
}

// Run forwards until ctx ends, then finishes the batches in hand.
func (f *Forwarder) Run(ctx context.Context) error {
	if f.inputs == nil {
		return errors.New("bench: forwarder not started")
	}
	var wg sync.WaitGroup
	for range f.workers {
		wg.Go(func() {
			for in := range f.inputs.C() {
				f.forward(in)
				in.Done()
			}
		})
	}
	<-ctx.Done()
	f.inputs.Stop()
	wg.Wait()
	return nil
}

// forward publishes one batch to each subscribed peer and acks it once
// every copy is stored; a failure naks it for another try.
func (f *Forwarder) forward(in engine.Input) {
	msg, sensor := in.Msg, in.Sensor
	meta, err := msg.Metadata()
	if err != nil {
		_ = msg.Term()
		return
	}
	seq := strconv.FormatUint(meta.Sequence.Stream, 10)
	var futs []jetstream.PubAckFuture
	seen := map[string]bool{}
	for _, rt := range f.table.Routes(sensor) {
		if seen[rt.Peer] {
			continue
		}
		seen[rt.Peer] = true
		m := nats.NewMsg(routing.OutSubject(rt.Peer))
		m.Data = msg.Data()
		if enc := msg.Headers().Get(engine.HeaderEncoding); enc != "" {
			m.Header.Set(engine.HeaderEncoding, enc)
		}
		m.Header.Set(jetstream.MsgIDHeader, "raw:"+routing.SensorName(sensor)+":"+in.Epoch+":"+seq+":"+rt.Peer)
		m.Header.Set(engine.HeaderSensor, sensor)
		m.Header.Set(engine.HeaderInputSeq, seq)
		fut, err := f.js.PublishMsgAsync(m, jetstream.WithExpectStream(routing.PeerStream(rt.Peer)))
		if err != nil {
			f.log.Warn("forward failed", "seq", seq, "err", err)
			_ = msg.NakWithDelay(time.Second)
			return
		}
		futs = append(futs, fut)
	}
	timer := time.NewTimer(f.timeout)
	defer timer.Stop()
	for _, fut := range futs {
		select {
		case <-fut.Ok():
		case err := <-fut.Err():
			f.log.Warn("forward failed", "seq", seq, "err", err)
			_ = msg.NakWithDelay(time.Second)
			return
		case <-timer.C:
			_ = msg.NakWithDelay(time.Second)
			return
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := msg.DoubleAck(ctx); err != nil {
		f.log.Warn("ack failed", "seq", seq, "err", err)
		return
	}
	f.batches.Add(1)
	f.outputs.Add(uint64(len(futs)))
}
