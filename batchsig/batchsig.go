// Package batchsig signs and verifies cofswitch batches with ed25519 nkeys:
// a sensor signs what it publishes (the switch verifies it against the
// sensor's registered public nkey), and the switch signs what it delivers
// to a peer (the peer verifies it against the exchange's public key, which
// it pins). No secret is shared: each side holds its own seed.
//
// A signature covers a canonical message, never the NATS message as it
// travels: a domain-separation label with its version, the fields named
// below each length-prefixed, then the SHA-256 of the payload exactly as
// published (compressed, if it is). Hashing first keeps the cost of a
// signature nearly independent of the batch's size and the message short.
//
//	input:  0xFF, "cofswitch-batch-in/v1", sensor id, Content-Encoding, SHA-256(payload)
//	output: 0xFF, "cofswitch-batch-out/v1", subject (cof.out.<peer>), Content-Encoding,
//	        Cofswitch-Records, Cofswitch-TLP, Cofswitch-Policy-Version,
//	        Nats-Msg-Id, SHA-256(payload)
//
// The switch signs its outputs in groups instead (see Group and
// HeaderExchangeProof): one signature over a tree of v2 output messages.
//
// A header absent is signed as empty. Every canonical message starts
// with the byte 0xFF, which never occurs in UTF-8: the seed a sensor or
// the switch connects with signs the server's nonce at each connection,
// and a nonce, read from the server's JSON, is always valid UTF-8, so a
// hostile server can never obtain a batch signature that way. Signatures
// travel base64url (no padding) in HeaderSignature (inputs) and
// HeaderExchangeSignature (outputs), and are taken in that one encoding
// only (the last character's unused bits zero, no line breaks).
//
// It imports the nkeys library and nothing of NATS, so that the sensor,
// the switch and the peers all use it.
package batchsig

import (
	"bufio"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"

	"github.com/nats-io/nkeys"
)

// Header names.
const (
	// HeaderSignature is a sensor's signature of an input batch.
	HeaderSignature = "Cofswitch-Signature"
	// HeaderExchangeSignature is the exchange's signature of an output
	// batch.
	HeaderExchangeSignature = "Cofswitch-Exchange-Signature"
)

// Labels: the domain separation of the two kinds of message, so that a
// signature of one can never pass for the other. A change of the
// canonical form takes a new version.
const (
	inputLabel  = "cofswitch-batch-in/v2"
	outputLabel = "cofswitch-batch-out/v1"
)

// Errors.
var (
	// ErrUnsigned reports a batch without a signature.
	ErrUnsigned = errors.New("batchsig: batch not signed")
	// ErrBadSignature reports a signature that is malformed or does not
	// verify under any of the keys.
	ErrBadSignature = errors.New("batchsig: bad signature")
	// ErrKey reports a key that is not a usable nkey.
	ErrKey = errors.New("batchsig: bad key")
)

// Output is what an output batch's signature covers besides its payload:
// the subject it was published on and the headers a peer relies on.
type Output struct {
	Subject       string // cof.out.<peer>
	Encoding      string // Content-Encoding
	Records       string // Cofswitch-Records
	TLP           string // Cofswitch-TLP
	PolicyVersion string // Cofswitch-Policy-Version
	MsgID         string // Nats-Msg-Id
}

