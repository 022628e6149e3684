package config

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/cofswitch/cofswitch/policy"
	"github.com/cofswitch/cofswitch/routing"
)

// Ceiling bounds the subscriptions a peer may choose for itself
// ('cofswitch subscribe', package switch/selfservice) in place of those
// the file gives it. A peer without one may not choose.
type Ceiling struct {
	// Sensors are the patterns the peer may ask for: each pattern it asks
	// for must lie within one of them, as a literal id they match or a
	// narrower pattern ("acme-dns-*" within "acme-*").
	Sensors []string `yaml:"sensors"`
	// Policies are the policies the peer may choose from: the least
	// restrictive policy it may have, and any stricter ones the operator
	// allows. List only policies acceptable for that peer: it may pick
	// any of them, for any sensor within Sensors.
	Policies []string `yaml:"policies"`
	// TLP is the least restrictive label the peer may give a subscription
	// that may receive another organisation's records (its own label or
	// its policy's). Empty: the most restrictive label of the file's own
	// such subscriptions for that peer, so that a peer never relabels
	// what the operator labelled.
	TLP string `yaml:"tlp"`
}

// Limits of one self-service selection.
const (
	// MaxSelfSubscriptions bounds the subscriptions of one selection.
	MaxSelfSubscriptions = 16
	// MaxSelfPatterns bounds the sensor patterns of one selection, over
	// all its subscriptions.
	MaxSelfPatterns = 64
)

// Errors of CheckSelection.
var (
	// ErrNoCeiling reports a peer without a ceiling (or not configured):
	// it may not choose its subscriptions.
	ErrNoCeiling = errors.New("config: no ceiling")
	// ErrOutsideCeiling reports a selection that the peer's ceiling, the
	// limits or the cross-organisation rule refuse.
	ErrOutsideCeiling = errors.New("config: outside the ceiling")
)

// validateCeilings checks each ceiling's patterns and that its policies
// exist.
func (c *Config) validateCeilings(bad func(string, string, ...any)) {
	for i, pe := range c.Peers {
		if pe.Ceiling == nil {
			continue
		}
		p := "peers[" + strconv.Itoa(i) + "].ceiling"
		if len(pe.Ceiling.Sensors) == 0 {
			bad(p+".sensors", "no sensor patterns: the peer could choose nothing (use [\"*\"] for any sensor)")
		}
		for k, pat := range pe.Ceiling.Sensors {
			if err := routing.ValidateID("sensor pattern", pat, false); err != nil {
				bad(p+".sensors["+strconv.Itoa(k)+"]", "%v", err)
			}
		}
		if len(pe.Ceiling.Policies) == 0 {
			bad(p+".policies", "no policies: list those the peer may choose")
		}
		if _, err := policy.ParseTLP(pe.Ceiling.TLP); err != nil {
			bad(p+".tlp", "%v", err)
		}
		for k, name := range pe.Ceiling.Policies {
			if _, ok := c.Policies[name]; !ok && name != PassPolicy {
				bad(p+".policies["+strconv.Itoa(k)+"]", "unknown policy %q (define it under policies, or use the built-in %q)", name, PassPolicy)
			}
		}
	}
}

// PeerByID returns the configured peer with this id.
func (c *Config) PeerByID(id string) (Peer, bool) {
	for _, p := range c.Peers {
		if p.ID == id {
			return p, true
		}
	}
	return Peer{}, false
}

// CheckSelection reports why subs may not be the self-service
// subscriptions of peer under c, the file's configuration, or nil: the
// peer has no ceiling (ErrNoCeiling), or the selection exceeds the limits,
// asks for a sensor pattern or a policy outside the ceiling, or breaks the
// cross-organisation rule (ErrOutsideCeiling, with the subscription and
// the pattern or policy at fault).
func (c *Config) CheckSelection(peer string, subs []Subscription) error {
	return c.NewSelectionCheck().CheckSelection(peer, subs)
}

// CheckSelection is Config.CheckSelection.
func (ck *SelectionCheck) CheckSelection(peer string, subs []Subscription) error {
	c := ck.c
	pe, ok := c.PeerByID(peer)
	if !ok {
		return fmt.Errorf("%w: peer %q is not configured", ErrNoCeiling, peer)
	}
	if pe.Ceiling == nil {
		return fmt.Errorf("%w: peer %q has no ceiling: its subscriptions are the operator's to set", ErrNoCeiling, peer)
	}
	if len(subs) == 0 {
		return fmt.Errorf("%w: no subscriptions (clear the selection to return to the operator's)", ErrOutsideCeiling)
	}
	if len(subs) > MaxSelfSubscriptions {
		return fmt.Errorf("%w: %d subscriptions, at most %d", ErrOutsideCeiling, len(subs), MaxSelfSubscriptions)
	}
	n := 0
	for _, s := range subs {
		n += len(s.Sensors)
	}
	if n > MaxSelfPatterns {
		return fmt.Errorf("%w: %d sensor patterns, at most %d", ErrOutsideCeiling, n, MaxSelfPatterns)
	}
	for i, s := range subs {
		if err := ck.check(pe, s); err != nil {
			return fmt.Errorf("%w: subscriptions[%d]: %s", ErrOutsideCeiling, i, err)
		}
	}
	return nil
}

