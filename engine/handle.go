package engine

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/cofswitch/cofswitch/cof"
	"github.com/cofswitch/cofswitch/routing"
)

// Header names on bus messages.
const (
	HeaderEncoding  = "Content-Encoding"
	HeaderSensor    = "Cofswitch-Sensor"     // the sensor whose input produced the batch
	HeaderRecords   = "Cofswitch-Records"    // records in the batch
	HeaderInputSeq  = "Cofswitch-Input-Seq"  // COF_IN stream sequence of the input
	HeaderError     = "Cofswitch-Error"      // why a whole input was dead-lettered
	HeaderErrorKind = "Cofswitch-Error-Kind" // the class of that error
	HeaderSubject   = "Cofswitch-Subject"    // the input's subject, on a dead-lettered whole
	HeaderPolicies  = "Cofswitch-Policies"   // the policy set version applied
	HeaderTLP       = "Cofswitch-TLP"        // the TLP 2.0 label of the batch ("TLP:AMBER")
)

// worker holds the buffers one goroutine reuses from batch to batch.
type worker struct {
	e      *Engine
	br     *cof.BatchReader
	bodies map[string][]byte // outputKey(peer, tlp) -> NDJSON for this batch
	counts map[string]*peerCount
	dlq    []byte
}

type peerCount struct {
	records, filtered int
}

func (e *Engine) newWorker() *worker {
	return &worker{e: e, br: e.codec.NewBatchReader(), bodies: map[string][]byte{}, counts: map[string]*peerCount{}}
}

// handle switches one input batch and acks or naks it.
func (w *worker) handle(msg jetstream.Msg) {
	e := w.e
	meta, err := msg.Metadata()
	if err != nil {
		e.log.Error("input without metadata", "subject", msg.Subject(), "err", err)
		_ = msg.Term()
		return
	}
	seq := meta.Sequence.Stream
	ctx, cancel := context.WithTimeout(context.Background(), e.o.publishTimeout)
	defer cancel()

	reg := e.reg.Load()
	sensor, err := routing.SensorOf(msg.Subject())
	if err == nil {
		if _, ok := reg.table.Sensor(sensor); !ok {
			err = fmt.Errorf("sensor %q is not registered", sensor)
		}
	}
	if err != nil {
		w.deadLetterWhole(ctx, msg, seq, meta.NumDelivered, "unknown_sensor", err)
		return
	}
	enc, err := cof.ParseEncoding(msg.Headers().Get(HeaderEncoding))
	if err == nil {
		err = w.br.Reset(msg.Data(), enc)
	}
	if err != nil {
		w.deadLetterWhole(ctx, msg, seq, meta.NumDelivered, batchErrorKind(err), err)
		return
	}
	in := w.route(sensor, seq, reg)
	pubs, err := w.publish(ctx, sensor, seq, enc, reg.policies.Version())
	if err != nil {
		e.log.Error("publishing outputs failed", "seq", seq, "err", err)
		w.retry(msg, meta.NumDelivered)
		return
	}
	outcome := w.await(ctx, pubs)
	if outcome.dlqFailed || (outcome.transient && int(meta.NumDelivered) < e.o.maxAttempts) {
		w.retry(msg, meta.NumDelivered)
		return
	}
	if err := msg.DoubleAck(ctx); err != nil {
		// The server will redeliver; the outputs' message ids make the
		// second pass a no-op for every peer already served.
		e.log.Warn("ack failed; the batch will be redelivered", "seq", seq, "err", err)
		return
	}
	w.count(sensor, in, outcome)
}

// outputKey names one output of a batch: a peer receives one batch per
// TLP label of its subscriptions, so that every batch carries one label.
func outputKey(peer, tlp string) string {
	if tlp == "" {
		return peer
	}
	return peer + "\x00" + tlp
}

func splitOutputKey(k string) (peer, tlp string) {
	peer, tlp, _ = strings.Cut(k, "\x00")
	return peer, tlp
}

// inCount summarises one input batch.
type inCount struct {
	records, invalid int
}

// route parses every line and appends each record to the outputs of the
// peers that want it; invalid lines go to the dead-letter buffer.
func (w *worker) route(sensor string, seq uint64, reg *registry) inCount {
	clear(w.counts)
	for peer := range w.bodies {
		w.bodies[peer] = w.bodies[peer][:0]
	}
	w.dlq = w.dlq[:0]
	table, pols := reg.table, reg.policies
	var in inCount
	for w.br.Next() {
		rec := w.br.Record()
		if rec == nil {
			in.invalid++
			w.dlq = appendDeadLine(w.dlq, w.br.LineNumber(), w.br.LineErr(), sensor, seq, w.br.Line())
			continue
		}
		switch {
		case rec.SensorID == "":
			rec.SensorID = sensor
		case !table.MayPublishAs(sensor, rec.SensorID):
			in.invalid++
			err := &cof.Error{Field: cof.KeySensorID, Err: ErrSensorMismatch,
				Reason: strconv.Quote(rec.SensorID) + " is not sensor " + strconv.Quote(sensor) + " nor one it relays"}
			w.dlq = appendDeadLine(w.dlq, w.br.LineNumber(), err, sensor, seq, w.br.Line())
			continue
		}
		in.records++
		for _, rt := range table.Routes(rec.SensorID) {
			c := w.counts[rt.Peer]
			if c == nil {
				c = &peerCount{}
				w.counts[rt.Peer] = c
			}
			p, ok := pols.Lookup(rt.Subscription.Policy)
			if !ok {
				// Config checks make this unreachable; withhold rather
				// than leak if it ever happens.
				c.filtered++
				continue
			}
			out, keep := p.Apply(rec)
			if !keep {
				c.filtered++
				continue
			}
			c.records++
			key := outputKey(rt.Peer, rt.Subscription.TLP)
			w.bodies[key] = out.AppendLine(w.bodies[key])
		}
	}
	return in
}

// retry naks the batch with a growing delay: 1s, 2s, 4s... up to 30s.
func (w *worker) retry(msg jetstream.Msg, delivered uint64) {
	w.e.stats.addRetry()
	delay := time.Second << min(delivered-1, 5)
	if delay > 30*time.Second {
		delay = 30 * time.Second
	}
	if err := msg.NakWithDelay(delay); err != nil {
		w.e.log.Warn("nak failed; the batch will be redelivered after the ack wait", "err", err)
	}
}

func batchErrorKind(err error) string {
	switch {
	case errors.Is(err, cof.ErrUnknownEncoding):
		return "unknown_encoding"
	case errors.Is(err, cof.ErrBatchTooLarge):
		return "batch_too_large"
	case errors.Is(err, cof.ErrTooManyRecords):
		return "too_many_records"
	case errors.Is(err, cof.ErrCorrupt):
		return "corrupt"
	}
	return "undecodable"
}
