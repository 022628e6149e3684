package config

import (
	"maps"
	"slices"
	"strconv"

	"github.com/nats-io/nkeys"
)

// validateOrganisations checks the organisations' signing keys. A key
// listed under two organisations would let either issue users for the
// other's sensors and peers, so it is refused; so is an organisation no
// sensor or peer names (a typo there leaves the real one without keys)
// and signing keys outside operator mode, where nothing would use them.
func (c *Config) validateOrganisations(bad func(string, string, ...any)) {
	used := map[string]bool{}
	for _, s := range c.Sensors {
		used[s.Organisation] = true
	}
	for _, p := range c.Peers {
		used[p.Organisation] = true
	}
	owner := map[string]string{}
	for _, name := range slices.Sorted(maps.Keys(c.Organisations)) {
		o := c.Organisations[name]
		p := "organisations." + name
		checkOrg(p, name, bad)
		if !used[name] {
			bad(p, "no sensor or peer has organisation %q", name)
		}
		if len(o.SigningKeys) > 0 && c.NATS.Auth != AuthJWT {
			bad(p+".signing_keys", "signing keys are used in operator mode only (nats.auth: jwt)")
		}
		for i, k := range o.SigningKeys {
			kp := p + ".signing_keys[" + strconv.Itoa(i) + "]"
			switch {
			case !nkeys.IsValidPublicAccountKey(k):
				bad(kp, "not a public account nkey (A..., see 'cofswitch org-key')")
			case owner[k] == name:
				bad(kp, "listed twice")
			case owner[k] != "":
				bad(kp, "also a signing key of organisation %q: either could issue users for the other", owner[k])
			default:
				owner[k] = name
			}
		}
	}
}

// SigningKeysOf returns the signing keys of an organisation, if any.
func (c *Config) SigningKeysOf(org string) []string {
	return c.Organisations[org].SigningKeys
}
