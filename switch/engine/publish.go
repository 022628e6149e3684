package engine

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cofswitch/cofswitch/cof"
	"github.com/cofswitch/cofswitch/routing"
)

// pending is one output publish awaiting its ack.
type pending struct {
	peer    string // "" for the dead-letter queue
	records int
	fut     jetstream.PubAckFuture
	parked  bool // sent to the peer's park (its stream is down), not to it
	toHold  bool // held or parked: the exchange's own stream
	id      string
	// stored: an earlier attempt of this batch stored it (engine.stored);
	// not sent again, so that a batch that waits longer than the
	// duplicate window is not delivered twice.
	stored bool
}

// outcome is what became of one batch's publishes.
type outcome struct {
	transient bool              // some publish may succeed if retried
	dlqFailed bool              // a dead-letter publish failed: never ack then
	results   []pendingResult   // per publish
	reasons   map[string]string // peer -> why its records were not stored
}

type pendingResult struct {
	p         pending
	reason    string // "" when stored
	permanent bool   // retrying cannot help (the peer's own limit)
	duplicate bool   // the stream had it already: stored, not again
}

// internalID names an output deterministically, so that a redelivered
// input yields the same ids and the duplicate window drops the second
// copies. It names: the kind, the sensor's input stream and its creation
// (so a recreated stream's restarted sequence numbers never collide), the
// input's sequence, the registry version (the chunks' contents depend on
// it: a batch retried under a new version is delivered again rather than
// half-deduplicated), the output and the chunk. It reaches the operator's
// own streams as is, and a peer only through secrets.msgID.
func internalID(kind string, in Input, seq uint64, version, output string, chunk int) string {
	return kind + ":" + routing.SensorName(in.Sensor) + ":" + in.Epoch + ":" + strconv.FormatUint(seq, 10) + ":" + version + ":" + output + ":" + strconv.Itoa(chunk)
}

// publish sends every non-empty output and the dead letters, without
// waiting for acks. inEnc is the input's encoding. Outputs of policies
// that hold their records go to the hold stream, to be released when
// their bucket ends (see release.go); the others to the peer's stream.
func (w *worker) publish(in Input, seq uint64, inEnc cof.Encoding, version string) ([]pending, error) {
	var pubs []pending
	enc := w.e.o.outEnc
	if w.e.o.outAsInput {
		enc = inEnc
	}
	now := time.Now()
	clear(w.compressed)
	w.compressed = w.compressed[:0]
	// Every output is made first and then signed at once, so that the
	// batch's outputs (and those of the workers signing meanwhile) share
	// one signature (batchsig.Group).
	var ready []outMsg
	for _, out := range w.bodies {
		if len(out.b) == 0 {
			continue
		}
		output := outputName(out)
		for i, chunk := range splitLines(out.b, w.e.o.maxOutput) {
			r, err := w.prepareOutput(out, chunk, internalID("in", in, seq, version, output, i), enc, in, seq, now)
			if err != nil {
				return pubs, err
			}
			ready = append(ready, r)
		}
	}
	for _, rel := range w.thrRes.releases {
		body := []byte(strings.Join(rel.lines, ""))
		for i, chunk := range splitLines(body, w.e.o.maxOutput) {
			r, err := w.prepareOutput(rel.out, chunk, releaseID(rel, i), enc, in, seq, now)
			if err != nil {
				return pubs, err
			}
			ready = append(ready, r)
		}
	}
	w.signReady(ready)
	for _, r := range ready {
		p, err := w.sendOutput(r)
		if err != nil {
			return pubs, err
		}
		pubs = append(pubs, p)
	}
	sensor := in.Sensor
	for i, chunk := range splitLines(w.dlq, w.e.o.maxOutput) {
		id := internalID("dlq", in, seq, version, "", i)
		if w.e.wasStored(id) {
			pubs = append(pubs, pending{records: bytes.Count(chunk, []byte{'\n'}), id: id, stored: true})
			continue
		}
		m := nats.NewMsg(routing.DLQSubject(sensor))
		m.Data = append([]byte(nil), chunk...)
		// The DLQ is the operator's and the sensor's own: ids in clear.
		m.Header.Set(jetstream.MsgIDHeader, id)
		m.Header.Set(HeaderSensor, sensor)
		m.Header.Set(HeaderInputSeq, strconv.FormatUint(seq, 10))
		m.Header.Set(HeaderRecords, strconv.Itoa(bytes.Count(chunk, []byte{'\n'})))
		fut, err := w.e.js.PublishMsgAsync(m, jetstream.WithExpectStream(routing.DLQStream))
		if err != nil {
			return pubs, err
		}
		pubs = append(pubs, pending{records: bytes.Count(chunk, []byte{'\n'}), fut: fut, id: id})
	}
	return pubs, nil
}

