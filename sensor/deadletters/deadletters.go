// Package deadletters reads the dead letters the switch keeps in COF_DLQ:
// the records (or whole batches) it rejected, with the reason and the
// original bytes, on each sensor's subject.
//
// A sensor reads its own with its own seed: Read takes them through the
// durable consumer the switch provisions for it (filtered to its subject,
// acked as read), and a Client lists and shows them through its view
// consumer (filtered alike, acking nothing, rewound by the sensor). Its
// account may use those two and nothing else of COF_DLQ. The operator
// (the switch's identity) lists, shows and purges any sensor's with a
// Client on the exchange's own API. What an identity may do is the
// server's to decide: a Client reports the server's refusal as ErrDenied.
//
// It imports routing and the NATS client; nothing of the switch (the
// header names it reads are part of the exchange's wire format, repeated
// here).
package deadletters

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cofswitch/cofswitch/routing"
)

// Headers of a batch dead-lettered whole, as the switch writes them.
const (
	headerError     = "Cofswitch-Error"
	headerErrorKind = "Cofswitch-Error-Kind"
	headerInputSeq  = "Cofswitch-Input-Seq"
	headerEncoding  = "Content-Encoding"
)

// ErrBind reports that the sensor's dead-letter consumer could not be
// bound: a sensor without an nkey has none, and credentials of another
// identity reach none.
var ErrBind = errors.New("deadletters: cannot bind the sensor's dead-letter consumer")

// Options choose what Read does.
type Options struct {
	// APIPrefix is the JetStream API prefix of the sensor's account
	// (accounts.APIPrefix with credentials; "" for the operator).
	APIPrefix string
	// Limit stops after that many entries (0: no limit).
	Limit int
	// Idle stops once nothing has arrived for that long (0: 2 s).
	Idle time.Duration
	// Keep leaves what was read unacknowledged, so that the next reader
	// sees it again (after the consumer's ack wait).
	Keep bool
}

// defaultIdle is how long Read waits for more when nothing arrives.
const defaultIdle = 2 * time.Second

// Read writes the sensor's dead letters to w, one JSON object per line:
// the switch's entry for each rejected record (line, kind, field, error,
// raw), and for a batch rejected whole an object with its kind, error,
// input sequence, encoding and size. It acks what it wrote unless
// o.Keep. It returns the number of entries written.
func Read(ctx context.Context, nc *nats.Conn, sensor string, o Options, w io.Writer) (int, error) {
	var js jetstream.JetStream
	var err error
	if o.APIPrefix != "" {
		js, err = jetstream.NewWithAPIPrefix(nc, strings.TrimSuffix(o.APIPrefix, "."))
	} else {
		js, err = jetstream.New(nc)
	}
	if err != nil {
		return 0, err
	}
	name := routing.DLQConsumer(sensor)
	cons, err := js.Consumer(ctx, routing.DLQStream, name)
	if err != nil {
		return 0, fmt.Errorf("%w %s on %s: %w", ErrBind, name, routing.DLQStream, err)
	}
	return drain(ctx, cons, o, !o.Keep, w)
}

// drain writes what cons delivers until o.Limit entries, o.Idle without
// any, or ctx ends; ack acks each message written.
func drain(ctx context.Context, cons jetstream.Consumer, o Options, ack bool, w io.Writer) (int, error) {
	idle := o.Idle
	if idle <= 0 {
		idle = defaultIdle
	}
	out := bufio.NewWriter(w)
	defer out.Flush()
	n := 0
	for ctx.Err() == nil {
		batch, err := cons.Fetch(64, jetstream.FetchMaxWait(idle))
		if err != nil {
			return n, fmt.Errorf("deadletters: %w", err)
		}
		got := 0
		for m := range batch.Messages() {
			got++
			k, err := writeEntries(out, m, o.Limit-n, o.Limit > 0)
			n += k
			if err != nil {
				return n, err
			}
			if ack {
				_ = m.Ack()
			}
			if o.Limit > 0 && n >= o.Limit {
				return n, out.Flush()
			}
		}
		if err := out.Flush(); err != nil {
			return n, fmt.Errorf("deadletters: writing: %w", err)
		}
		if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) && !errors.Is(err, context.DeadlineExceeded) {
			return n, fmt.Errorf("deadletters: %w", err)
		}
		if got == 0 {
			return n, nil
		}
	}
	return n, nil
}

// wholeBatch is what Read writes for a batch rejected whole.
type wholeBatch struct {
	WholeBatch bool   `json:"whole_batch"`
	Kind       string `json:"kind"`
	Error      string `json:"error"`
	InputSeq   uint64 `json:"input_seq,omitempty"`
	Encoding   string `json:"encoding,omitempty"`
	Bytes      int    `json:"raw_bytes"`
}

// writeEntries writes one dead-letter message's entries, at most room of
// them when limited.
func writeEntries(out *bufio.Writer, m jetstream.Msg, room int, limited bool) (int, error) {
	h := m.Headers()
	if kind := h.Get(headerErrorKind); kind != "" {
		seq, _ := strconv.ParseUint(h.Get(headerInputSeq), 10, 64)
		line, _ := json.Marshal(wholeBatch{WholeBatch: true, Kind: kind, Error: h.Get(headerError), InputSeq: seq,
			Encoding: h.Get(headerEncoding), Bytes: len(m.Data())})
		_, err := out.Write(append(line, '\n'))
		return 1, err
	}
	n := 0
	for line := range strings.SplitSeq(strings.TrimSuffix(string(m.Data()), "\n"), "\n") {
		if line == "" {
			continue
		}
		if limited && n >= room {
			break
		}
		if _, err := out.WriteString(line + "\n"); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}
