package engine

import (
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cofswitch/cofswitch/batchsig"
	"github.com/cofswitch/cofswitch/routing"
)

// Signed batches (see package batchsig): a sensor may sign its batches
// with its nkey, and the switch signs every output it delivers to a peer
// with its own key, so that a peer can tell the exchange's batches from
// anything else that reached its stream.

// Header names of signatures.
const (
	// HeaderSignature is a sensor's signature of an input batch.
	HeaderSignature = batchsig.HeaderSignature
	// HeaderExchangeSignature is the switch's signature of an output.
	HeaderExchangeSignature = batchsig.HeaderExchangeSignature
)

// Whole-batch dead-letter kinds of signatures.
const (
	kindUnsigned     = "unsigned"      // the sensor must sign, and did not
	kindBadSignature = "bad_signature" // a signature that does not verify
)

// WithSigner makes the switch sign every output batch it publishes to a
// peer's stream (Cofswitch-Exchange-Signature) with s. Without it outputs
// are unsigned.
func WithSigner(s *batchsig.Signer) Option {
	return func(o *options) error {
		if s == nil {
			return fmt.Errorf("%w: nil signer", ErrInvalidOption)
		}
		o.signer, o.group = s, s.Group()
		return nil
	}
}

// signOutputs signs msgs, outputs about to be published to peers'
// streams (cof.out.<peer>), once their payloads and every header a peer
// relies on (Content-Encoding, Cofswitch-Records, Cofswitch-TLP,
// Cofswitch-Policy-Version, Nats-Msg-Id) are set: any later change to
// those voids the signature. They are signed together, and with the
// outputs other workers sign meanwhile (batchsig.Group): one signature
// and a proof each. It replaces a signature they have. Every path that
// publishes to a peer's stream calls it; it does nothing without
// WithSigner.
func (e *Engine) signOutputs(msgs ...*nats.Msg) {
	if e.o.signer == nil || len(msgs) == 0 {
		return
	}
	outs := make([]batchsig.Output, len(msgs))
	payloads := make([][]byte, len(msgs))
	for i, m := range msgs {
		if m.Header == nil {
			m.Header = nats.Header{}
		}
		outs[i], payloads[i] = batchsig.OutputOf(m.Subject, m.Header), m.Data
	}
	for i, s := range e.o.group.SignOutputs(outs, payloads) {
		msgs[i].Header.Set(HeaderExchangeSignature, s.Signature)
		msgs[i].Header.Set(batchsig.HeaderExchangeProof, s.Proof)
	}
}

// DefaultSignWait is how long a worker about to sign waits, while
// batches come fast, for others to sign with (WithSignWait).
const DefaultSignWait = 300 * time.Microsecond

// WithSignWait sets how long a worker about to sign its outputs waits
// for other workers' outputs to the same peers, so that they share a
// signature; only while batches come fast (batchsig.Group's wait).
// Measured with one record per message (cofswitch bench --phases
// per-record, 2 cores): no wait, 122 µs of the switch's CPU a message;
// 100 µs, 104 µs; 300 µs, 85 µs; 600 µs, 86 µs; 1 ms, 92 µs. 0 signs at
// once.
func WithSignWait(d time.Duration) Option {
	return func(o *options) error {
		if d < 0 || d > time.Second {
			return fmt.Errorf("%w: sign wait %v not in 0..1s", ErrInvalidOption, d)
		}
		o.signWait = d
		return nil
	}
}

// SigningKey is the public nkey with which the switch signs its outputs,
// or "" when it signs none.
func (e *Engine) SigningKey() string {
	if e.o.signer == nil {
		return ""
	}
	return e.o.signer.PublicKey()
}

// checkSignature judges an input batch's signature against its sensor's
// nkey, once per batch: it returns the dead-letter kind and why when the
// batch must be refused. A sensor that must sign and did not is refused
// (unsigned); a signature that does not verify is refused whether or not
// the sensor must sign (bad_signature): a forged batch never passes. A
// signature from a sensor with no registered nkey cannot be judged and is
// ignored.
func checkSignature(s routing.Sensor, msg jetstream.Msg) (kind string, err error) {
	h := msg.Headers()
	sig := h.Get(HeaderSignature)
	if s.NKey == "" || sig == "" && !s.RequireSignature {
		return "", nil
	}
	v, err := batchsig.NewVerifier(s.NKey)
	if err != nil {
		// The configuration checks the key: this cannot pass.
		return kindBadSignature, fmt.Errorf("sensor %q: %w", s.ID, err)
	}
	err = v.VerifyInput(s.ID, h.Get(HeaderEncoding), h.Get(jetstream.MsgIDHeader), msg.Data(), sig)
	switch {
	case err == nil:
		return "", nil
	case errors.Is(err, batchsig.ErrUnsigned):
		return kindUnsigned, fmt.Errorf("sensor %q must sign its batches (require_signature): %w", s.ID, err)
	}
	return kindBadSignature, fmt.Errorf("sensor %q: %w", s.ID, err)
}