// outMsg is one chunk of an output made ready to publish, or already
// stored by an earlier attempt (m nil).
type outMsg struct {
	m      *nats.Msg
	stream string
	p      pending
}

// prepareOutput makes one chunk of an output into its message, unsigned.
func (w *worker) prepareOutput(out *outBody, chunk []byte, id string, enc cof.Encoding, in Input, seq uint64, now time.Time) (outMsg, error) {
	n := bytes.Count(chunk, []byte{'\n'})
	if w.e.wasStored(id) {
		return outMsg{p: pending{peer: out.peer, records: n, id: id, stored: true}}, nil
	}
	data, err := w.compress(chunk, enc)
	if err != nil {
		return outMsg{}, err
	}
	m, stream := w.outputMsg(out, id, in, seq, now)
	m.Data = data
	setBatchHeaders(m.Header, out.tlp, enc, n, strings.Join(out.versions, ","))
	return outMsg{m: m, stream: stream, p: pending{peer: out.peer, records: n, id: id}}, nil
}

// compressed is one chunk of the batch in hand, compressed.
type compressed struct {
	chunk, data []byte
}

// compress compresses a chunk of the batch in hand, once for every peer
// that gets the same bytes (peers under one policy): the messages share
// the compressed bytes, which nothing writes to once made. A fresh
// buffer per batch: the client may resend a message after this batch's
// buffers are reused.
func (w *worker) compress(chunk []byte, enc cof.Encoding) ([]byte, error) {
	for _, c := range w.compressed {
		if len(c.chunk) == len(chunk) && bytes.Equal(c.chunk, chunk) {
			return c.data, nil
		}
	}
	data, err := w.e.codec.Compress(nil, chunk, enc)
	if err != nil {
		return nil, err
	}
	w.compressed = append(w.compressed, compressed{chunk: chunk, data: data})
	return data, nil
}

// signReady signs, together, the outputs bound for a peer's stream (a
// parked copy keeps its signature); held ones are signed at release.
func (w *worker) signReady(ready []outMsg) {
	msgs := w.sign[:0]
	for _, r := range ready {
		if r.m != nil && r.stream != routing.HoldStream {
			msgs = append(msgs, r.m)
		}
	}
	w.e.signOutputs(msgs...)
	clear(msgs)
	w.sign = msgs[:0]
}

// sendOutput publishes one chunk of an output without waiting for its ack.
func (w *worker) sendOutput(r outMsg) (pending, error) {
	if r.m == nil {
		return r.p, nil
	}
	m, stream, p := r.m, r.stream, r.p
	parked := stream != routing.HoldStream && w.e.parking.isDown(p.peer)
	if parked {
		m, stream = parkMsg(p.peer, m), routing.HoldStream
	}
	opts := []jetstream.PublishOpt{jetstream.WithExpectStream(stream)}
	if stream != routing.HoldStream {
		// A peer's missing stream is not waited for (the client would
		// retry for 500 ms): its outputs are parked.
		opts = append(opts, jetstream.WithRetryAttempts(0))
	}
	fut, err := w.e.js.PublishMsgAsync(m, opts...)
	if err != nil {
		return pending{}, err
	}
	p.fut, p.parked, p.toHold = fut, parked, stream == routing.HoldStream
	return p, nil
}

// outputName names an output in internal ids: peer, TLP and holding time.
func outputName(out *outBody) string {
	return out.peer + ":" + out.tlp + ":" + strconv.FormatInt(int64(out.hold/time.Second), 10)
}

// releaseID names the chunk of a threshold release: the rrset (its keyed
// hash), the output and the release's generation, never the input that
// triggered it, so that whoever publishes a pending release again (the
// batch redelivered, another process) makes the same ids.
func releaseID(rel thrRelease, chunk int) string {
	return "thr:" + hex.EncodeToString(rel.key[:]) + ":" + outputName(rel.out) + ":" + strconv.FormatUint(rel.gen, 10) + ":" + strconv.Itoa(chunk)
}

// outputMsg addresses one output chunk: to the peer, with an opaque id (and
// the sealed trace when asked for), or to the hold stream until the end of
// the bucket in which it was handled, with the internal id (the hold
// stream is the operator's alone; the id deduplicates a redelivered input
// even when it comes back in a later bucket).
func (w *worker) outputMsg(out *outBody, id string, in Input, seq uint64, now time.Time) (*nats.Msg, string) {
	if out.hold > 0 {
		m := nats.NewMsg(routing.HoldSubject(releaseAt(now, out.hold), out.peer))
		m.Header.Set(jetstream.MsgIDHeader, id)
		return m, routing.HoldStream
	}
	m := nats.NewMsg(routing.OutSubject(out.peer))
	m.Header.Set(jetstream.MsgIDHeader, w.e.sec.msgID(id))
	if w.e.o.trace {
		m.Header.Set(HeaderTrace, w.e.sec.seal(in.Sensor, seq))
	}
	return m, routing.PeerStream(out.peer)
}

