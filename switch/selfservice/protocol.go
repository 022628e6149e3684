// Package selfservice lets a peer choose its own subscriptions within the
// ceiling its operator set (config.Ceiling), in place of those the file
// gives it. A peer asks on its control subject cof.ctl.peer.<peer>, which
// only its own account can publish to (package accounts); the switch's
// Responder answers in a queue group shared by every switch process of the
// exchange, and keeps each peer's selection in the key-value bucket
// COF_SUBSCRIPTIONS (Store), with a version counting the peer's own changes.
// Every switch process watches the bucket and runs Effective: the file's
// configuration with each peer's stored selection that its current
// ceiling still allows.
//
// It imports config, routing and the NATS client; the exchange wires it
// in, the command asks through it.
package selfservice

import (
	"github.com/cofswitch/cofswitch/config"
)

// Ops of a Request.
const (
	OpGet   = "get"   // the peer's subscriptions in force, their version and its ceiling
	OpSet   = "set"   // replace the peer's subscriptions
	OpClear = "clear" // back to the file's subscriptions
)

// MaxRequestBytes bounds a request's JSON.
const MaxRequestBytes = 16 << 10

// QueueGroup is the queue group of every switch process's Responder.
const QueueGroup = "cofswitch-selfservice"

// Request is what a peer sends on its control subject, as JSON.
type Request struct {
	Op            string         `json:"op"`
	Subscriptions []Subscription `json:"subscriptions,omitempty"`
	// ExpectVersion makes a set or clear conditional: it is done only if
	// the peer's stored selection is still at this version (0: none
	// stored), so that two clients cannot undo each other unseen.
	ExpectVersion *uint64 `json:"expect_version,omitempty"`
}

// Subscription is one subscription a peer chooses: config.Subscription's
// sensors, policy and label.
type Subscription struct {
	Sensors []string `json:"sensors"`
	Policy  string   `json:"policy"`
	TLP     string   `json:"tlp,omitempty"`
}

// Reply codes, for a client to act on without reading the message.
const (
	CodeBadRequest  = "bad_request"  // malformed JSON, unknown op, too large
	CodeNoCeiling   = "no_ceiling"   // the peer may not choose its subscriptions
	CodeRefused     = "refused"      // outside the ceiling or the limits
	CodeConflict    = "conflict"     // expect_version did not match
	CodeTooMany     = "too_many"     // changes too often
	CodeUnavailable = "unavailable"  // the bucket could not be read or written
	SourceFile      = "file"         // Reply.Source: the operator's subscriptions
	SourceSelf      = "self-service" // Reply.Source: the peer's own
)

// Reply is the switch's answer, as JSON. A refusal has OK false, a Code
// and the reason in Error, and describes the selection in force.
type Reply struct {
	OK    bool   `json:"ok"`
	Code  string `json:"code,omitempty"`
	Error string `json:"error,omitempty"`
	Peer  string `json:"peer"`
	// Source says whose subscriptions are in force: SourceFile or
	// SourceSelf.
	Source string `json:"source"`
	// Version is the peer's stored selection's: 1 for its first change,
	// one more for each of its changes since (a clear counts); 0: none
	// stored.
	Version uint64 `json:"version"`
	// Subscriptions are those in force: the stored selection (less what
	// Dropped lists), or the file's.
	Subscriptions []Subscription `json:"subscriptions"`
	// Dropped lists the stored subscriptions that the current ceiling no
	// longer allows, and why: they are not applied.
	Dropped []string `json:"dropped,omitempty"`
	// Ceiling is what the peer may choose from; nil: nothing.
	Ceiling *Ceiling `json:"ceiling,omitempty"`
}

// Ceiling is config.Ceiling as a reply shows it.
type Ceiling struct {
	Sensors  []string `json:"sensors"`
	Policies []string `json:"policies"`
}

// toConfig turns chosen subscriptions into the configuration's form.
func toConfig(subs []Subscription) []config.Subscription {
	out := make([]config.Subscription, len(subs))
	for i, s := range subs {
		out[i] = config.Subscription{Sensors: s.Sensors, Policy: s.Policy, TLP: s.TLP}
	}
	return out
}

// fromConfig turns subscriptions of the configuration into the reply's
// form (a file's backfill is not shown).
func fromConfig(subs []config.Subscription) []Subscription {
	out := make([]Subscription, len(subs))
	for i, s := range subs {
		out[i] = Subscription{Sensors: s.Sensors, Policy: s.Policy, TLP: s.TLP}
	}
	return out
}