// OutputOf reads an output's signed fields from its subject and headers
// (a nats.Header converts to the map as it is).
func OutputOf(subject string, h map[string][]string) Output {
	get := func(k string) string {
		if v := h[k]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	return Output{Subject: subject, Encoding: get("Content-Encoding"), Records: get("Cofswitch-Records"),
		TLP: get("Cofswitch-TLP"), PolicyVersion: get("Cofswitch-Policy-Version"), MsgID: get("Nats-Msg-Id")}
}

// notText starts every canonical message: a byte that no UTF-8 text
// holds (see the package comment).
const notText = 0xFF

// appendField appends one length-prefixed field.
func appendField(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

// inputMessage is the canonical message of an input batch. The message
// id is in it (v2): the stream deduplicates by it, so a relay that sent a
// signed batch again under ids of its own would have it switched as often.
func inputMessage(sensor, encoding, msgID string, payload []byte) []byte {
	m := make([]byte, 0, 64+len(sensor)+len(encoding)+len(msgID)+sha256.Size)
	m = append(m, notText)
	m = appendField(m, inputLabel)
	m = appendField(m, sensor)
	m = appendField(m, encoding)
	m = appendField(m, msgID)
	sum := sha256.Sum256(payload)
	return append(m, sum[:]...)
}

// outputMessage is the canonical message of an output batch signed on
// its own.
func outputMessage(o Output, payload []byte) []byte {
	return canonicalOutput(outputLabel, o, payload)
}

// canonicalOutput is an output's canonical message under label: v1 when
// it is signed on its own, v2 when it is a leaf of a signed tree.
func canonicalOutput(label string, o Output, payload []byte) []byte {
	m := make([]byte, 0, 160+len(o.Subject)+len(o.PolicyVersion)+len(o.MsgID))
	m = append(m, notText)
	m = appendField(m, label)
	for _, f := range []string{o.Subject, o.Encoding, o.Records, o.TLP, o.PolicyVersion, o.MsgID} {
		m = appendField(m, f)
	}
	sum := sha256.Sum256(payload)
	return append(m, sum[:]...)
}

// Signer signs batches with one ed25519 nkey. It is safe for concurrent
// use.
type Signer struct {
	priv ed25519.PrivateKey
	pub  string
}

// NewSigner makes a signer of kp, which must hold a seed (not a curve
// key). The key is expanded once, not at every signature.
func NewSigner(kp nkeys.KeyPair) (*Signer, error) {
	seed, err := kp.Seed()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrKey, err)
	}
	prefix, raw, err := nkeys.DecodeSeed(seed)
	if err != nil || prefix == nkeys.PrefixByteCurve {
		return nil, fmt.Errorf("%w: not a signing seed", ErrKey)
	}
	pub, err := kp.PublicKey()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrKey, err)
	}
	return &Signer{priv: ed25519.NewKeyFromSeed(raw), pub: pub}, nil
}

// ParseSigner reads a seed as a seed file holds it: bare, or decorated
// as nsc and 'cofswitch creds' write it.
func ParseSigner(contents []byte) (*Signer, error) {
	kp, err := nkeys.ParseDecoratedNKey(contents)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrKey, err)
	}
	return NewSigner(kp)
}

// PublicKey is the signer's public nkey: what verifiers are given.
func (s *Signer) PublicKey() string { return s.pub }

// SignInput is a sensor's signature of a batch it publishes as sensor
// with that Content-Encoding and Nats-Msg-Id ("" for none), as a header
// value.
func (s *Signer) SignInput(sensor, encoding, msgID string, payload []byte) string {
	return encode(ed25519.Sign(s.priv, inputMessage(sensor, encoding, msgID, payload)))
}

// SignOutput is the exchange's signature of an output batch, as a header
// value.
func (s *Signer) SignOutput(o Output, payload []byte) string {
	return encode(ed25519.Sign(s.priv, outputMessage(o, payload)))
}

func encode(sig []byte) string { return base64.RawURLEncoding.EncodeToString(sig) }

var errNotCanonical = errors.New("not base64url as encode makes it")

// decodeCanonical decodes a signature or a proof in the one encoding
// encode makes: Go's decoder also takes the unused trailing bits of the
// last character set, and skips CR and LF, which would give one signed
// batch several header values that verify.
func decodeCanonical(s string) ([]byte, error) {
	raw, err := base64.RawURLEncoding.Strict().DecodeString(s)
	if err != nil || len(s) != base64.RawURLEncoding.EncodedLen(len(raw)) {
		return nil, errNotCanonical
	}
	return raw, nil
}

// Verifier checks signatures against one or more public keys (more than
// one while a key is rotated). It is safe for concurrent use.
type Verifier struct {
	keys []ed25519.PublicKey
	pubs []string
}

// NewVerifier makes a verifier of public nkeys: server ('N...'), user
// ('U...') or account ('A...') keys.
func NewVerifier(pubs ...string) (*Verifier, error) {
	if len(pubs) == 0 {
		return nil, fmt.Errorf("%w: no public key", ErrKey)
	}
	v := &Verifier{}
	for _, p := range pubs {
		var prefix nkeys.PrefixByte
		switch {
		case nkeys.IsValidPublicServerKey(p):
			prefix = nkeys.PrefixByteServer
		case nkeys.IsValidPublicUserKey(p):
			prefix = nkeys.PrefixByteUser
		case nkeys.IsValidPublicAccountKey(p):
			prefix = nkeys.PrefixByteAccount
		default:
			return nil, fmt.Errorf("%w: %s is not a public nkey (N..., U... or A...)", ErrKey, describe(p))
		}
		raw, err := nkeys.Decode(prefix, []byte(p))
		if err != nil || len(raw) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("%w: %s: %v", ErrKey, describe(p), err)
		}
		v.keys = append(v.keys, ed25519.PublicKey(raw))
		v.pubs = append(v.pubs, p)
	}
	return v, nil
}

