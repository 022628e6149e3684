package engine

import (
	"context"
	"encoding/base64"
	"errors"
	"strconv"
	"unicode/utf8"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cofswitch/cofswitch/cof"
	"github.com/cofswitch/cofswitch/routing"
)

// HeaderTruncated, on a whole dead-lettered batch too large to store with
// our headers, gives its original size; the payload is its beginning.
const HeaderTruncated = "Cofswitch-Truncated"

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// ErrSensorMismatch reports a record whose sensor_id names a sensor other
// than its publisher, which is not registered to relay it.
var ErrSensorMismatch = errors.New("engine: sensor_id does not match the publishing sensor")

// errorKind names the class of a line error, for the DLQ and metrics.
func errorKind(err error) string {
	kinds := []struct {
		err  error
		name string
	}{
		{cof.ErrSyntax, "syntax"}, {cof.ErrMissingField, "missing_field"}, {cof.ErrType, "type"},
		{cof.ErrDuplicateKey, "duplicate_key"}, {cof.ErrBadTime, "bad_time"}, {cof.ErrBadCount, "bad_count"},
		{cof.ErrBadName, "bad_name"}, {cof.ErrBadRRType, "bad_rrtype"}, {cof.ErrBadRData, "bad_rdata"},
		{cof.ErrBadField, "bad_field"}, {cof.ErrLineTooLong, "line_too_long"}, {ErrSensorMismatch, "sensor_mismatch"},
	}
	for _, k := range kinds {
		if errors.Is(err, k.err) {
			return k.name
		}
	}
	return "invalid"
}

// maxDeadRaw caps the original bytes kept in one DLQ entry: JSON escaping
// can grow them sixfold, and an entry must fit in one message.
const maxDeadRaw = 64 << 10

// appendDeadLine appends one DLQ entry: a JSON object with the line number,
// the error, its class and field, the sensor and input sequence, and the
// original line (as "raw", or "raw_base64" when it is not UTF-8).
func appendDeadLine(dst []byte, line int, err error, sensor string, seq uint64, raw []byte) []byte {
	field := ""
	reason := err.Error()
	var ce *cof.Error
	if errors.As(err, &ce) {
		field, reason = ce.Field, ce.Detail()
	}
	dst = append(dst, `{"line":`...)
	dst = strconv.AppendInt(dst, int64(line), 10)
	dst = append(dst, `,"kind":`...)
	dst = strconv.AppendQuote(dst, errorKind(err))
	if field != "" {
		dst = append(dst, `,"field":`...)
		dst = cof.AppendJSONString(dst, field)
	}
	dst = append(dst, `,"error":`...)
	dst = cof.AppendJSONString(dst, reason)
	dst = append(dst, `,"sensor":`...)
	dst = cof.AppendJSONString(dst, sensor)
	dst = append(dst, `,"input_seq":`...)
	dst = strconv.AppendUint(dst, seq, 10)
	if len(raw) > maxDeadRaw {
		dst = append(dst, `,"raw_bytes":`...)
		dst = strconv.AppendInt(dst, int64(len(raw)), 10)
		dst = append(dst, `,"raw_truncated":true`...)
		raw = raw[:maxDeadRaw]
	}
	if utf8.Valid(raw) {
		dst = append(dst, `,"raw":`...)
		dst = cof.AppendJSONString(dst, string(raw))
	} else {
		dst = append(dst, `,"raw_base64":"`...)
		dst = base64.StdEncoding.AppendEncode(dst, raw)
		dst = append(dst, '"')
	}
	return append(dst, "}\n"...)
}

// deadLetterWhole sends an input that cannot be read at all to the DLQ as
// it is, with the reason in headers, then acks it.
func (w *worker) deadLetterWhole(ctx context.Context, in Input, seq uint64, delivered int, kind string, cause error) {
	msg := in.Msg
	// The batch is the sensor's whose stream held it, whatever its subject
	// says (a reply the sensor redirected into its own input has another):
	// its dead letters count against that sensor's share alone.
	m := nats.NewMsg(routing.DLQSubject(in.Sensor))
	m.Data = msg.Data()
	// Only the encoding is kept of the sender's headers: its Nats-*
	// headers could make the DLQ refuse the message, and its Cofswitch-*
	// ones would forge our attribution.
	if v := msg.Headers().Get(HeaderEncoding); v != "" {
		m.Header.Set(HeaderEncoding, v)
	}
	if limit := int(w.e.nc.MaxPayload()) - 4096; len(m.Data) > limit {
		m.Header.Set(HeaderTruncated, strconv.Itoa(len(m.Data)))
		m.Data = m.Data[:limit]
	}
	m.Header.Set(jetstream.MsgIDHeader, internalID("dlq", in, seq, "whole", "", 0))
	m.Header.Set(HeaderError, truncate(cause.Error(), 1024))
	m.Header.Set(HeaderErrorKind, kind)
	m.Header.Set(HeaderSubject, msg.Subject())
	m.Header.Set(HeaderInputSeq, strconv.FormatUint(seq, 10))
	if _, err := w.e.js.PublishMsg(ctx, m, jetstream.WithExpectStream(routing.DLQStream)); err != nil {
		if delivered < w.e.o.maxAttempts {
			w.e.log.Warn("dead-lettering a whole batch failed; will retry", "seq", seq, "err", err)
			w.retry(msg, uint64(delivered))
			return
		}
		// Losing a batch the sensor was told is stored is never the
		// answer: it waits until the DLQ can take it.
		w.stall(msg, seq, outcome{reasons: map[string]string{"": "dead-lettering the whole batch: " + err.Error()}})
		return
	}
	if err := w.ack(msg); err != nil {
		w.e.log.Warn("ack failed; the batch will be redelivered", "seq", seq, "err", err)
		return
	}
	w.e.stats.addWholeDLQ(in.Sensor, kind)
	w.e.log.Warn("input batch dead-lettered whole", "subject", msg.Subject(), "seq", seq, "kind", kind, "err", cause)
}
