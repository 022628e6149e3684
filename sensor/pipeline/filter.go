package pipeline

import (
	"bytes"
	"fmt"
	"os"

	"go.yaml.in/yaml/v3"

	"github.com/cofswitch/cofswitch/policy"
)

// DefaultFilterSpec is what a sensor keeps from leaving its site unless
// told otherwise: records naming an internal zone (the built-in set:
// .local, .lan, .home.arpa, .internal, corp-like suffixes...) and records
// carrying a special-purpose address (RFC 1918, loopback, link-local,
// ULA, documentation..., also written into names and text), as the
// switch's policies read them.
func DefaultFilterSpec() *policy.Spec {
	return &policy.Spec{Exclude: &policy.FilterSpec{
		Zones:         []string{"internal-zones"},
		RDataCIDRs:    []string{"special-purpose"},
		EmbeddedCIDRs: []string{"special-purpose"},
	}}
}

// LoadFilter reads a filter from a YAML file written as one policy of the
// exchange's configuration (include, exclude, transforms), and compiles it
// as the policy "sensor-filter".
func LoadFilter(file string) (policy.Policy, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("filter: %w", err)
	}
	var spec policy.Spec
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&spec); err != nil {
		return nil, fmt.Errorf("filter %s: %w", file, err)
	}
	return CompileFilter(&spec)
}

// CompileFilter compiles a filter spec.
func CompileFilter(spec *policy.Spec) (policy.Policy, error) {
	p, err := policy.Compile("sensor-filter", spec, policy.DefaultEnv())
	if err != nil {
		return nil, fmt.Errorf("filter: %w", err)
	}
	return p, nil
}
