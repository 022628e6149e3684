package routing

import (
	"fmt"
	"strings"
)

// Self-service subscriptions (see switch/selfservice): a peer asks for its
// own subscriptions, within the ceiling its operator set, on a control
// subject of its own.
const (
	// ControlPrefix: cof.ctl.peer.<peer>, where a peer's requests about
	// its own subscriptions go. Each peer's account imports its own
	// subject alone, so the subject names the identity that asked.
	ControlPrefix = "cof.ctl.peer."
	// SubscriptionsBucket is the key-value bucket of the peers'
	// self-service subscriptions: one key per peer (its id), whose
	// revision is the version of its selection. The operator's alone.
	SubscriptionsBucket = "COF_SUBSCRIPTIONS"
)

// ControlSubject is the subject of a peer's self-service requests.
func ControlSubject(peerID string) string { return ControlPrefix + EscapeToken(peerID) }

// ControlledPeer returns the peer of a control subject.
func ControlledPeer(subject string) (string, error) {
	tok, ok := strings.CutPrefix(subject, ControlPrefix)
	if !ok || strings.Contains(tok, ".") {
		return "", fmt.Errorf("%w: %q is not %s<peer>", ErrBadToken, subject, ControlPrefix)
	}
	return UnescapeToken(tok)
}

// Covers reports whether every sensor id that inner matches is matched by
// outer, both patterns in which '*' matches any run of bytes: a literal id
// matched by outer ("acme-dns-1" within "acme-*"), or a narrower pattern
// ("acme-dns-*" within "acme-*"). It is Match with inner read as text in
// which a '*' may be taken only by a '*' of outer: sound, since outer's
// stars then absorb whatever inner's stand for; and complete, since
// replacing each '*' of inner by a byte that outer does not hold gives an
// id that only outer's stars can absorb.
func Covers(outer, inner string) bool { return glob(outer, inner, true) }
