package policy

import (
	"bytes"
	"strconv"
	"strings"

	"github.com/cofswitch/cofswitch/cof"
)

// containsBytes is contains for a canonical name held in bytes: the map
// lookups convert without allocating.
func (z *zoneSet) containsBytes(name []byte) bool {
	if len(name) == 0 {
		return false
	}
	if z.root {
		return true
	}
	for i := len(name); i > 0; {
		j := bytes.LastIndexByte(name[:i], '.')
		isZone, ok := z.suffixes[string(name[j+1:])]
		if !ok {
			return false
		}
		if isZone {
			return true
		}
		if j < 0 {
			break
		}
		i = j
	}
	return false
}

// zoneOf names the list entry that puts name in the set, for
// explanations: "internal-zones (corp)", "corp.example", "." or "" when
// none does. Not on the hot path.
func (z *zoneSet) zoneOf(name string) string {
	if name == "" {
		return ""
	}
	if z.root {
		return "."
	}
	for i := len(name); i > 0; {
		j := strings.LastIndexByte(name[:i], '.')
		suffix := name[j+1:]
		isZone, ok := z.suffixes[suffix]
		if !ok {
			return ""
		}
		if isZone {
			if z.builtin[suffix] {
				return InternalZones + " (" + suffix + ")"
			}
			return suffix
		}
		if j < 0 {
			break
		}
		i = j
	}
	return ""
}

// zoneFilter is the zones criterion: it looks at every domain name of a
// record, the owner, the names in its rdata (rdataNames) and, under
// exclude, its bailiwick, so that a public CNAME to printer.corp is
// caught like printer.corp itself.
type zoneFilter struct{ z *zoneSet }

// anyIn is exclude's test: some name of r is in a zone. An rdata string
// of a type that carries names but does not parse counts as in: it may
// hide a name, and a strict policy must not let it through unread.
func (f zoneFilter) anyIn(r *cof.Record) bool {
	if f.z.contains(r.RRName) {
		return true
	}
	// A bailiwick at or above the owner (the usual case) is in a zone
	// only if the owner is: no second lookup.
	if r.Bailiwick != "" && !labelSuffix(r.RRName, r.Bailiwick) && f.z.contains(r.Bailiwick) {
		return true
	}
	if isText(r.RRType) {
		// Host names in text: SPF's a:, mx:, include:, "host=db.corp".
		for _, s := range r.RData {
			if textNames(s, f.z.contains) {
				return true
			}
		}
		return false
	}
	if !cof.CarriesNames(r.RRType) {
		return false
	}
	for _, s := range r.RData {
		if found, ok := f.rdataName(r.RRType, s, true); found || !ok {
			return true
		}
	}
	return false
}

// allIn is include's test: the owner and every rdata name are in a zone,
// so that an entitlement to example.com does not deliver names outside
// it. An rdata string that does not parse fails it. The bailiwick is
// not required: it is the zone that served the data, at or above the
// owner, and for a referral the parent (com), which would withhold every
// delegation.
func (f zoneFilter) allIn(r *cof.Record) bool {
	if !f.z.contains(r.RRName) {
		return false
	}
	if !cof.CarriesNames(r.RRType) {
		return true
	}
	for _, s := range r.RData {
		if found, ok := f.rdataName(r.RRType, s, false); found || !ok {
			return false
		}
	}
	return true
}

// rdataName reports whether one rdata string has a name whose membership
// in the set is in; ok is false when it does not parse.
func (f zoneFilter) rdataName(t cof.Type, s string, in bool) (found, ok bool) {
	var nb [4]cof.NameSpan
	var cb [256]byte
	names, canon, ok := cof.AppendRDataNames(nb[:0], cb[:0], t, s)
	if !ok {
		return false, false
	}
	for _, n := range names {
		if f.z.containsBytes(canon[n.CStart:n.CEnd]) == in {
			return true, true
		}
	}
	return false, true
}

// explainExclude says which name put the record in the set, in the order
// anyIn looks: "rdata name printer.corp in internal-zones (corp)".
func (f zoneFilter) explainExclude(r *cof.Record) string {
	if z := f.z.zoneOf(r.RRName); z != "" {
		return "owner name " + r.RRName + " in " + z
	}
	if z := f.z.zoneOf(r.Bailiwick); z != "" {
		return "bailiwick " + r.Bailiwick + " in " + z
	}
	if isText(r.RRType) {
		var found string
		for _, s := range r.RData {
			if textNames(s, func(n string) bool { found = n; return f.z.contains(n) }) {
				return "name " + found + " in text, in " + f.z.zoneOf(found)
			}
		}
		return ""
	}
	return f.explainRData(r, true)
}

// explainInclude says which name is in no listed zone.
func (f zoneFilter) explainInclude(r *cof.Record) string {
	if f.z.zoneOf(r.RRName) == "" {
		return "owner name " + r.RRName + " in no listed zone"
	}
	return f.explainRData(r, false)
}

func (f zoneFilter) explainRData(r *cof.Record, in bool) string {
	for i, s := range r.RData {
		names, canon, ok := cof.AppendRDataNames(nil, nil, r.RRType, s)
		if !ok {
			return rdataField(r, i) + " " + strconv.Quote(s) + " does not parse as " + r.RRType.String() + " data"
		}
		for _, n := range names {
			name := string(canon[n.CStart:n.CEnd])
			z := f.z.zoneOf(name)
			switch {
			case in && z != "":
				return "rdata name " + name + " in " + z
			case !in && z == "":
				return "rdata name " + name + " in no listed zone"
			}
		}
	}
	return ""
}

func rdataField(r *cof.Record, i int) string {
	if len(r.RData) == 1 {
		return cof.KeyRData
	}
	return cof.KeyRData + "[" + strconv.Itoa(i) + "]"
}

// explainOwner is owner_zones' explanation.
func (f zoneFilter) explainOwner(r *cof.Record) string {
	if z := f.z.zoneOf(r.RRName); z != "" {
		return "owner name " + r.RRName + " in " + z
	}
	return "owner name " + r.RRName + " in no listed zone"
}
