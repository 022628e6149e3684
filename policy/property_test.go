package policy

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/cofswitch/cofswitch/cof"
)

// TestStrictPoliciesLeakNothing is a property test: for random records
// and random strict policies, no value the policy withholds or transforms
// appears in what it delivers. COFSWITCH_PROPERTY_RUNS sets the number of
// records (default 20,000; run a million by hand before a release).
func TestStrictPoliciesLeakNothing(t *testing.T) {
	runs := 20_000
	if v := os.Getenv("COFSWITCH_PROPERTY_RUNS"); v != "" {
		runs, _ = strconv.Atoi(v)
	}
	rng := rand.New(rand.NewPCG(13, 2026))
	special := newCIDRSetOf(specialPrefixes())
	internal := newZoneSet()
	for _, z := range internalZoneList() {
		internal.add(z)
	}
	for i := range runs {
		spec, p := randomStrictSpec(rng)
		c, err := Compile("p", &spec, testEnv())
		if err != nil {
			t.Fatalf("%+v: %v", spec, err)
		}
		line := randomRecord(rng, i)
		r := rec(t, line)
		out, kept := c.Apply(r)
		if kept && p.exclude && leaksInternal(r, internal, special) {
			t.Fatalf("policy %+v\n in: %s\nkept a record with an internal name or a special-purpose address in a name, rdata or text", p, line)
		}
		if kept && p.truncated && embedsFiner(r, p.v4, p.v6) {
			t.Fatalf("policy %+v\n in: %s\nkept a record whose names or text embed an address finer than the truncation", p, line)
		}
		if !kept {
			continue
		}
		js := string(out.AppendJSON(nil))
		fail := func(why string) { t.Fatalf("policy %+v\n in: %s\nout: %s\n%s", p, line, js, why) }
		if p.pseudonym && strings.Contains(js, r.SensorID) {
			fail("the sensor id is in clear")
		}
		if p.keepNone && len(out.Extra) > 0 {
			fail("an additional field passed keep_fields: []")
		}
		if p.coarsen > 0 {
			d := p.coarsen
			if out.TimeFirst%d != 0 || out.TimeLast%d != 0 || out.TimeLast <= out.TimeFirst {
				fail("times not widened to whole buckets")
			}
			for _, f := range out.Extra {
				if TimeLike(f.Name) {
					fail("a time-like field passed coarsen_time")
				}
			}
		}
		if p.exclude {
			if internal.contains(out.RRName) {
				fail("an internal name passed exclude.zones")
			}
			for i := range out.RData {
				if a, ok := out.Addr(i); ok && special.containsAddr(a) && !p.truncated {
					fail("a special-purpose address passed exclude.rdata_cidrs")
				}
			}
		}
		if p.v4 > 0 {
			for i := range out.RData {
				a, ok := out.Addr(i)
				bits := p.v6
				if a.Is4() {
					bits = p.v4
				}
				if ok && netip.PrefixFrom(a, bits).Masked().Addr() != a {
					fail("an address keeps bits beyond the truncation")
				}
				if b := a.As16(); ok && a.Is6() && b[0] == 0x20 && b[1] == 0x02 {
					v4 := netip.AddrFrom4([4]byte{b[2], b[3], b[4], b[5]})
					if netip.PrefixFrom(v4, p.v4).Masked().Addr() != v4 {
						fail("a 6to4 address keeps IPv4 bits beyond the truncation")
					}
				}
			}
		}
		for j := 1; j < len(out.RData); j++ {
			if out.RData[j] == out.RData[j-1] {
				fail("rdata is not a set")
			}
		}
	}
}

// strictness says what a random policy promised.
type strictness struct {
	pseudonym, keepNone, exclude, truncated bool
	v4, v6                                  int
	coarsen                                 int64
}

func randomStrictSpec(rng *rand.Rand) (Spec, strictness) {
	var s Spec
	var p strictness
	if rng.IntN(2) == 0 {
		p.pseudonym = true
		s.Transforms.PseudonymiseSensor = &PseudonymSpec{KeyFile: "/keys/a"}
	}
	if rng.IntN(2) == 0 {
		p.keepNone = true
		s.Transforms.KeepFields = &[]string{}
	}
	if rng.IntN(2) == 0 {
		p.exclude = true
		s.Exclude = &FilterSpec{Zones: []string{"internal-zones"}, RDataCIDRs: []string{"special-purpose"}, EmbeddedCIDRs: []string{"special-purpose"}}
	}
	if rng.IntN(2) == 0 {
		p.v4, p.v6, p.truncated = 8*(1+rng.IntN(3)), 16*(1+rng.IntN(4)), true
		s.Transforms.TruncateIP = &TruncateSpec{IPv4: p.v4, IPv6: p.v6}
	}
	if rng.IntN(2) == 0 {
		buckets := []string{"1m", "1h", "6h", "1d"}
		secs := []int64{60, 3600, 6 * 3600, 86400}
		k := rng.IntN(len(buckets))
		p.coarsen = secs[k]
		s.Transforms.CoarsenTime = buckets[k]
	}
	return s, p
}

