// Package routing holds the subject scheme of the bus (subjects, stream
// and consumer names, the one-to-one escaping of ids into subject tokens)
// and the routing table that answers "which subscriptions want records of
// sensor X". It names subjects but imports no NATS package and nothing of
// cofswitch.
package routing

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Subject prefixes. A message on these subjects is a batch of COF lines.
const (
	InPrefix  = "cof.in."  // cof.in.<sensor>: what a sensor publishes
	OutPrefix = "cof.out." // cof.out.<peer>: what a peer receives
	DLQPrefix = "cof.dlq." // cof.dlq.<sensor>: what was rejected, by sensor
	// HoldPrefix: cof.hold.<release>.<peer>, outputs held until the Unix
	// second <release>, when their coarsen_time bucket ends. The
	// operator's alone: no peer or sensor has any right on it.
	HoldPrefix = "cof.hold."
	// ParkPrefix: cof.park.<peer>, outputs a peer's stream could not take
	// (missing, unavailable), kept in COF_HOLD until it can.
	ParkPrefix = "cof.park."
)

// Stream names. Each sensor has an input stream of its own, so that
// nothing a sensor sends (a message id, an expected-sequence header) is
// ever judged against another sensor's input.
const (
	InStreamPrefix   = "COF_IN_"
	DLQStream        = "COF_DLQ"
	PeerStreamPrefix = "PEER_"
	HoldStream       = "COF_HOLD"
)

// SeenBucket is the key-value bucket (stream KV_COF_SEEN) in which the
// switch keeps, per rrset, who saw it and what it holds back for the
// policies with a k-sensor threshold. Keys are keyed hashes: the bucket
// holds no name in clear, only the held observations as each peer's
// policy made them.
const SeenBucket = "COF_SEEN"

// PeerConsumer is the durable consumer the switch provisions on each peer
// stream unless the registry names others: the one a peer's sink or
// database binds by default.
const PeerConsumer = "sink"

// ErrBadToken reports a subject token that is not the canonical escaping
// of any id.
var ErrBadToken = errors.New("routing: bad subject token")

// MaxIDLen bounds sensor and peer ids, which become subject tokens and,
// for peers, stream names.
const MaxIDLen = 128

// safe reports whether b may stand unescaped in a subject token. The set
// is deliberately small: no '.', '*', '>' (subject syntax), no '$' (system
// subjects), no whitespace, no '%' (the escape itself).
func safe(b byte) bool {
	return 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || '0' <= b && b <= '9' || b == '-' || b == '_'
}

const hexUpper = "0123456789ABCDEF"

// EscapeToken turns an id into a subject token: bytes outside [A-Za-z0-9_-]
// become %XX (upper-case hex). The escaping is one-to-one, so the token
// names exactly one id and permissions granted on it cannot be shared.
func EscapeToken(id string) string {
	n := 0
	for i := 0; i < len(id); i++ {
		if !safe(id[i]) {
			n++
		}
	}
	if n == 0 {
		return id
	}
	var b strings.Builder
	b.Grow(len(id) + 2*n)
	for i := 0; i < len(id); i++ {
		c := id[i]
		if safe(c) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexUpper[c>>4])
		b.WriteByte(hexUpper[c&0xf])
	}
	return b.String()
}

// UnescapeToken reverses EscapeToken. It accepts only the canonical form:
// upper-case hex, and no escape of a byte that needs none, so that two
// different subjects never name the same id.
func UnescapeToken(tok string) (string, error) {
	if tok == "" {
		return "", fmt.Errorf("%w: empty", ErrBadToken)
	}
	if !strings.Contains(tok, "%") {
		for i := 0; i < len(tok); i++ {
			if !safe(tok[i]) {
				return "", fmt.Errorf("%w: %q holds %q", ErrBadToken, tok, tok[i])
			}
		}
		return tok, nil
	}
	out := make([]byte, 0, len(tok))
	for i := 0; i < len(tok); i++ {
		c := tok[i]
		if c != '%' {
			if !safe(c) {
				return "", fmt.Errorf("%w: %q holds %q", ErrBadToken, tok, c)
			}
			out = append(out, c)
			continue
		}
		if i+2 >= len(tok) {
			return "", fmt.Errorf("%w: %q ends inside an escape", ErrBadToken, tok)
		}
		hi, lo := strings.IndexByte(hexUpper, tok[i+1]), strings.IndexByte(hexUpper, tok[i+2])
		if hi < 0 || lo < 0 {
			return "", fmt.Errorf("%w: %q: escape is not upper-case hex", ErrBadToken, tok)
		}
		v := byte(hi<<4 | lo)
		if safe(v) {
			return "", fmt.Errorf("%w: %q: needless escape of %q", ErrBadToken, tok, v)
		}
		out = append(out, v)
		i += 2
	}
	return string(out), nil
}