// LoadVerifier makes a verifier of what a flag says: a public nkey, or the
// path of a file holding one or more (one a line; blank lines and lines
// starting with # are skipped).
func LoadVerifier(arg string) (*Verifier, error) {
	arg = strings.TrimSpace(arg)
	if nkeys.IsValidPublicKey(arg) {
		return NewVerifier(arg)
	}
	f, err := os.Open(arg)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err // its path is arg, which may be a seed
		}
		return nil, fmt.Errorf("%w: %s is neither a public nkey nor a readable file: %w", ErrKey, describe(arg), err)
	}
	defer f.Close()
	var pubs []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		pubs = append(pubs, line)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrKey, arg, err)
	}
	v, err := NewVerifier(pubs...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", arg, err)
	}
	return v, nil
}

// Keys are the verifier's public keys.
func (v *Verifier) Keys() []string { return append([]string(nil), v.pubs...) }

// VerifyInput checks a sensor's signature (a header value; "" for none)
// of a batch published as sensor with that Content-Encoding. The error
// wraps ErrUnsigned or ErrBadSignature.
func (v *Verifier) VerifyInput(sensor, encoding, msgID string, payload []byte, sig string) error {
	return v.verify(sig, func() []byte { return inputMessage(sensor, encoding, msgID, payload) })
}

// VerifyOutput checks the exchange's signature of an output batch. The
// error wraps ErrUnsigned or ErrBadSignature.
func (v *Verifier) VerifyOutput(o Output, payload []byte, sig string) error {
	return v.verify(sig, func() []byte { return outputMessage(o, payload) })
}

// VerifyOutputProof checks an output batch signed in a group (see
// Group): its signature of the tree's root and its proof, the path from
// its leaf to that root. The error wraps ErrUnsigned or ErrBadSignature.
func (v *Verifier) VerifyOutputProof(o Output, payload []byte, sig, proof string) error {
	if sig == "" {
		return ErrUnsigned
	}
	root, err := treeRoot(o, payload, proof)
	if err != nil {
		return err
	}
	return v.verify(sig, func() []byte { return rootMessage(root) })
}

// VerifyMsg checks an output batch as a peer receives it: its subject,
// headers and payload, signed on its own or in a group (with a proof).
func (v *Verifier) VerifyMsg(subject string, h map[string][]string, payload []byte) error {
	get := func(k string) string {
		if s := h[k]; len(s) > 0 {
			return s[0]
		}
		return ""
	}
	sig, proof := get(HeaderExchangeSignature), get(HeaderExchangeProof)
	if proof != "" {
		return v.VerifyOutputProof(OutputOf(subject, h), payload, sig, proof)
	}
	return v.VerifyOutput(OutputOf(subject, h), payload, sig)
}

func (v *Verifier) verify(sig string, message func() []byte) error {
	if sig == "" {
		return ErrUnsigned
	}
	if len(sig) != base64.RawURLEncoding.EncodedLen(ed25519.SignatureSize) {
		return fmt.Errorf("%w: %d characters, want %d", ErrBadSignature, len(sig), base64.RawURLEncoding.EncodedLen(ed25519.SignatureSize))
	}
	raw, err := decodeCanonical(sig)
	if err != nil {
		return fmt.Errorf("%w: not base64url", ErrBadSignature)
	}
	m := message()
	for _, k := range v.keys {
		if ed25519.Verify(k, m, raw) {
			return nil
		}
	}
	if len(v.keys) == 1 {
		return fmt.Errorf("%w: does not verify under %s", ErrBadSignature, v.pubs[0])
	}
	return fmt.Errorf("%w: does not verify under any of %d keys", ErrBadSignature, len(v.keys))
}

// describe names a value that is not a public key without printing it:
// it may be a seed ('S...'), pasted or read from the wrong file, which no
// message may carry.
func describe(s string) string {
	switch {
	case strings.HasPrefix(s, "S"):
		return fmt.Sprintf("a value of %d characters starting with S (a seed? never hand one out)", len(s))
	case len(s) > 60:
		return fmt.Sprintf("a value of %d characters starting with %q", len(s), s[:1])
	}
	return strconv.Quote(s)
}
