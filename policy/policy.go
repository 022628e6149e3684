// Package policy decides, per subscription, which records a peer receives
// and in what form. It knows records, not the bus: it imports cof and
// routing only.
//
// A policy is data (the Spec in the configuration file), compiled once
// into predicates and transforms (Compiled). A Set holds every compiled
// policy of one configuration version; the switch swaps whole Sets, so each
// record is processed under exactly one version.
package policy

import (
	"errors"
	"slices"
	"time"

	"github.com/cofswitch/cofswitch/cof"
)

// PassName is the built-in policy that delivers every record unchanged.
const PassName = "pass"

// Policy decides what one subscription's peer receives of a record.
type Policy interface {
	// Apply returns the record to deliver and true, or false to withhold
	// it. It must not modify r, which other subscriptions share: a
	// transform returns a copy.
	Apply(r *cof.Record) (*cof.Record, bool)
	// ApplyTo is Apply building a changed record in s, where it stays
	// valid until the next ApplyTo with s.
	ApplyTo(s *Scratch, r *cof.Record) (*cof.Record, bool)
	// Decide is ApplyTo saying which kind of filter withheld the record
	// (Kept when none did), for counting without allocating.
	Decide(s *Scratch, r *cof.Record) (*cof.Record, Rule)
	// Explain applies the policy and says which rule decided.
	Explain(r *cof.Record) Explanation
	// TLP is the default label of subscriptions using the policy.
	TLP() TLP
	// Version identifies the policy's own rules, for the peer's headers.
	Version() string
	// Release is how long outputs are held before delivery (0: none).
	Release() time.Duration
	// Threshold is the k-sensor release threshold (zero: none).
	Threshold() Threshold
}

// Pass is the policy that delivers every record as it is.
type Pass struct{}

// Apply returns r unchanged.
func (Pass) Apply(r *cof.Record) (*cof.Record, bool) { return r, true }

// ApplyTo returns r unchanged.
func (Pass) ApplyTo(_ *Scratch, r *cof.Record) (*cof.Record, bool) { return r, true }

// Decide returns r unchanged, kept.
func (Pass) Decide(_ *Scratch, r *cof.Record) (*cof.Record, Rule) { return r, Kept }

// Explain says the record is kept, untouched.
func (Pass) Explain(r *cof.Record) Explanation {
	return Explanation{Policy: PassName, Kept: true, Out: r}
}

// TLP is empty: pass carries no label of its own.
func (Pass) TLP() TLP { return "" }

// Version is "pass": the built-in policy has no rules to version.
func (Pass) Version() string { return PassName }

// Release is 0: pass delivers at once.
func (Pass) Release() time.Duration { return 0 }

// Threshold is none: pass holds nothing back.
func (Pass) Threshold() Threshold { return Threshold{} }

// Set is an immutable, versioned set of named policies.
type Set struct {
	version  string
	policies map[string]Policy
}

// NewSet returns a Set holding the given policies and the built-in ones.
func NewSet(version string, policies map[string]Policy) *Set {
	m := map[string]Policy{PassName: Pass{}}
	for name, p := range policies {
		m[name] = p
	}
	return &Set{version: version, policies: m}
}

// Builtin returns the Set of built-in policies only.
func Builtin() *Set { return NewSet("builtin", nil) }

// CompileSet compiles every spec. It reports every fault of every policy,
// not just the first.
func CompileSet(version string, specs map[string]*Spec, env Env) (*Set, error) {
	compiled := map[string]Policy{}
	var errs []error
	names := make([]string, 0, len(specs))
	for name := range specs {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		c, err := Compile(name, specs[name], env)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		compiled[name] = c
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return NewSet(version, compiled), nil
}

// Lookup returns the named policy.
func (s *Set) Lookup(name string) (Policy, bool) {
	p, ok := s.policies[name]
	return p, ok
}

// Names returns the policy names, sorted.
func (s *Set) Names() []string {
	out := make([]string, 0, len(s.policies))
	for n := range s.policies {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// Version names this Set in logs, headers and metrics.
func (s *Set) Version() string { return s.version }
