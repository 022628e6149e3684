package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cofswitch/cofswitch/cof"
	"github.com/cofswitch/cofswitch/policy"
	"github.com/cofswitch/cofswitch/routing"
)

// Header names on bus messages.
const (
	HeaderEncoding  = "Content-Encoding"
	HeaderSensor    = "Cofswitch-Sensor"     // on dead letters: the sensor whose input they came from
	HeaderRecords   = "Cofswitch-Records"    // records in the batch
	HeaderInputSeq  = "Cofswitch-Input-Seq"  // on dead letters: the input's sequence in its stream
	HeaderError     = "Cofswitch-Error"      // why a whole input was dead-lettered
	HeaderErrorKind = "Cofswitch-Error-Kind" // the class of that error
	HeaderSubject   = "Cofswitch-Subject"    // the input's subject, on a dead-lettered whole
	HeaderTLP       = "Cofswitch-TLP"        // the TLP 2.0 label of the batch ("TLP:AMBER")
	// HeaderPolicyVersion names the versions of the peer's own policies
	// that made the batch (comma-separated, sorted), never the whole
	// configuration's.
	HeaderPolicyVersion = "Cofswitch-Policy-Version"
	// HeaderTrace is the input a batch came from, sealed under the
	// switch's secret (see WithTrace and TraceOpener).
	HeaderTrace = "Cofswitch-Trace"
)

// worker holds the buffers one goroutine reuses from batch to batch.
type worker struct {
	e      *Engine
	br     *cof.BatchReader
	bodies map[string]*outBody // outputKey(peer, tlp, hold) -> NDJSON for this batch
	counts map[string]*peerCount
	dlq    []byte
	kinds  map[string]int // dead letters of the batch in hand, by kind
	policy policy.Scratch // each output is encoded before the next is made
	sign   []*nats.Msg    // the batch's outputs to sign, reused
	same   []decision     // what each policy made of the record in hand
	// compressed holds the batch's chunks compressed so far (publish.go).
	compressed []compressed

	// The routes of the last sensor_id seen, resolved to their counters,
	// policies and output buffers: the records of a batch nearly always
	// share one, so the lookups are made once a batch, not per record.
	routesOf string
	targets  []target

	// Observations under a threshold policy (threshold.go), their
	// lines, and the keyed hashes of the sensor_id and organisation of
	// the routes resolved.
	thr               []obs
	sights            []obs // sightings alone, queued after route
	thrLines          []byte
	thrKey            []byte
	thrSensor, thrOrg string
	thrRes            thresholdResult
}

// outBody is one output's NDJSON for the batch in hand, and what its
// headers say.
type outBody struct {
	b        []byte
	peer     string
	tlp      string
	hold     time.Duration // held to the end of the bucket; 0: delivered at once
	versions []string      // of the policies that fed it, sorted
}

// target is one route of a sensor_id, resolved.
type target struct {
	count  *peerCount
	policy policy.Policy // nil when the registry lacks it
	out    *outBody
	th     policy.Threshold
}

type peerCount struct {
	records, filtered int
	// withheld counts the filtered records by the rule that withheld
	// them: an array, so that counting one costs an increment.
	withheld [policy.NumRules]uint32
}

func (e *Engine) newWorker() *worker {
	return &worker{e: e, br: e.codec.NewBatchReader(), bodies: map[string]*outBody{}, counts: map[string]*peerCount{}, kinds: map[string]int{}}
}

