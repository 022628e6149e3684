package policy

import (
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/cofswitch/cofswitch/cof"
	"github.com/cofswitch/cofswitch/routing"
)

// criterion is one compiled filter: a name for explanations and hit
// tables, its Rule (the name as a number, for counting), an
// allocation-free predicate, and optionally why, which says in words what
// decided (Explanation.Detail) once match has.
type criterion struct {
	name  string
	rule  Rule
	match func(r *cof.Record) bool
	why   func(r *cof.Record) string
	// scan, when set, is match reading what the policies share of the
	// record in s (see Scratch.embedded): the engine's path.
	scan func(s *Scratch, r *cof.Record) bool
}

// matches runs the criterion, through s when it has a shared reading
// and s is given.
func (cr *criterion) matches(s *Scratch, r *cof.Record) bool {
	if s != nil && cr.scan != nil {
		return cr.scan(s, r)
	}
	return cr.match(r)
}

// typeSet is a bitmap over all 65536 rrtypes.
type typeSet [1024]uint64

func (s *typeSet) add(t cof.Type)               { s[t>>6] |= 1 << (t & 63) }
func (s *typeSet) has(t cof.Type) bool          { return s[t>>6]&(1<<(t&63)) != 0 }
func (s *typeSet) hasRecord(r *cof.Record) bool { return s.has(r.RRType) }

// zoneSet matches names at or below any of its zones, on label
// boundaries: "example.com" matches example.com and www.example.com, not
// badexample.com. A lookup walks the name's suffixes from the top label
// down and stops at the first that is no zone's suffix: one probe for
// most names ("com" ends no internal zone).
type zoneSet struct {
	// suffixes holds every suffix of every zone on a label boundary:
	// true for a zone, false for a suffix that is not one itself.
	suffixes map[string]bool
	root     bool
	// builtin marks the zones that came from internal-zones, for
	// explanations.
	builtin map[string]bool
}

func newZoneSet() *zoneSet { return &zoneSet{suffixes: map[string]bool{}, builtin: map[string]bool{}} }

func (z *zoneSet) add(zone string) {
	if zone == "." {
		z.root = true
		return
	}
	z.suffixes[zone] = true
	for i := strings.IndexByte(zone, '.'); i >= 0; i = strings.IndexByte(zone, '.') {
		zone = zone[i+1:]
		if !z.suffixes[zone] {
			z.suffixes[zone] = false
		}
	}
}