// randomRecord writes a record whose every value is marked, so that a
// leak is found by searching the output for it.
func randomRecord(rng *rand.Rand, i int) string {
	zones := []string{"example.com", "corp", "lan", "home.arpa", "10.in-addr.arpa", "example.org", "local", "internal"}
	name := fmt.Sprintf("h%d-%d.%s", i, rng.IntN(1000), zones[rng.IntN(len(zones))])
	var typ, rdata string
	switch rng.IntN(5) {
	case 0:
		typ = "A"
		var addrs []string
		for range 1 + rng.IntN(4) {
			addrs = append(addrs, strconv.Quote(randomV4(rng).String()))
		}
		rdata = strings.Join(addrs, ",")
	case 1:
		typ = "AAAA"
		rdata = strconv.Quote(randomV6(rng).String())
	case 2:
		typ, rdata = "CNAME", strconv.Quote(randomTarget(rng, zones))
	case 3:
		typ, rdata = "MX", strconv.Quote("10 "+randomTarget(rng, zones))
	default:
		typ, rdata = "TXT", strconv.Quote(fmt.Sprintf(`"v=spf1 ip4:%s -all"`, randomV4(rng)))
	}
	first := 1_600_000_000 + rng.Int64N(100_000_000)
	last := first + rng.Int64N(1_000_000)
	extra := ""
	if rng.IntN(2) == 0 {
		extra = fmt.Sprintf(`,"client_ip":"10.%d.%d.%d","seen_at":"%d.123","nested":{"ip":"192.168.1.%d"}`, rng.IntN(256), rng.IntN(256), rng.IntN(256), last, rng.IntN(256))
	}
	return fmt.Sprintf(`{"rrname":%q,"rrtype":%q,"rdata":[%s],"time_first":%d,"time_last":%d,"count":%d,"sensor_id":"sens-%08d"%s}`,
		name, typ, rdata, first, last, 1+rng.IntN(1000), i, extra)
}

// randomTarget is a name in one of zones, sometimes embedding an address.
func randomTarget(rng *rand.Rand, zones []string) string {
	host := "t" + strconv.Itoa(rng.IntN(100))
	if rng.IntN(3) == 0 {
		host = "host-" + strings.ReplaceAll(randomV4(rng).String(), ".", "-")
	}
	return host + "." + zones[rng.IntN(len(zones))] + "."
}

// leaksInternal: a name of r (owner, rdata, bailiwick) is internal, or an
// address of r or embedded in its names or text is special-purpose.
func leaksInternal(r *cof.Record, internal *zoneSet, special *cidrSet) bool {
	if internal.contains(r.RRName) || internal.contains(r.Bailiwick) {
		return true
	}
	leak, parsed := false, true
	eachRDataName(r, func(n string) bool { leak = internal.contains(n); return !leak }, &parsed)
	if leak || !parsed {
		return true
	}
	for i := range r.RData {
		if a, ok := r.Addr(i); ok && special.containsAddr(a) {
			return true
		}
	}
	return recordEmbeds(r, false, func(p netip.Prefix) bool { return special.overlaps(p) })
}

// embedsFiner: a name or text of r gives an address more precisely than
// a truncation to v4 and v6 bits.
func embedsFiner(r *cof.Record, v4, v6 int) bool {
	return recordEmbeds(r, r.RRType == cof.TypePTR, func(p netip.Prefix) bool { return finerThan(p, v4, v6) })
}

func randomV4(rng *rand.Rand) netip.Addr {
	firsts := []byte{10, 93, 127, 172, 192, 198, 203, 8, 100}
	return netip.AddrFrom4([4]byte{firsts[rng.IntN(len(firsts))], byte(rng.IntN(256)), byte(rng.IntN(256)), byte(rng.IntN(256))})
}

func randomV6(rng *rand.Rand) netip.Addr {
	prefixes := [][2]byte{{0x20, 0x01}, {0xfd, 0x00}, {0xfe, 0x80}, {0x2a, 0x00}, {0x20, 0x02}, {0x00, 0x64}}
	var b [16]byte
	p := prefixes[rng.IntN(len(prefixes))]
	b[0], b[1] = p[0], p[1]
	for i := 2; i < 16; i++ {
		b[i] = byte(rng.IntN(256))
	}
	return netip.AddrFrom16(b)
}

// newCIDRSetOf builds a cidrSet of prefixes, for the test's own checks.
func newCIDRSetOf(ps []netip.Prefix) *cidrSet {
	c := &cidrSet{}
	for _, p := range ps {
		c.add(p)
	}
	return c
}