// WithinCeiling re-checks stored self-service subscriptions of peer
// against c, the file's configuration as it is now: it returns those that
// still hold, each as it was (a subscription is kept whole or dropped,
// never widened or rewritten), and why each other was dropped. It returns
// ErrNoCeiling when the peer is gone or has no ceiling any more: its
// subscriptions are then the file's.
func (c *Config) WithinCeiling(peer string, subs []Subscription) (kept []Subscription, dropped []string, err error) {
	return c.NewSelectionCheck().WithinCeiling(peer, subs)
}

// WithinCeiling is Config.WithinCeiling.
func (ck *SelectionCheck) WithinCeiling(peer string, subs []Subscription) (kept []Subscription, dropped []string, err error) {
	c := ck.c
	pe, ok := c.PeerByID(peer)
	if !ok || pe.Ceiling == nil {
		return nil, nil, fmt.Errorf("%w: peer %q has no ceiling", ErrNoCeiling, peer)
	}
	for i, s := range subs {
		if err := ck.check(pe, s); err != nil {
			dropped = append(dropped, fmt.Sprintf("subscriptions[%d]: %v", i, err))
			continue
		}
		kept = append(kept, s)
	}
	return kept, dropped, nil
}

// SelectionCheck checks chosen subscriptions against one configuration,
// computing what the cross-organisation rule needs of the whole file once
// for all the peers it checks.
type SelectionCheck struct {
	c   *Config
	pub map[string][]Sensor
}

// NewSelectionCheck returns a check of selections against c, which must
// not change while it is used.
func (c *Config) NewSelectionCheck() *SelectionCheck {
	return &SelectionCheck{c: c, pub: c.publishers()}
}

// check checks one subscription a peer chose: its patterns lie within the
// ceiling, its policy is among the ceiling's, its label is no less
// restrictive than its policy's, and it may cross organisations only as
// the file's subscriptions may.
func (ck *SelectionCheck) check(pe Peer, s Subscription) error {
	c, ceil := ck.c, pe.Ceiling
	if len(s.Sensors) == 0 {
		return errors.New("no sensor patterns")
	}
	for _, pat := range s.Sensors {
		if err := routing.ValidateID("sensor pattern", pat, false); err != nil {
			return err
		}
		if !slices.ContainsFunc(ceil.Sensors, func(outer string) bool { return routing.Covers(outer, pat) }) {
			return fmt.Errorf("sensor pattern %q is outside the ceiling [%s]", pat, strings.Join(ceil.Sensors, ", "))
		}
	}
	if s.Policy == "" {
		return errors.New("no policy: name one of the ceiling's [" + strings.Join(ceil.Policies, ", ") + "]")
	}
	if !slices.Contains(ceil.Policies, s.Policy) {
		return fmt.Errorf("policy %q is not one the ceiling allows [%s]", s.Policy, strings.Join(ceil.Policies, ", "))
	}
	if _, ok := c.Policies[s.Policy]; !ok && s.Policy != PassPolicy {
		return fmt.Errorf("policy %q is not defined", s.Policy)
	}
	tlp, err := policy.ParseTLP(s.TLP)
	if err != nil {
		return err
	}
	var polTLP policy.TLP
	if spec := c.Policies[s.Policy]; spec != nil {
		polTLP, _ = policy.ParseTLP(spec.TLP) // checked when the policy compiled
	}
	if tlp != "" && polTLP != "" && tlpRank(tlp) < tlpRank(polTLP) {
		return fmt.Errorf("TLP %s is less restrictive than the %s of policy %q", tlp.Header(), polTLP.Header(), s.Policy)
	}
	if c.Switch.RequireTLP && tlp == "" && polTLP == "" {
		return fmt.Errorf("no TLP label (the exchange requires one, and policy %q has none)", s.Policy)
	}
	cross, _ := crossOrganisation(ck.pub, pe, s)
	if !cross {
		return nil
	}
	why := peerCrossReason(ck.pub, pe, s)
	if tlp == "" && polTLP == "" {
		return fmt.Errorf("may receive another organisation's records (%s): give it a TLP label", why)
	}
	eff := tlp
	if eff == "" {
		eff = polTLP
	}
	if floor := ck.labelFloor(pe); floor != "" && tlpRank(eff) < tlpRank(floor) {
		return fmt.Errorf("may receive another organisation's records (%s): its label %s is less restrictive than %s, the least this peer may give them", why, eff.Header(), floor.Header())
	}
	if !ck.crossOrgReady(s.Policy, pe) {
		return fmt.Errorf("may receive another organisation's records (%s), and policy %q is not set for that (no keep_fields of its own, and none of this peer's subscriptions in the file uses it across organisations): ask the operator", why, s.Policy)
	}
	return nil
}