// handle switches one input batch and acks, naks or (as a last resort)
// terminates it. Every retry path is bounded by maxAttempts, so that no
// batch can loop forever, hold an ack-pending slot for good, or outlive the
// duplicate window that makes its retries harmless.
func (w *worker) handle(in Input) {
	e, msg := w.e, in.Msg
	meta, err := msg.Metadata()
	if err != nil {
		e.log.Error("input without metadata", "subject", msg.Subject(), "err", err)
		_ = msg.Term()
		return
	}
	seq := meta.Sequence.Stream
	started := time.Now()
	attempt := int(meta.NumDelivered)
	last := attempt >= e.o.maxAttempts
	defer w.e.hand.hold(msg)()
	ctx, cancel := context.WithTimeout(context.Background(), e.o.publishTimeout)
	defer cancel()

	reg := e.reg.Load()
	// The sensor's stream holds its subject alone; the check guards
	// against a stream someone reconfigured by hand.
	sensor := in.Sensor
	if s, err := routing.SensorOf(msg.Subject()); err != nil || s != sensor {
		w.deadLetterWhole(ctx, in, seq, attempt, "unknown_sensor", fmt.Errorf("subject %q in the input stream of sensor %q", msg.Subject(), sensor))
		return
	}
	registered, ok := reg.table.Sensor(sensor)
	if !ok {
		// Removed by a reload while in hand: its feeder is stopping, and
		// its open pull request must end before the batch is offered again.
		_ = msg.NakWithDelay(handBack)
		return
	}
	if kind, err := checkSignature(registered, msg); err != nil {
		w.deadLetterWhole(ctx, in, seq, attempt, kind, err)
		return
	}
	enc, err := cof.ParseEncoding(msg.Headers().Get(HeaderEncoding))
	if err == nil {
		err = w.br.Reset(msg.Data(), enc)
	}
	if err != nil {
		w.deadLetterWhole(ctx, in, seq, attempt, batchErrorKind(err), err)
		return
	}
	counted := w.route(sensor, seq, reg)
	if dropped := e.sights.add(w.sights); dropped > 0 {
		e.stats.addSightings(0, dropped)
	}
	if err := w.thresholds(ctx, in, seq, attempt, reg); err != nil {
		w.e.log.Warn("threshold: the rrsets' state cannot be read or written; will retry", "seq", seq, "attempt", attempt, "err", err)
		if !last {
			w.retry(msg, meta.NumDelivered)
		} else {
			w.stall(msg, seq, outcome{reasons: map[string]string{"threshold": err.Error()}})
		}
		return
	}
	pubs, err := w.publish(in, seq, enc, reg.policies.Version())
	if err == nil {
		pubs, err = w.archive(pubs, in, seq, counted.records, reg.policies.Version())
	}
	if err != nil {
		if !last {
			e.log.Warn("publishing outputs failed; will retry", "seq", seq, "attempt", attempt, "err", err)
			w.retry(msg, meta.NumDelivered)
			return
		}
		w.giveUp(msg, seq, counted, err)
		return
	}
	w.settle(ctx, msg, meta, sensor, counted, pubs, started)
}

// settle waits for a batch's outputs to be stored, then acks it, or
// parks what a peer could not take, or hands it back for another try.
func (w *worker) settle(ctx context.Context, msg jetstream.Msg, meta *jetstream.MsgMetadata, sensor string, counted inCount, pubs []pending, started time.Time) {
	seq := meta.Sequence.Stream
	last := int(meta.NumDelivered) >= w.e.o.maxAttempts
	outcome := w.await(ctx, pubs)
	if outcome.transient && !outcome.dlqFailed {
		// A peer's trouble is its own: its outputs wait in its park, the
		// input is acked once they are stored there.
		w.park(ctx, &outcome)
	}
	w.countStored(outcome)
	if outcome.dlqFailed || outcome.transient {
		w.rememberStored(outcome)
		if !last {
			w.retry(msg, meta.NumDelivered)
			return
		}
		// The exchange's own streams (the dead letters, the hold and
		// park) cannot store: a full disk, a server without quorum. That
		// is back-pressure, never a reason to drop what a sensor was
		// told is stored: the batch waits in its input and is tried
		// again (every 30 s by default) until they can.
		w.stall(msg, seq, outcome)
		return
	}
	if err := w.clearReleases(ctx, w.thrRes.releases); err != nil {
		// Stored but still pending: the next attempt publishes them again
		// under the same ids, which the peer's stream drops.
		w.rememberStored(outcome)
		w.e.log.Warn("threshold: released rrsets not cleared; will retry", "seq", seq, "err", err)
		w.retry(msg, meta.NumDelivered)
		return
	}
	w.complete(msg, meta, sensor, counted, outcome, started)
}

// complete acks a batch whose outputs are all stored (or counted as
// dropped) and counts it.
func (w *worker) complete(msg jetstream.Msg, meta *jetstream.MsgMetadata, sensor string, counted inCount, outcome outcome, started time.Time) {
	if err := w.ack(msg); err != nil {
		// The server will redeliver; the outputs' message ids make the
		// second pass a no-op for every peer already served.
		w.rememberStored(outcome)
		w.e.log.Warn("ack failed; the batch will be redelivered", "seq", meta.Sequence.Stream, "err", err)
		return
	}
	w.forgetStored(outcome)
	w.count(sensor, counted, outcome)
	w.e.hist.observe(counted.records+counted.invalid, len(msg.Data()), started, meta.Timestamp)
	w.trim()
}

// ack confirms a batch with its own deadline: the publish deadline may
// already be spent.
func (w *worker) ack(msg jetstream.Msg) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return msg.DoubleAck(ctx)
}