// ValidateID checks an id given in configuration: not empty, not too long,
// printable, and (for peers, whose ids name streams) safe as it is.
func ValidateID(kind, id string, mustBeSafe bool) error {
	switch {
	case id == "":
		return fmt.Errorf("%s id is empty", kind)
	case len(id) > MaxIDLen:
		return fmt.Errorf("%s id %q is longer than %d bytes", kind, id, MaxIDLen)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if c < 0x20 || c == 0x7f {
			return fmt.Errorf("%s id %q holds a control character", kind, id)
		}
		if mustBeSafe && !safe(c) {
			return fmt.Errorf("%s id %q may hold only letters, digits, '-' and '_'", kind, id)
		}
	}
	return nil
}

// InSubject is the subject a sensor publishes to.
func InSubject(sensorID string) string { return InPrefix + EscapeToken(sensorID) }

// OutSubject is the subject of a peer's deliveries.
func OutSubject(peerID string) string { return OutPrefix + EscapeToken(peerID) }

// DLQSubject is the subject of a sensor's rejected input.
func DLQSubject(sensorID string) string { return DLQPrefix + EscapeToken(sensorID) }

// maxNamePart bounds the sensor part of stream and consumer names, which
// JetStream limits to 255 bytes and keeps as directory names.
const maxNamePart = 200

// SensorName is a sensor's part of the names of its stream and consumers:
// its subject token, or for a token too long for a stream name, "~" and
// 32 hex digits of the SHA-256 of the id ('~' never occurs in a token, so
// the two forms cannot collide).
func SensorName(sensorID string) string {
	tok := EscapeToken(sensorID)
	if len(tok) <= maxNamePart {
		return tok
	}
	sum := sha256.Sum256([]byte(sensorID))
	return "~" + hex.EncodeToString(sum[:16])
}

// InStream is the name of a sensor's input stream.
func InStream(sensorID string) string { return InStreamPrefix + SensorName(sensorID) }

// DLQConsumer is the durable consumer on COF_DLQ through which a sensor
// reads its own dead letters (filtered to its DLQSubject).
func DLQConsumer(sensorID string) string { return "dlq_" + SensorName(sensorID) }

// DLQViewConsumer is the durable consumer on COF_DLQ through which a
// sensor lists its own dead letters without taking them (no acks; it
// rewinds it to read again). Filtered to its DLQSubject like DLQConsumer,
// and never the same name ("dlqv_" against "dlq_").
func DLQViewConsumer(sensorID string) string { return "dlqv_" + SensorName(sensorID) }

// PeerStream is the name of a peer's stream. Peer ids are restricted to
// safe bytes (see ValidateID), so the name needs no escaping.
func PeerStream(peerID string) string { return PeerStreamPrefix + peerID }

// SensorOf returns the sensor id of a cof.in.<sensor> subject.
func SensorOf(subject string) (string, error) {
	tok, ok := strings.CutPrefix(subject, InPrefix)
	if !ok || strings.Contains(tok, ".") {
		return "", fmt.Errorf("%w: %q is not %s<sensor>", ErrBadToken, subject, InPrefix)
	}
	return UnescapeToken(tok)
}

// HoldSubject is where outputs for peer wait until the Unix second release.
func HoldSubject(release int64, peerID string) string {
	return HoldPrefix + strconv.FormatInt(release, 10) + "." + EscapeToken(peerID)
}

// ParseHoldSubject returns the release second and the peer of a hold
// subject.
func ParseHoldSubject(subject string) (release int64, peerID string, err error) {
	rest, ok := strings.CutPrefix(subject, HoldPrefix)
	r, tok, ok2 := strings.Cut(rest, ".")
	if ok && ok2 && !strings.Contains(tok, ".") {
		if release, err = strconv.ParseInt(r, 10, 64); err == nil && release > 0 {
			if peerID, err = UnescapeToken(tok); err == nil {
				return release, peerID, nil
			}
		}
	}
	return 0, "", fmt.Errorf("%w: %q is not %s<release>.<peer>", ErrBadToken, subject, HoldPrefix)
}

// ParkSubject is where outputs wait for a peer whose stream is down.
func ParkSubject(peerID string) string { return ParkPrefix + EscapeToken(peerID) }

// ParkedPeer returns the peer of a park subject.
func ParkedPeer(subject string) (string, error) {
	tok, ok := strings.CutPrefix(subject, ParkPrefix)
	if !ok || strings.Contains(tok, ".") {
		return "", fmt.Errorf("%w: %q is not %s<peer>", ErrBadToken, subject, ParkPrefix)
	}
	return UnescapeToken(tok)
}
