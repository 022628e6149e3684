package engine

import (
	"bytes"
	"context"
	"errors"
	"strconv"
	"strings"

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
}

// outcome is what became of one batch's publishes.
type outcome struct {
	transient bool              // some publish may succeed if retried
	dlqFailed bool              // a dead-letter publish failed: never ack then
	results   []pendingResult   // per publish
	reasons   map[string]string // peer -> why its records were not stored
}

type pendingResult struct {
	p      pending
	reason string // "" when stored
}

// msgID is deterministic, so a redelivered input yields the same ids and
// the peer stream's duplicate window drops the second copies. It names:
// the kind, the sensor's input stream and its creation (so a recreated
// stream's restarted sequence numbers never collide), the input's
// sequence, the registry version (the chunks' contents depend on it: a
// batch retried under a new version is delivered again rather than
// half-deduplicated), the output and the chunk.
func msgID(kind string, in Input, seq uint64, version, output string, chunk int) string {
	return kind + ":" + routing.SensorName(in.Sensor) + ":" + in.Epoch + ":" + strconv.FormatUint(seq, 10) + ":" + version + ":" + output + ":" + strconv.Itoa(chunk)
}

// publish sends every non-empty output and the dead letters, without
// waiting for acks. inEnc is the input's encoding.
func (w *worker) publish(in Input, seq uint64, inEnc cof.Encoding, version string) ([]pending, error) {
	var pubs []pending
	enc := w.e.o.outEnc
	if w.e.o.outAsInput {
		enc = inEnc
	}
	sensor := in.Sensor
	for key, out := range w.bodies {
		body := out.b
		if len(body) == 0 {
			continue
		}
		peer, tlp := splitOutputKey(key)
		for i, chunk := range splitLines(body, w.e.o.maxOutput) {
			// A fresh buffer per message: the client may resend it
			// after this batch's buffers are reused.
			data, err := w.e.codec.Compress(nil, chunk, enc)
			if err != nil {
				return pubs, err
			}
			m := nats.NewMsg(routing.OutSubject(peer))
			m.Data = data
			m.Header.Set(jetstream.MsgIDHeader, msgID("in", in, seq, version, strings.TrimSuffix(peer+":"+tlp, ":"), i))
			if tlp != "" {
				m.Header.Set(HeaderTLP, tlp)
			}
			if enc != cof.Identity {
				m.Header.Set(HeaderEncoding, string(enc))
			}
			n := bytes.Count(chunk, []byte{'\n'})
			m.Header.Set(HeaderSensor, sensor)
			m.Header.Set(HeaderInputSeq, strconv.FormatUint(seq, 10))
			m.Header.Set(HeaderRecords, strconv.Itoa(n))
			m.Header.Set(HeaderPolicies, version)
			fut, err := w.e.js.PublishMsgAsync(m, jetstream.WithExpectStream(routing.PeerStream(peer)))
			if err != nil {
				return pubs, err
			}
			pubs = append(pubs, pending{peer: peer, records: n, fut: fut})
		}
	}
	for i, chunk := range splitLines(w.dlq, w.e.o.maxOutput) {
		m := nats.NewMsg(routing.DLQSubject(sensor))
		m.Data = append([]byte(nil), chunk...)
		m.Header.Set(jetstream.MsgIDHeader, msgID("dlq", in, seq, version, "", i))
		m.Header.Set(HeaderSensor, sensor)
		m.Header.Set(HeaderInputSeq, strconv.FormatUint(seq, 10))
		m.Header.Set(HeaderRecords, strconv.Itoa(bytes.Count(chunk, []byte{'\n'})))
		fut, err := w.e.js.PublishMsgAsync(m, jetstream.WithExpectStream(routing.DLQStream))
		if err != nil {
			return pubs, err
		}
		pubs = append(pubs, pending{records: bytes.Count(chunk, []byte{'\n'}), fut: fut})
	}
	return pubs, nil
}

// await collects the acks of every publish.
func (w *worker) await(ctx context.Context, pubs []pending) outcome {
	var o outcome
	for _, p := range pubs {
		var reason string
		var permanent bool
		// A future resolved before the deadline counts as resolved, even
		// if the deadline has passed since: check it first.
		var err error
		ok := false
		select {
		case <-p.fut.Ok():
			ok = true
		case err = <-p.fut.Err():
		default:
			select {
			case <-p.fut.Ok():
				ok = true
			case err = <-p.fut.Err():
			case <-ctx.Done():
				reason = "timeout"
			}
		}
		if !ok && err != nil {
			reason, permanent = classify(err)
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
		o.results = append(o.results, pendingResult{p: p, reason: reason})
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