// rememberStored notes the outputs this attempt stored, for the batch's
// next attempt (see Engine.stored).
func (w *worker) rememberStored(o outcome) {
	for _, r := range o.results {
		if r.reason == "" && r.p.id != "" {
			w.e.stored.Store(r.p.id, struct{}{})
		}
	}
}

// forgetStored drops the ids of an acked batch.
func (w *worker) forgetStored(o outcome) {
	for _, r := range o.results {
		if r.p.id != "" {
			w.e.stored.Delete(r.p.id)
		}
	}
}

// stall hands a batch back (for WithStallRetry, 30 s by default) while the exchange's own streams
// cannot store its outputs, and says so at most once a minute.
func (w *worker) stall(msg jetstream.Msg, seq uint64, o outcome) {
	w.e.stats.addStalled()
	if w.e.stalls.due() {
		w.e.log.Error("outputs cannot be stored on the exchange's own streams: the input waits and is retried, nothing is dropped",
			"seq", seq, "reasons", o.reasons)
	}
	if err := msg.NakWithDelay(w.e.o.stallRetry); err != nil {
		w.e.log.Warn("nak failed; the batch will be redelivered after the ack wait", "err", err)
	}
}

// giveUp terminates a batch that could not be switched in maxAttempts
// deliveries. What was stored stays stored; what was not is counted and
// logged as lost, loudly: this is the one place the switch gives up.
func (w *worker) giveUp(msg jetstream.Msg, seq uint64, in inCount, cause error) {
	w.e.stats.addGivenUp(in.invalid)
	w.e.log.Error("batch given up after the last attempt; its undelivered records are lost",
		"subject", msg.Subject(), "seq", seq, "attempts", w.e.o.maxAttempts, "records", in.records,
		"invalid", in.invalid, "err", cause)
	if err := msg.Term(); err != nil {
		w.e.log.Warn("term failed", "seq", seq, "err", err)
	}
}

// trim drops buffers that one huge batch grew, so that a burst does not
// pin its memory in every worker for good.
func (w *worker) trim() {
	const keep = 4 << 20
	for k, b := range w.bodies {
		if cap(b.b) > keep {
			delete(w.bodies, k)
		}
	}
	if cap(w.dlq) > keep {
		w.dlq = nil
	}
}

// outputKey names one output of a batch: a peer receives one batch per
// TLP label of its subscriptions, so that every batch carries one label,
// and one per holding time.
func outputKey(peer, tlp string, hold time.Duration) string {
	return peer + "\x00" + tlp + "\x00" + strconv.FormatInt(int64(hold/time.Second), 10)
}

// inCount summarises one input batch.
type inCount struct {
	records, invalid int
}

// route parses every line and appends each record to the outputs of the
// peers that want it; invalid lines go to the dead-letter buffer.
func (w *worker) route(sensor string, seq uint64, reg *registry) inCount {
	clear(w.counts)
	for _, b := range w.bodies {
		b.b, b.versions = b.b[:0], b.versions[:0]
	}
	w.dlq = w.dlq[:0]
	clear(w.kinds)
	w.routesOf, w.targets = "", w.targets[:0]
	w.thr, w.thrLines, w.sights = w.thr[:0], w.thrLines[:0], w.sights[:0]
	w.thrOrg = ""
	if s, ok := reg.table.Sensor(sensor); ok && s.Organisation != "" {
		w.thrOrg = w.e.thr.hash("org:" + s.Organisation)
	}
	table := reg.table
	var in inCount
	for w.br.Next() {
		rec := w.br.Record()
		if rec == nil {
			in.invalid++
			w.kinds[errorKind(w.br.LineErr())]++
			w.dlq = appendDeadLine(w.dlq, w.br.LineNumber(), w.br.LineErr(), sensor, seq, w.br.Line())
			continue
		}
		switch {
		case rec.SensorID == "":
			rec.SensorID = sensor
		case !table.MayPublishAs(sensor, rec.SensorID):
			in.invalid++
			w.kinds["sensor_mismatch"]++
			err := &cof.Error{Field: cof.KeySensorID, Err: ErrSensorMismatch,
				Reason: strconv.Quote(rec.SensorID) + " is not sensor " + strconv.Quote(sensor) + " nor one it relays"}
			w.dlq = appendDeadLine(w.dlq, w.br.LineNumber(), err, sensor, seq, w.br.Line())
			continue
		}
		in.records++
		if rec.SensorID != w.routesOf { // never "" here
			w.resolve(rec.SensorID, reg)
		}
		if observed := w.offer(rec); !observed && reg.maxWindow > 0 {
			// What sensors saw decides a release, never what the peers
			// subscribe to: a sensor routed to no threshold policy (or
			// whose record its filters withheld) still counts, so that no
			// peer's choice of subscriptions releases another's records.
			w.thrKey = policy.RRsetKey(w.thrKey[:0], rec)
			w.sight(w.e.thr.rrsetKey(w.thrKey), reg.maxWindow)
		}
	}
	return in
}

