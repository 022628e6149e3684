// Package policy decides, per subscription, which records a peer receives
// and in what form. It knows records, not the bus.
//
// This is the interface the switch calls. The built-in "pass" policy
// delivers every record unchanged; the policy engine (filters,
// anonymisation, YAML policies) fills the same interface.
package policy

import "github.com/cofswitch/cofswitch/cof"

// Policy decides what one subscription's peer receives of a record.
type Policy interface {
	// Apply returns the record to deliver and true, or false to withhold
	// it. It must not modify r, which other subscriptions share: a
	// transform returns a copy.
	Apply(r *cof.Record) (*cof.Record, bool)
}

// Pass is the policy that delivers every record as it is.
type Pass struct{}

// Apply returns r unchanged.
func (Pass) Apply(r *cof.Record) (*cof.Record, bool) { return r, true }

// Set is an immutable, versioned set of named policies. The switch swaps
// whole Sets, so every record is processed under exactly one version.
type Set struct {
	version  string
	policies map[string]Policy
}

// NewSet returns a Set holding the given policies and the built-in ones.
func NewSet(version string, policies map[string]Policy) *Set {
	m := map[string]Policy{"pass": Pass{}}
	for name, p := range policies {
		m[name] = p
	}
	return &Set{version: version, policies: m}
}

// Builtin returns the Set of built-in policies only.
func Builtin() *Set { return NewSet("builtin", nil) }

// Lookup returns the named policy.
func (s *Set) Lookup(name string) (Policy, bool) {
	p, ok := s.policies[name]
	return p, ok
}

// Version names this Set in logs and metrics.
func (s *Set) Version() string { return s.version }
