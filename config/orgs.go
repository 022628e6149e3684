package config

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/cofswitch/cofswitch/policy"
)

// Deny by default. A subscription is same-organisation only when all of
// these hold:
//
//   - its peer has an organisation (an identity without one is its own
//     organisation, so whatever reaches it crosses one);
//   - every sensor pattern is a literal id, without '*' (a pattern could
//     match sensors of another organisation added later);
//   - every such id is a configured sensor, or an id a configured sensor
//     relays (an id no sensor publishes could be added under any
//     organisation);
//   - every sensor that may publish that id (its owner and every relayer)
//     has the peer's organisation.
//
// Every other subscription is cross-organisation: it must name its policy
// (pass, if everything as it is is really meant) and have a TLP label, its
// own or its policy's; and any policy such a subscription uses keeps only
// the draft's fields unless it lists its own keep_fields.

// publishers maps each sensor_id a configured sensor may publish (its own,
// and those it relays) to the sensors that may publish it.
func (c *Config) publishers() map[string][]Sensor {
	m := map[string][]Sensor{}
	for _, s := range c.Sensors {
		m[s.ID] = append(m[s.ID], s)
		for _, r := range s.Relays {
			if r != s.ID {
				m[r] = append(m[r], s)
			}
		}
	}
	return m
}

// crossOrganisation reports whether sub, a subscription of pe, may deliver
// records of a sensor of another organisation than pe's, and why (the
// first reason found, in the order of the patterns).
func crossOrganisation(pub map[string][]Sensor, pe Peer, sub Subscription) (bool, string) {
	if pe.Organisation == "" {
		return true, fmt.Sprintf("peer %q has no organisation, so it is one of its own", pe.ID)
	}
	for _, pat := range sub.Sensors {
		if strings.Contains(pat, "*") {
			return true, fmt.Sprintf("the pattern %q may match sensors of any organisation, now or added later", pat)
		}
		ss, ok := pub[pat]
		if !ok {
			return true, fmt.Sprintf("sensor %q is not configured, so its organisation is unknown", pat)
		}
		for _, s := range ss {
			if s.Organisation == pe.Organisation {
				continue
			}
			who := fmt.Sprintf("sensor %q", pat)
			if s.ID != pat {
				who = fmt.Sprintf("sensor %q (relayed by %q)", pat, s.ID)
			}
			if s.Organisation == "" {
				return true, who + " has no organisation, so it is one of its own"
			}
			return true, fmt.Sprintf("%s belongs to organisation %q", who, s.Organisation)
		}
	}
	return false, ""
}

// validateCrossOrg refuses a cross-organisation subscription that relies
// on a default: it must name its policy and have a TLP label.
func (c *Config) validateCrossOrg(bad func(string, string, ...any)) {
	pub := c.publishers()
	for i, pe := range c.Peers {
		for j, sub := range pe.Subscriptions {
			cross, why := crossOrganisation(pub, pe, sub)
			if !cross {
				continue
			}
			sp := "peers[" + strconv.Itoa(i) + "].subscriptions[" + strconv.Itoa(j) + "]"
			var missing []string
			if sub.defaultPolicy {
				sp += ".policy"
				missing = append(missing, "name its policy (policy: pass, if every record as it is is really meant)")
			}
			if !c.hasTLP(sub) {
				sp += ".tlp"
				missing = append(missing, "give it a TLP label (its own tlp: or its policy's)")
			}
			if len(missing) > 0 {
				sp = strings.Replace(sp, ".policy.tlp", "", 1)
				bad(sp, "peer %q may receive another organisation's records (%s): %s", pe.ID, why, strings.Join(missing, " and "))
			}
		}
	}
}

// hasTLP reports whether a subscription has a label, its own or its
// policy's (a bad label is reported elsewhere).
func (c *Config) hasTLP(sub Subscription) bool {
	if sub.TLP != "" {
		return true
	}
	spec := c.Policies[sub.Policy]
	return spec != nil && spec.TLP != ""
}

// crossOrgPolicies lists, sorted, the policies that some cross-organisation
// subscription uses.
func (c *Config) crossOrgPolicies() []string {
	pub := c.publishers()
	out := slices.Clone(c.fileCrossOrg)
	for _, pe := range c.Peers {
		for _, sub := range pe.Subscriptions {
			if cross, _ := crossOrganisation(pub, pe, sub); cross && !slices.Contains(out, sub.Policy) {
				out = append(out, sub.Policy)
			}
		}
	}
	slices.Sort(out)
	return out
}

// effectivePolicies returns the policies as they are compiled: one used by
// a cross-organisation subscription, without keep_fields of its own, keeps
// the draft's fields only (keep_fields: []). The written specs are left
// as they are; the built-in pass stays pass, as the operator named it.
func (c *Config) effectivePolicies() map[string]*policy.Spec {
	out := make(map[string]*policy.Spec, len(c.Policies))
	for name, spec := range c.Policies {
		out[name] = spec
	}
	for _, name := range c.crossOrgPolicies() {
		spec, ok := out[name]
		if !ok || spec == nil || spec.Transforms.KeepFields != nil {
			continue
		}
		cp := *spec
		cp.Transforms.KeepFields = &[]string{}
		out[name] = &cp
	}
	return out
}