// offer puts one valid record before every route of its sensor_id: each
// policy decides (once for the peers that share it), and what it keeps
// goes to the route's output, or to its threshold. It reports whether a
// threshold took it (an observation, which is also its sighting).
func (w *worker) offer(rec *cof.Record) (observed bool) {
	var key [16]byte // the record's rrset key, made once
	w.same = w.same[:0]
	for _, t := range w.targets {
		if t.policy == nil {
			// Config checks make this unreachable; withhold rather
			// than leak if it ever happens.
			t.count.filtered++
			t.count.withheld[policy.NoPolicy]++
			continue
		}
		if !t.th.Enabled() {
			// Peers under one policy get the same line: decided
			// and encoded once per record.
			if d, ok := w.decided(t.policy); ok {
				if d.rule != policy.Kept {
					t.count.filtered++
					t.count.withheld[d.rule]++
					continue
				}
				t.count.records++
				t.out.b = append(t.out.b, d.body.b[d.start:d.end]...)
				continue
			}
		}
		out, rule := t.policy.Decide(&w.policy, rec)
		if rule != policy.Kept {
			t.count.filtered++
			t.count.withheld[rule]++
			w.same = append(w.same, decision{policy: t.policy, rule: rule})
			continue
		}
		t.count.records++
		if t.th.Enabled() {
			if !observed {
				w.thrKey = policy.RRsetKey(w.thrKey[:0], rec)
				key, observed = w.e.thr.rrsetKey(w.thrKey), true
			}
			w.observe(key, t, out)
			continue
		}
		start := len(t.out.b)
		t.out.b = out.AppendLine(t.out.b)
		w.same = append(w.same, decision{policy: t.policy, rule: rule, body: t.out, start: start, end: len(t.out.b)})
	}
	return observed
}

// decision is what one policy made of the record in hand: withheld by
// rule, or the line at body.b[start:end].
type decision struct {
	policy     policy.Policy
	rule       policy.Rule
	body       *outBody
	start, end int
}

// decided is what p already made of the record in hand, if a target
// before this one had it (a threshold target's is never shared).
func (w *worker) decided(p policy.Policy) (decision, bool) {
	for _, d := range w.same {
		if samePolicy(d.policy, p) {
			return d, true
		}
	}
	return decision{}, false
}

// samePolicy: a and b are one compiled policy (or both pass). Other
// implementations are never shared: their values may not compare.
func samePolicy(a, b policy.Policy) bool {
	switch x := a.(type) {
	case *policy.Compiled:
		y, ok := b.(*policy.Compiled)
		return ok && x == y
	case policy.Pass:
		_, ok := b.(policy.Pass)
		return ok
	}
	return false
}

// resolve looks up the routes of sensorID once: their counters, policies
// and output buffers.
func (w *worker) resolve(sensorID string, reg *registry) {
	w.routesOf, w.targets = sensorID, w.targets[:0]
	for _, rt := range reg.table.Routes(sensorID) {
		c := w.counts[rt.Peer]
		if c == nil {
			c = &peerCount{}
			w.counts[rt.Peer] = c
		}
		p, _ := reg.policies.Lookup(rt.Subscription.Policy)
		var hold time.Duration
		if p != nil {
			hold = p.Release()
		}
		key := outputKey(rt.Peer, rt.Subscription.TLP, hold)
		b := w.bodies[key]
		if b == nil {
			b = &outBody{peer: rt.Peer, tlp: rt.Subscription.TLP, hold: hold}
			w.bodies[key] = b
		}
		if p != nil {
			if i, found := slices.BinarySearch(b.versions, p.Version()); !found {
				b.versions = slices.Insert(b.versions, i, p.Version())
			}
		}
		var th policy.Threshold
		if p != nil {
			th = p.Threshold()
		}
		w.targets = append(w.targets, target{count: c, policy: p, out: b, th: th})
	}
	w.thrSensor = ""
	if reg.maxWindow > 0 {
		w.thrSensor = w.e.thr.hash("sensor:" + sensorID)
	}
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