// setBatchHeaders writes what a peer may know of a batch: its TLP label,
// encoding, record count and the versions of its own policies. Nothing
// else: not the sensor (the body shows sensor_id as the policy allows),
// not the input's sequence, not the configuration's version.
func setBatchHeaders(h nats.Header, tlp string, enc cof.Encoding, records int, versions string) {
	if tlp != "" {
		h.Set(HeaderTLP, tlp)
	}
	if enc != cof.Identity {
		h.Set(HeaderEncoding, string(enc))
	}
	h.Set(HeaderRecords, strconv.Itoa(records))
	if versions != "" {
		h.Set(HeaderPolicyVersion, versions)
	}
}

// releaseAt is the end of the bucket of size d holding now: buckets are
// aligned on the Unix epoch, like coarsen_time's.
func releaseAt(now time.Time, d time.Duration) int64 {
	s, secs := now.Unix(), int64(d/time.Second)
	return s - s%secs + secs
}

// await collects the acks of every publish.
func (w *worker) await(ctx context.Context, pubs []pending) outcome {
	var o outcome
	for _, p := range pubs {
		if p.stored {
			o.results = append(o.results, pendingResult{p: p, duplicate: true})
			continue
		}
		var reason string
		var permanent bool
		// A future resolved before the deadline counts as resolved, even
		// if the deadline has passed since: check it first.
		var err error
		var ack *jetstream.PubAck
		ok := false
		select {
		case ack = <-p.fut.Ok():
			ok = true
		case err = <-p.fut.Err():
		default:
			select {
			case ack = <-p.fut.Ok():
				ok = true
			case err = <-p.fut.Err():
			case <-ctx.Done():
				reason = "timeout"
			}
		}
		if !ok && err != nil {
			reason, permanent = classify(err)
			// The hold stream full is the exchange's limit, not the
			// peer's: back-pressure, never a drop.
			permanent = permanent && !p.toHold
			w.e.log.Debug("publish failed", "peer", p.peer, "reason", reason, "err", err)
		}
		if reason != "" {
			if p.peer == "" {
				o.dlqFailed = true
			} else if !permanent {
				o.transient = true
			}
			if o.reasons == nil {
				o.reasons = map[string]string{}
			}
			o.reasons[p.peer] = reason
		}
		o.results = append(o.results, pendingResult{p: p, reason: reason, permanent: permanent, duplicate: ok && ack != nil && ack.Duplicate})
	}
	return o
}

// JetStream error codes the switch tells apart.
const (
	errCodeStoreFailed = 10077 // includes "maximum bytes/messages exceeded"
	errCodeMsgTooLarge = 10054
	errCodeWrongSeq    = 10071 // an expected-sequence header did not hold
)

// classify names why a publish failed and whether retrying can help. A
// full stream with discard=new is the peer's own limit: counted, not
// retried, so it cannot hold up the other peers.
func classify(err error) (reason string, permanent bool) {
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) {
		switch {
		case apiErr.ErrorCode == errCodeStoreFailed && strings.Contains(apiErr.Description, "maximum"):
			return "stream_full", true
		case apiErr.ErrorCode == errCodeMsgTooLarge:
			return "too_large", true
		case apiErr.ErrorCode == errCodeWrongSeq:
			return "rejected", true
		}
		return "rejected", false
	}
	switch {
	case errors.Is(err, nats.ErrMaxPayload):
		return "too_large", true
	case errors.Is(err, jetstream.ErrNoStreamResponse), errors.Is(err, nats.ErrNoResponders):
		return "no_stream", false
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, nats.ErrTimeout), errors.Is(err, jetstream.ErrAsyncPublishTimeout):
		return "timeout", false
	}
	return "publish_failed", false
}

// splitLines cuts an NDJSON body into chunks of at most max bytes, at line
// ends. A single line longer than max makes a chunk of its own.
func splitLines(body []byte, max int) [][]byte {
	if len(body) == 0 {
		return nil
	}
	if len(body) <= max {
		return [][]byte{body}
	}
	var out [][]byte
	for len(body) > 0 {
		if len(body) <= max {
			out = append(out, body)
			break
		}
		cut := bytes.LastIndexByte(body[:max], '\n') + 1
		if cut == 0 {
			cut = bytes.IndexByte(body, '\n') + 1
			if cut == 0 {
				cut = len(body)
			}
		}
		out = append(out, body[:cut])
		body = body[cut:]
	}
	return out
}