func (z *zoneSet) contains(name string) bool {
	if name == "" {
		return false
	}
	if z.root {
		return true
	}
	for i := len(name); i > 0; {
		j := strings.LastIndexByte(name[:i], '.')
		isZone, ok := z.suffixes[name[j+1:]]
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

// cidrSet holds IPv4 and IPv6 prefixes apart, so a lookup scans one list.
type cidrSet struct {
	v4, v6 []netip.Prefix
}

func (c *cidrSet) add(p netip.Prefix) {
	p = p.Masked()
	if p.Addr().Is4() {
		c.v4 = append(c.v4, p)
	} else {
		c.v6 = append(c.v6, p)
	}
}

func (c *cidrSet) containsAddr(a netip.Addr) bool {
	list := c.v6
	if a.Is4() {
		list = c.v4
	}
	for _, p := range list {
		if p.Contains(a) {
			return true
		}
	}
	return embeddedOverlaps(netip.PrefixFrom(a, 128), c.v4) // 6to4, NAT64, Teredo...
}

// overlaps reports whether a (possibly short) prefix shares addresses with
// the set: a PTR name for a whole /24 matches a set holding one /32 in it.
func (c *cidrSet) overlaps(q netip.Prefix) bool {
	list := c.v6
	if q.Addr().Is4() {
		list = c.v4
	}
	for _, p := range list {
		if p.Overlaps(q) {
			return true
		}
	}
	return embeddedOverlaps(q, c.v4)
}

// matchRecord: any A/AAAA rdata in the set, or a PTR owner name for an
// address in it.
func (c *cidrSet) matchRecord(r *cof.Record) bool {
	switch r.RRType {
	case cof.TypeA, cof.TypeAAAA:
		for i := range r.RData {
			if a, ok := r.Addr(i); ok && c.containsAddr(a) {
				return true
			}
		}
	case cof.TypePTR:
		if p, ok := parseReverse(r.RRName); ok {
			return c.overlaps(p)
		}
	}
	return false
}

// parseReverse reads an in-addr.arpa or ip6.arpa name as the prefix it
// stands for: 4.3.2.1.in-addr.arpa is 1.2.3.4/32, 2.0.192.in-addr.arpa is
// 192.0.2.0/24. It does not allocate.
func parseReverse(name string) (netip.Prefix, bool) {
	if rest, ok := strings.CutSuffix(name, ".in-addr.arpa"); ok {
		var b [4]byte
		n := 0
		for rest != "" {
			if n == 4 {
				return netip.Prefix{}, false
			}
			i := strings.LastIndexByte(rest, '.')
			v, err := strconv.ParseUint(rest[i+1:], 10, 8)
			if err != nil || (len(rest[i+1:]) > 1 && rest[i+1] == '0') {
				return netip.Prefix{}, false
			}
			b[n] = byte(v)
			n++
			if i < 0 {
				break
			}
			rest = rest[:i]
		}
		return netip.PrefixFrom(netip.AddrFrom4(b), n*8), n > 0
	}
	if rest, ok := strings.CutSuffix(name, ".ip6.arpa"); ok {
		var b [16]byte
		n := 0
		for i := len(rest) - 1; i >= 0; i -= 2 {
			if n == 32 || (i > 0 && rest[i-1] != '.') {
				return netip.Prefix{}, false
			}
			v := hexNibble(rest[i])
			if v < 0 {
				return netip.Prefix{}, false
			}
			b[n/2] |= byte(v) << (4 * (1 - n%2))
			n++
		}
		return netip.PrefixFrom(netip.AddrFrom16(b), n*4), n > 0
	}
	return netip.Prefix{}, false
}

func hexNibble(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'a' <= c && c <= 'f':
		return int(c-'a') + 10
	}
	return -1
}

// compileFilter turns a FilterSpec into criteria; side is "include" or
// "exclude", for names and error paths.
func compileFilter(side string, f *FilterSpec, now func() time.Time, errs *errList) []criterion {
	if f == nil {
		return nil
	}
	c := &criteria{side: side, errs: errs}
	c.names(f)
	c.values(f, now)
	return c.out
}

// criteria collects the compiled criteria of one side of a policy.
type criteria struct {
	side string
	errs *errList
	out  []criterion
}

func (c *criteria) add(name string, m func(*cof.Record) bool) {
	c.out = append(c.out, criterion{name: c.side + "." + name, rule: ruleOf(c.side + "." + name), match: m})
}

// names compiles the criteria on sensor ids, types and names.
func (c *criteria) names(f *FilterSpec) {
	side, errs, add := c.side, c.errs, c.add
	if len(f.Sensors) > 0 {
		pats := append([]string(nil), f.Sensors...)
		for i, p := range pats {
			if p == "" {
				errs.add(side+".sensors["+strconv.Itoa(i)+"]", "empty pattern")
			}
		}
		add("sensors", func(r *cof.Record) bool {
			for _, p := range pats {
				if routing.Match(p, r.SensorID) {
					return true
				}
			}
			return false
		})
	}
	if len(f.RRTypes) > 0 {
		set := new(typeSet)
		for i, s := range f.RRTypes {
			t, ok := cof.ParseType(s)
			if !ok {
				errs.add(side+".rrtypes["+strconv.Itoa(i)+"]", "unknown rrtype %q", s)
			}
			set.add(t)
		}
		add("rrtypes", set.hasRecord)
	}
	if len(f.Zones) > 0 {
		z := zoneFilter{compileZones(side+".zones", f.Zones, errs)}
		if side == "include" {
			add("zones", z.allIn)
			c.out[len(c.out)-1].why = z.explainInclude
		} else {
			add("zones", z.anyIn)
			c.out[len(c.out)-1].why = z.explainExclude
		}
	}
	if len(f.OwnerZones) > 0 {
		z := zoneFilter{compileZones(side+".owner_zones", f.OwnerZones, errs)}
		add("owner_zones", func(r *cof.Record) bool { return z.z.contains(r.RRName) })
		c.out[len(c.out)-1].why = z.explainOwner
	}
	if len(f.Regex) > 0 {
		var res []*regexp.Regexp
		for i, s := range f.Regex {
			re, err := regexp.Compile(s)
			if err != nil {
				errs.add(side+".regex["+strconv.Itoa(i)+"]", "%v", err)
				continue
			}
			res = append(res, re)
		}
		add("regex", func(r *cof.Record) bool {
			for _, re := range res {
				if re.MatchString(r.RRName) {
					return true
				}
			}
			return false
		})
	}
}

// values compiles the criteria on addresses, bailiwick, count, age and
// fields.
func (c *criteria) values(f *FilterSpec, now func() time.Time) {
	side, errs, add := c.side, c.errs, c.add
	if len(f.RDataCIDRs) > 0 {
		c := compileCIDRs(side+".rdata_cidrs", f.RDataCIDRs, errs)
		add("rdata_cidrs", c.matchRecord)
	}
	if len(f.EmbeddedCIDRs) > 0 {
		add("embedded_cidrs", compileEmbedded(side+".embedded_cidrs", f.EmbeddedCIDRs, errs))
	}
	if len(f.BailiwickZones) > 0 {
		z := compileZones(side+".bailiwick_zones", f.BailiwickZones, errs)
		add("bailiwick_zones", func(r *cof.Record) bool { return z.contains(r.Bailiwick) })
	}
	if f.MinCount != nil {
		n := *f.MinCount
		add("min_count", func(r *cof.Record) bool { return recordCount(r) >= n })
	}
	if f.MaxCount != nil {
		n := *f.MaxCount
		add("max_count", func(r *cof.Record) bool { return recordCount(r) <= n })
	}
	if f.MinCount != nil && f.MaxCount != nil && *f.MinCount > *f.MaxCount {
		errs.add(side+".min_count", "%d is above max_count %d", *f.MinCount, *f.MaxCount)
	}
	if f.MaxAge != "" {
		d, err := parseDuration(f.MaxAge)
		if err != nil || d <= 0 {
			errs.add(side+".max_age", "bad duration %q (want e.g. 12h or 30d)", f.MaxAge)
		}
		secs := int64(d / time.Second)
		add("max_age", func(r *cof.Record) bool { return now().Unix()-r.TimeLast <= secs })
	}
	if len(f.HasFields) > 0 {
		fields := append([]string(nil), f.HasFields...)
		for i, name := range fields {
			if isMandatory(name) {
				errs.add(side+".has_fields["+strconv.Itoa(i)+"]", "%s is mandatory: every record has it", name)
			}
		}
		add("has_fields", func(r *cof.Record) bool {
			for _, name := range fields {
				if !hasField(r, name) {
					return false
				}
			}
			return true
		})
	}
}

func recordCount(r *cof.Record) int64 {
	if r.Has&cof.HasCount == 0 {
		return 1
	}
	return r.Count
}

func isMandatory(name string) bool {
	switch name {
	case cof.KeyRRName, cof.KeyRRType, cof.KeyRData, cof.KeyTimeFirst, cof.KeyTimeLast:
		return true
	}
	return false
}

// hasField reports whether an optional or additional field is present.
func hasField(r *cof.Record, name string) bool {
	switch name {
	case cof.KeyCount:
		return r.Has&cof.HasCount != 0
	case cof.KeyBailiwick:
		return r.Bailiwick != ""
	case cof.KeySensorID:
		return r.SensorID != ""
	case cof.KeyOrigin:
		return r.Origin != ""
	case cof.KeyZoneTimeFirst, cof.KeyZoneTimeLast:
		return r.Has&cof.HasZoneTimes != 0
	case cof.KeyTimeFirstMS:
		return r.Has&cof.HasTimeFirstMS != 0
	case cof.KeyTimeLastMS:
		return r.Has&cof.HasTimeLastMS != 0
	}
	for _, f := range r.Extra {
		if f.Name == name {
			return true
		}
	}
	return false
}

func compileZones(path string, zones []string, errs *errList) *zoneSet {
	z := newZoneSet()
	for i, s := range zones {
		if s == InternalZones {
			for _, iz := range internalZoneList() {
				z.add(iz)
				z.builtin[iz] = true
			}
			continue
		}
		canon, err := canonicalZone(s)
		if err != nil {
			errs.add(path+"["+strconv.Itoa(i)+"]", "%v", err)
			continue
		}
		z.add(canon)
	}
	return z
}

// canonicalZone normalises a zone as cof normalises names, so that
// "Example.COM." in a policy matches "example.com" in records.
func canonicalZone(s string) (string, error) {
	// cof's own JSON escaping: strconv.Quote writes \x7f and \a, which
	// are not JSON.
	line := `{"rrname":` + string(cof.AppendJSONString(nil, s)) + `,"rrtype":"NS","rdata":"x.","time_first":0,"time_last":0}`
	r, err := cof.Parse([]byte(line))
	if err != nil {
		var ce *cof.Error
		if asErr(err, &ce) {
			return "", &Error{Msg: "zone " + strconv.Quote(s) + ": " + ce.Reason}
		}
		return "", err
	}
	return r.RRName, nil
}

func compileCIDRs(path string, list []string, errs *errList) *cidrSet {
	c := &cidrSet{}
	for i, s := range list {
		if s == SpecialPurpose {
			for _, p := range specialPrefixes() {
				c.add(p)
			}
			continue
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			a, aerr := netip.ParseAddr(s)
			if aerr != nil {
				errs.add(path+"["+strconv.Itoa(i)+"]", "%q is not a CIDR, an address or %s", s, SpecialPurpose)
				continue
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		c.add(p)
	}
	return c
}
