package config

import (
	"fmt"
	"io"
	"strings"

	"github.com/cofswitch/cofswitch/policy"
)

// SubscriptionPrivacy is what the peer of one subscription learns of the
// records it receives, for 'cofswitch policy check'.
type SubscriptionPrivacy struct {
	Peer         string
	Organisation string // the peer's; "" when it has none
	Index        int    // among the peer's subscriptions
	Sensors      []string
	Policy       string
	// DefaultPolicy is set when the subscription names no policy and
	// took pass by default (allowed within one organisation only).
	DefaultPolicy bool
	TLP           string // as in the header, "TLP:AMBER"; "" for none
	// CrossOrganisation is set when the peer may receive records of
	// another organisation's sensors; Why says how (see orgs.go).
	CrossOrganisation bool
	Why               string
	Privacy           policy.Privacy
}

// Warnings lists what a cross-organisation peer gets that it should not
// without a second thought: exact times, full addresses, clear sensor ids.
func (s SubscriptionPrivacy) Warnings() []string {
	if !s.CrossOrganisation {
		return nil
	}
	var out []string
	if s.Privacy.ExactTimes {
		out = append(out, "exact times")
	}
	if s.Privacy.TimedDelivery {
		out = append(out, "delivery at once (release: immediate), which tells the time")
	}
	if s.Privacy.FullAddresses {
		out = append(out, "full addresses")
	}
	if s.Privacy.ClearSensors {
		out = append(out, "clear sensor ids")
	}
	return out
}

// PrivacySummary describes every subscription, in the order of the file,
// under its policies as compiled (with the default keep-list applied).
func (c *Config) PrivacySummary() []SubscriptionPrivacy {
	pub := c.publishers()
	specs := c.effectivePolicies()
	var out []SubscriptionPrivacy
	for _, pe := range c.Peers {
		for i, sub := range pe.Subscriptions {
			cross, why := crossOrganisation(pub, pe, sub)
			spec := specs[sub.Policy] // nil for pass
			tlp, _ := policy.ParseTLP(sub.TLP)
			if tlp == "" && spec != nil {
				tlp, _ = policy.ParseTLP(spec.TLP)
			}
			out = append(out, SubscriptionPrivacy{
				Peer: pe.ID, Organisation: pe.Organisation, Index: i, Sensors: sub.Sensors,
				Policy: sub.Policy, DefaultPolicy: sub.defaultPolicy, TLP: tlp.Header(),
				CrossOrganisation: cross, Why: why, Privacy: policy.Describe(spec),
			})
		}
	}
	return out
}

// WritePrivacy prints a privacy summary, one block per peer, and a
// WARNING line under each cross-organisation subscription that gets exact
// times, full addresses or clear sensor ids.
func WritePrivacy(w io.Writer, subs []SubscriptionPrivacy) error {
	var b strings.Builder
	b.WriteString("privacy, per peer and subscription:\n")
	for i, s := range subs {
		if i == 0 || subs[i-1].Peer != s.Peer {
			org := "no organisation"
			if s.Organisation != "" {
				org = "organisation " + s.Organisation
			}
			fmt.Fprintf(&b, "\npeer %s (%s)\n", s.Peer, org)
		}
		from := "within its organisation"
		if s.CrossOrganisation {
			from = "cross-organisation (" + s.Why + ")"
		}
		fmt.Fprintf(&b, "  [%d] sensors %s: %s\n", s.Index, strings.Join(s.Sensors, ", "), from)
		pol := s.Policy
		if s.DefaultPolicy {
			pol += " (by default)"
		}
		tlp := s.TLP
		if tlp == "" {
			tlp = "no label"
		}
		p := s.Privacy
		fmt.Fprintf(&b, "      policy:     %s, %s\n", pol, tlp)
		fmt.Fprintf(&b, "      fields:     %s\n", p.Fields)
		fmt.Fprintf(&b, "      times:      %s\n", p.Times)
		fmt.Fprintf(&b, "      addresses:  %s\n", p.Addresses)
		fmt.Fprintf(&b, "      names:      %s\n", p.Names)
		fmt.Fprintf(&b, "      sensor ids: %s\n", p.Sensors)
		if warn := s.Warnings(); len(warn) > 0 {
			fmt.Fprintf(&b, "  WARNING: peer %s, subscription %d: another organisation's records with %s (policy %s)\n",
				s.Peer, s.Index, strings.Join(warn, ", "), s.Policy)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}