// labelFloor is the least restrictive label a peer may give a chosen
// subscription that may receive another organisation's records: its
// ceiling's, or the most restrictive of the labels (own or policy's) the
// file gives its own such subscriptions; "" when neither says.
func (ck *SelectionCheck) labelFloor(pe Peer) policy.TLP {
	if t, _ := policy.ParseTLP(pe.Ceiling.TLP); t != "" {
		return t
	}
	var floor policy.TLP
	for _, sub := range pe.Subscriptions {
		if cross, _ := crossOrganisation(ck.pub, pe, sub); !cross {
			continue
		}
		t, _ := policy.ParseTLP(sub.TLP)
		if t == "" {
			if spec := ck.c.Policies[sub.Policy]; spec != nil {
				t, _ = policy.ParseTLP(spec.TLP)
			}
		}
		if t != "" && tlpRank(t) > tlpRank(floor) {
			floor = t
		}
	}
	return floor
}

// peerCrossReason says why s may cross organisations in the words a
// reply to the peer may use: of the registry it names nothing the peer did
// not send, not another organisation, not the sensors relaying an id, not
// whether an id is configured (crossOrganisation's reasons, for the
// operator, name them all).
func peerCrossReason(pub map[string][]Sensor, pe Peer, s Subscription) string {
	if pe.Organisation == "" {
		return fmt.Sprintf("peer %q has no organisation, so it is one of its own", pe.ID)
	}
	for _, pat := range s.Sensors {
		if cross, _ := crossOrganisation(pub, pe, Subscription{Sensors: []string{pat}}); !cross {
			continue
		}
		if strings.Contains(pat, "*") {
			return fmt.Sprintf("the pattern %q may match sensors of any organisation, now or added later", pat)
		}
		return fmt.Sprintf("sensor %q is not known to be organisation %q's alone", pat, pe.Organisation)
	}
	return "it may"
}

// crossOrgReady reports whether a policy compiles the same whether or not
// a self-service subscription of pe uses it across organisations: pass, a
// policy with keep_fields of its own, or one that a subscription of pe's
// own in the file uses across organisations already (so that it keeps the
// draft's fields only). Otherwise one peer's choice would change what
// every other user of the policy receives. Other peers' subscriptions
// are never asked: the answer would tell pe what another organisation's
// peer receives, and change when that peer's entry does.
func (ck *SelectionCheck) crossOrgReady(name string, pe Peer) bool {
	if name == PassPolicy {
		return true
	}
	if spec := ck.c.Policies[name]; spec != nil && spec.Transforms.KeepFields != nil {
		return true
	}
	for _, sub := range pe.Subscriptions {
		if sub.Policy != name {
			continue
		}
		if cross, _ := crossOrganisation(ck.pub, pe, sub); cross {
			return true
		}
	}
	return false
}

// tlpRank orders the TLP 2.0 labels from the least restrictive.
func tlpRank(t policy.TLP) int {
	switch t {
	case policy.TLPClear:
		return 1
	case policy.TLPGreen:
		return 2
	case policy.TLPAmber:
		return 3
	case policy.TLPAmberStrict:
		return 4
	case policy.TLPRed:
		return 5
	}
	return 0
}

// WithSubscriptions returns a copy of c in which each peer named in subs
// has those subscriptions in place of the file's; c is unchanged. The
// policies compile as in c (see orgs.go: crossOrgReady keeps the peers'
// cross-organisation choices to policies that do). The
// caller checks them first (CheckSelection, WithinCeiling): the copy is
// not validated again. Compile it to run it.
func (c *Config) WithSubscriptions(subs map[string][]Subscription) *Config {
	cp := *c
	cp.fileCrossOrg = c.crossOrgPolicies()
	cp.Peers = slices.Clone(c.Peers)
	for i, p := range cp.Peers {
		if s, ok := subs[p.ID]; ok {
			cp.Peers[i].Subscriptions = slices.Clone(s)
		}
	}
	return &cp
}
