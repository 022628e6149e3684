package policy

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/cofswitch/cofswitch/cof"
)

// Privacy says, in words, what a peer learns of the records a policy
// delivers: which fields, and how precise its times, addresses, names and
// sensor ids are. 'cofswitch policy check' prints it per subscription.
type Privacy struct {
	Fields    string // "all", "the draft's only", "the draft's and seen_by"...
	Times     string // "exact", "coarsened to 1h, delivered when the hour ends"...
	Addresses string // "full", "truncated to /24 (IPv4) and /48 (IPv6)", "Crypto-PAn"...
	Names     string // "clear" or "hashed below the registered domain", and the name filters
	Sensors   string // "clear", "pseudonymised", "dropped" or "set to ..."
	// ExactTimes, FullAddresses and ClearSensors flag what a peer of
	// another organisation should not get without a warning.
	ExactTimes, FullAddresses, ClearSensors bool
	// TimedDelivery flags coarsened times delivered at once (release:
	// immediate): the moment of delivery tells what the body does not.
	TimedDelivery bool
}

// Describe returns the privacy of a policy as specified; nil stands for
// the built-in pass. The spec must compile: Describe does not check it.
func Describe(s *Spec) Privacy {
	if s == nil {
		s = &Spec{}
	}
	t := &s.Transforms
	p := Privacy{Fields: describeFields(t)}
	p.Times, p.ExactTimes, p.TimedDelivery = describeTimes(t)
	p.Addresses, p.FullAddresses = describeAddresses(s)
	p.Names = describeNames(s)
	switch {
	case t.SetFields[cof.KeySensorID] != "":
		p.Sensors = fmt.Sprintf("set to %q", t.SetFields[cof.KeySensorID])
	case slices.Contains(t.DropFields, cof.KeySensorID):
		p.Sensors = "dropped"
	case t.PseudonymiseSensor != nil:
		p.Sensors = "pseudonymised"
	default:
		p.Sensors, p.ClearSensors = "clear", true
	}
	return p
}

func describeFields(t *TransformSpec) string {
	var b strings.Builder
	switch {
	case t.KeepFields == nil:
		b.WriteString("all")
	case len(*t.KeepFields) == 0:
		b.WriteString("the draft's only")
	default:
		b.WriteString("the draft's and " + strings.Join(*t.KeepFields, ", "))
	}
	if len(t.DropFields) > 0 {
		b.WriteString(", without " + strings.Join(t.DropFields, ", "))
	}
	if len(t.SetFields) > 0 {
		keys := make([]string, 0, len(t.SetFields))
		for k := range t.SetFields {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		b.WriteString("; set: " + strings.Join(keys, ", "))
	}
	return b.String()
}

// describeTimes: a bucket of a second or less is the precision COF
// already has.
func describeTimes(t *TransformSpec) (words string, exact, timed bool) {
	if t.CoarsenTime == "" {
		return "exact", true, false
	}
	d, err := parseDuration(t.CoarsenTime)
	if err != nil || d <= time.Second {
		return "exact", true, false
	}
	if t.Release == ReleaseImmediate {
		return "coarsened to " + t.CoarsenTime + " in the body, but delivered at once (release: immediate): the moment of delivery tells the time", false, true
	}
	return "coarsened to " + t.CoarsenTime + ", delivered merged when the bucket ends", false, false
}

func describeAddresses(s *Spec) (string, bool) {
	t := &s.Transforms
	var out string
	full := false
	switch {
	case t.CryptoPAn != nil:
		out = "Crypto-PAn (prefix-preserving pseudonyms)"
	case t.TruncateIP != nil:
		v4, v6 := t.TruncateIP.IPv4, t.TruncateIP.IPv6
		full = v4 == 0 || v4 >= 32 || v6 == 0 || v6 >= 128
		out = "truncated to " + prefixWords(v4, 32, "IPv4") + " and " + prefixWords(v6, 128, "IPv6")
	default:
		out, full = "full", true
	}
	if !full {
		out += "; records whose names or text embed a finer address are withheld"
	}
	rdata := filterWords(s, func(f *FilterSpec) []string { return f.RDataCIDRs }, "rdata_cidrs")
	embedded := filterWords(s, func(f *FilterSpec) []string { return f.EmbeddedCIDRs }, "embedded_cidrs")
	if f := strings.Trim(rdata+"; "+embedded, "; "); f != "" {
		out += "; filtered by " + f
	}
	return out, full
}

func prefixWords(bits, all int, family string) string {
	if bits == 0 || bits >= all {
		return family + " full"
	}
	return fmt.Sprintf("/%d (%s)", bits, family)
}

func describeNames(s *Spec) string {
	out := "clear"
	if s.Transforms.HashLabels != nil {
		out = "hashed below the registered domain, with their parent, in owner, rdata and bailiwick"
	}
	zones := filterWords(s, func(f *FilterSpec) []string { return f.Zones }, "zones")
	if zones != "" {
		zones += " (every name: owner, rdata, bailiwick)"
	}
	owner := filterWords(s, func(f *FilterSpec) []string { return f.OwnerZones }, "owner_zones")
	regex := filterWords(s, func(f *FilterSpec) []string { return f.Regex }, "regex")
	if f := strings.Trim(strings.Join([]string{zones, owner, regex}, "; "), "; "); f != "" {
		out += "; filtered by " + strings.ReplaceAll(f, "; ; ", "; ")
	}
	return out
}

// filterWords lists a criterion's values under include and exclude, as
// "exclude.zones internal-zones, corp.example".
func filterWords(s *Spec, get func(*FilterSpec) []string, key string) string {
	var parts []string
	for _, side := range []struct {
		name string
		f    *FilterSpec
	}{{"include", s.Include}, {"exclude", s.Exclude}} {
		if side.f == nil || len(get(side.f)) == 0 {
			continue
		}
		parts = append(parts, side.name+"."+key+" "+strings.Join(get(side.f), ", "))
	}
	return strings.Join(parts, "; ")
}
