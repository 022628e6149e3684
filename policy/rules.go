package policy

// Rule is the kind of filter that withheld a record: one side (include or
// exclude) of one filter of a policy, or the withholding of names that
// embed an address the transform hides. Its String is the criterion's
// name as Explain gives it ("exclude.zones"), never a zone, a pattern or
// a value of the policy: the set is fixed, so that a metric labelled with
// it stays small whatever the policies say. Kept (the zero Rule) means
// that nothing withheld the record.
type Rule uint8

// The rules, include side first, in the order of FilterSpec.
const (
	Kept Rule = iota
	IncludeSensors
	IncludeRRTypes
	IncludeZones
	IncludeOwnerZones
	IncludeRegex
	IncludeRDataCIDRs
	IncludeEmbeddedCIDRs
	IncludeBailiwickZones
	IncludeMinCount
	IncludeMaxCount
	IncludeMaxAge
	IncludeHasFields
	ExcludeSensors
	ExcludeRRTypes
	ExcludeZones
	ExcludeOwnerZones
	ExcludeRegex
	ExcludeRDataCIDRs
	ExcludeEmbeddedCIDRs
	ExcludeBailiwickZones
	ExcludeMinCount
	ExcludeMaxCount
	ExcludeMaxAge
	ExcludeHasFields
	// TruncateIPEmbedded and CryptoPAnEmbedded withhold a record whose
	// names or text embed an address the transform would hide.
	TruncateIPEmbedded
	CryptoPAnEmbedded
	// NoPolicy is for the switch: a subscription whose policy is missing
	// from the Set is withheld everything.
	NoPolicy
	// Other is a criterion this table does not name (none should be).
	Other
	// NumRules bounds the rules, for arrays indexed by Rule.
	NumRules
)

// filterNames are the filters of one side, in the order of the rules.
var filterNames = [...]string{"sensors", "rrtypes", "zones", "owner_zones", "regex", "rdata_cidrs", "embedded_cidrs",
	"bailiwick_zones", "min_count", "max_count", "max_age", "has_fields"}

// ruleNames is the name of each rule.
var ruleNames = func() [NumRules]string {
	var n [NumRules]string
	n[Kept] = "kept"
	for i, f := range filterNames {
		n[IncludeSensors+Rule(i)] = "include." + f
		n[ExcludeSensors+Rule(i)] = "exclude." + f
	}
	n[TruncateIPEmbedded] = "transforms.truncate_ip.embedded_address"
	n[CryptoPAnEmbedded] = "transforms.cryptopan.embedded_address"
	n[NoPolicy] = "no_policy"
	n[Other] = "other"
	return n
}()

// String is the rule's name: "exclude.zones", "include.rrtypes"...
func (r Rule) String() string {
	if r < NumRules {
		return ruleNames[r]
	}
	return "other"
}

// ruleOf is the rule of a criterion's name, Other for one it does not
// know.
func ruleOf(name string) Rule {
	for r, n := range ruleNames {
		if n == name && Rule(r) != Kept {
			return Rule(r)
		}
	}
	return Other
}
