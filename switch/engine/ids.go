package engine

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"sync"
)

// MinSecretLen is the shortest switch secret WithSecret accepts.
const MinSecretLen = 16

// ErrBadTrace reports a Cofswitch-Trace header that the secret does not
// open: altered, or sealed under another secret.
var ErrBadTrace = errors.New("engine: trace header does not open under this secret")

// secrets derives, from the switch's secret, the key that makes message
// ids opaque and the key that seals trace headers. A peer's Nats-Msg-Id is
// an HMAC of the internal id (which names the sensor, its input sequence
// and the peer): deterministic, so that a redelivered input is
// deduplicated, but per peer and meaningless without the secret, so that
// no two peers can join their views on it and none can count the traffic
// of others.
type secrets struct {
	ids   []byte
	trace cipher.AEAD
	// macs holds HMACs keyed with ids, reset and reused: keying one costs
	// two block hashes and allocations, a good part of an id's cost.
	macs sync.Pool
}

func newSecrets(secret []byte) (*secrets, error) {
	if len(secret) < MinSecretLen {
		return nil, fmt.Errorf("%w: secret of %d bytes, want at least %d", ErrInvalidOption, len(secret), MinSecretLen)
	}
	block, err := aes.NewCipher(derive(secret, "cofswitch trace v1"))
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &secrets{ids: derive(secret, "cofswitch message ids v1"), trace: aead}, nil
}

func derive(secret []byte, label string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(label))
	return m.Sum(nil)
}

// msgID is the opaque id of an output: 144 bits of HMAC, base64url.
func (s *secrets) msgID(internal string) string {
	m, _ := s.macs.Get().(hash.Hash)
	if m == nil {
		m = hmac.New(sha256.New, s.ids)
	}
	m.Reset()
	m.Write([]byte(internal))
	var sum [sha256.Size]byte
	id := base64.RawURLEncoding.EncodeToString(m.Sum(sum[:0])[:18])
	s.macs.Put(m)
	return id
}

// seal makes a Cofswitch-Trace value: the input's sensor and sequence,
// encrypted and authenticated under a random nonce, so that only who
// holds the switch's secret (the operator, the benchmark) can join an
// output to its input, and two peers' copies of one input differ.
func (s *secrets) seal(sensor string, seq uint64) string {
	nonce := make([]byte, s.trace.NonceSize(), s.trace.NonceSize()+8+len(sensor)+s.trace.Overhead())
	_, _ = rand.Read(nonce)
	plain := binary.BigEndian.AppendUint64(make([]byte, 0, 8+len(sensor)), seq)
	plain = append(plain, sensor...)
	return base64.RawURLEncoding.EncodeToString(s.trace.Seal(nonce, nonce, plain, nil))
}

func (s *secrets) open(header string) (string, uint64, error) {
	b, err := base64.RawURLEncoding.DecodeString(header)
	n := s.trace.NonceSize()
	if err != nil || len(b) < n+8+s.trace.Overhead() {
		return "", 0, ErrBadTrace
	}
	plain, err := s.trace.Open(nil, b[:n], b[n:], nil)
	if err != nil {
		return "", 0, ErrBadTrace
	}
	return string(plain[8:]), binary.BigEndian.Uint64(plain), nil
}

// TraceOpener opens many trace headers with one derivation of the keys.
type TraceOpener struct{ s *secrets }

// NewTraceOpener returns an opener for the switch's secret.
func NewTraceOpener(secret []byte) (*TraceOpener, error) {
	s, err := newSecrets(secret)
	if err != nil {
		return nil, err
	}
	return &TraceOpener{s}, nil
}

// Open returns the sensor and input sequence a Cofswitch-Trace names.
func (o *TraceOpener) Open(header string) (sensor string, seq uint64, err error) {
	return o.s.open(header)
}
