// Package gen makes synthetic passive DNS records with the shape of real
// traffic, for benchmarks, load tests and demos: owner names drawn from a
// generated name space with Zipf popularity (a few names are seen very
// often, most rarely), a realistic rrtype mix with plausible rdata sets,
// and a share of records that sharing policies exist to remove (internal
// zones, private addresses). A generator is deterministic for a seed.
// It imports cof only.
package gen

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/cofswitch/cofswitch/cof"
)

// Options shape a generator. The zero value of each field means its
// default.
type Options struct {
	// Seed makes the sequence reproducible.
	Seed uint64
	// Names is the size of the name space (default 1,000,000). Each
	// name belongs to a domain of 8 host names.
	Names int
	// Zipf is the exponent of name popularity, above 1 (default 1.1:
	// the most popular names take a large share, as in resolver traffic).
	Zipf float64
	// Internal is the share of records carrying what policies remove: an
	// internal name or a private address (default 0.05; negative for none).
	Internal float64
	// Sensors are the sensor_ids records are attributed to, at random;
	// none leaves sensor_id out (the switch fills in the publisher's).
	Sensors []string
	// Now ends the observation window (default: the time New is called).
	Now time.Time
	// Window is how far before Now a first sighting may lie (default 30
	// days).
	Window time.Duration
}

// ErrOptions reports options that cannot make a generator.
var ErrOptions = errors.New("gen: bad options")

// Generator makes records. It is not safe for concurrent use; give each
// goroutine its own, with its own seed.
type Generator struct {
	o    Options
	rng  *rand.Rand
	zipf *rand.Zipf
	now  int64
	win  int64
}

// The rrtype mix, in per mille, after the shares seen in resolver-side
// pDNS: mostly addresses, then aliases, then the zone's own records.
var typeMix = []struct {
	t     cof.Type
	share int
}{
	{cof.TypeA, 450}, {cof.TypeAAAA, 200}, {cof.TypeCNAME, 110}, {cof.TypeNS, 60},
	{cof.TypeMX, 40}, {cof.TypeTXT, 60}, {cof.TypeSOA, 30}, {cof.TypePTR, 35}, {cof.TypeSRV, 15},
}

var (
	hosts     = []string{"www", "mail", "api", "cdn", "static", "m", "vpn", "login"}
	syllables = []string{"ka", "lo", "mi", "ne", "ra", "to", "vi", "su", "de", "po", "an", "el", "or", "in", "us", "ta", "be", "ri", "go", "ma"}
	tlds      = []string{"com", "com", "com", "net", "org", "de", "fr", "co.uk", "nl", "lu", "ch", "io", "jp", "com.br", "ru", "info"}
	providers = []string{"cloudfront.net", "akamaiedge.net", "fastly.net", "azureedge.net", "edgekey.net"}
	// First octets of public, allocated IPv4 space, far from every
	// special-purpose block, so policies keep them.
	publicV4 = []int{23, 31, 37, 45, 46, 51, 62, 77, 80, 81, 82, 85, 87, 89, 91, 93, 94, 104, 151, 176, 185, 193, 194, 195, 212, 213, 217}
	internal = []string{"corp", "internal", "lan", "home.arpa", "local"}
)

// New returns a generator for the options.
func New(o Options) (*Generator, error) {
	if o.Names == 0 {
		o.Names = 1_000_000
	}
	if o.Zipf == 0 {
		o.Zipf = 1.1
	}
	if o.Internal == 0 {
		o.Internal = 0.05
	}
	if o.Internal < 0 {
		o.Internal = 0
	}
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	if o.Window == 0 {
		o.Window = 30 * 24 * time.Hour
	}
	switch {
	case o.Names < 8:
		return nil, fmt.Errorf("%w: names %d: want at least 8", ErrOptions, o.Names)
	case o.Zipf <= 1:
		return nil, fmt.Errorf("%w: zipf %g: want more than 1", ErrOptions, o.Zipf)
	case o.Internal > 1:
		return nil, fmt.Errorf("%w: internal %g: want a share from 0 to 1", ErrOptions, o.Internal)
	case o.Window < time.Second:
		return nil, fmt.Errorf("%w: window %v: want at least a second", ErrOptions, o.Window)
	}
	rng := rand.New(rand.NewPCG(o.Seed, o.Seed^0x9e3779b97f4a7c15))
	return &Generator{
		o: o, rng: rng,
		zipf: rand.NewZipf(rng, o.Zipf, 1, uint64(o.Names-1)),
		now:  o.Now.Unix(),
		win:  int64(o.Window / time.Second),
	}, nil
}

// Next fills r with the next record, reusing r's rdata slice.
func (g *Generator) Next(r *cof.Record) {
	// Popular ranks are spread over the name space, so that the popular
	// names are not all in the first domains.
	i := int(mix(g.zipf.Uint64()) % uint64(g.o.Names))
	*r = cof.Record{RData: r.RData[:0]}
	if g.rng.Float64() < g.o.Internal {
		g.internalRecord(r, i)
	} else {
		g.publicRecord(r, i)
	}
	last := g.now - g.rng.Int64N(3600)
	r.TimeLast = last
	r.TimeFirst = last - g.rng.Int64N(g.win)
	// Counts: mostly small, with a long tail for the popular rrsets.
	r.Count = 1 + int64(g.rng.ExpFloat64()*float64(1+1_000_000/(i+100)))
	r.Has = cof.HasCount
	if len(g.o.Sensors) > 0 {
		r.SensorID = g.o.Sensors[g.rng.IntN(len(g.o.Sensors))]
	}
}

// AppendLines appends n records as NDJSON lines.
func (g *Generator) AppendLines(dst []byte, n int) []byte {
	var r cof.Record
	for range n {
		g.Next(&r)
		dst = r.AppendLine(dst)
	}
	return dst
}

func (g *Generator) pickType() cof.Type {
	n := g.rng.IntN(1000)
	for _, m := range typeMix {
		if n < m.share {
			return m.t
		}
		n -= m.share
	}
	return cof.TypeA
}

func (g *Generator) publicRecord(r *cof.Record, i int) {
	d := i / len(hosts)
	domain := domainName(d)
	host := hosts[i%len(hosts)] + "." + domain
	r.Bailiwick = domain
	// One rrset in twenty has moved since (a renumbering, a new CDN
	// edge), so a name has more than one rdata set over time.
	v := uint64(i)
	if g.rng.IntN(20) == 0 {
		v += uint64(1 + g.rng.IntN(3))
	}
	switch r.RRType = g.pickType(); r.RRType {
	case cof.TypeA:
		r.RRName = host
		r.RData = append(r.RData, publicIPv4(v))
		if i%5 == 0 { // round robin
			r.RData = append(r.RData, publicIPv4(v+7919))
		}
	case cof.TypeAAAA:
		r.RRName = host
		r.RData = append(r.RData, publicIPv6(v))
	case cof.TypeCNAME:
		r.RRName = host
		r.RData = append(r.RData, "d"+strconv.FormatUint(mix(v)%100000, 36)+"."+providers[v%uint64(len(providers))]+".")
	case cof.TypeNS:
		r.RRName, r.Bailiwick = domain, parentZone(domain)
		if d%3 == 0 {
			n := strconv.Itoa(d % 2048)
			r.RData = append(r.RData, "ns-"+n+".awsdns-"+strconv.Itoa(d%64)+".com.", "ns-"+n+".awsdns-"+strconv.Itoa(d%64)+".net.")
		} else {
			r.RData = append(r.RData, "ns1."+domain+".", "ns2."+domain+".")
		}
	case cof.TypeMX:
		r.RRName = domain
		r.RData = append(r.RData, "10 mail."+domain+".")
		if d%4 == 0 {
			r.RData = append(r.RData, "20 mx2."+domain+".")
		}
	case cof.TypeTXT:
		r.RRName = domain
		r.RData = append(r.RData, `"v=spf1 include:_spf.`+domain+` ~all"`)
	case cof.TypeSOA:
		r.RRName = domain
		r.RData = append(r.RData, "ns1."+domain+". hostmaster."+domain+". "+strconv.FormatUint(2026010100+v%100, 10)+" 7200 3600 1209600 3600")
	case cof.TypePTR:
		a := publicIPv4(v)
		r.RRName, r.Bailiwick = reverseV4(a), ""
		r.RData = append(r.RData, host+".")
	case cof.TypeSRV:
		r.RRName = "_sip._tcp." + domain
		r.RData = append(r.RData, "10 60 5060 sip."+domain+".")
	}
}

// internalRecord makes what a policy must not let out: a name in an
// internal zone, or a public name with a private address (split-horizon
// leaks).
func (g *Generator) internalRecord(r *cof.Record, i int) {
	if g.rng.IntN(2) == 0 {
		zone := internal[i%len(internal)]
		r.RRName = "host" + strconv.Itoa(i%4096) + ".office" + strconv.Itoa(i%17) + "." + zone
		r.Bailiwick = ""
	} else {
		d := i / len(hosts)
		r.RRName = "intranet." + domainName(d)
		r.Bailiwick = domainName(d)
	}
	r.RRType = cof.TypeA
	switch i % 3 {
	case 0:
		r.RData = append(r.RData, "10."+strconv.Itoa(i%256)+"."+strconv.Itoa(i/256%256)+"."+strconv.Itoa(1+i%250))
	case 1:
		r.RData = append(r.RData, "192.168."+strconv.Itoa(i%256)+"."+strconv.Itoa(1+i%250))
	default:
		r.RData = append(r.RData, "172."+strconv.Itoa(16+i%16)+"."+strconv.Itoa(i%256)+"."+strconv.Itoa(1+i%250))
	}
}

// domainName makes the d-th registered domain: two to four syllables
// under a TLD.
func domainName(d int) string {
	h := mix(uint64(d))
	var b strings.Builder
	n := 2 + int(h%3)
	h /= 3
	for range n {
		b.WriteString(syllables[h%uint64(len(syllables))])
		h /= uint64(len(syllables))
	}
	// The domain number keeps names distinct however large the space.
	b.WriteString(strconv.Itoa(d))
	b.WriteByte('.')
	b.WriteString(tlds[d%len(tlds)])
	return b.String()
}

func parentZone(domain string) string {
	_, parent, _ := strings.Cut(domain, ".")
	return parent
}

func publicIPv4(v uint64) string {
	h := mix(v)
	first := publicV4[h%uint64(len(publicV4))]
	h /= uint64(len(publicV4))
	return strconv.Itoa(first) + "." + strconv.Itoa(int(h%256)) + "." + strconv.Itoa(int(h>>8%256)) + "." + strconv.Itoa(1+int(h>>16%254))
}

func publicIPv6(v uint64) string {
	h := mix(v)
	return "2a0" + strconv.FormatUint(h%8, 16) + ":" + strconv.FormatUint(h>>3&0xffff, 16) + ":" +
		strconv.FormatUint(h>>19&0xffff, 16) + "::" + strconv.FormatUint(1+h>>35&0xfffe, 16)
}

func reverseV4(a string) string {
	p := strings.Split(a, ".")
	return p[3] + "." + p[2] + "." + p[1] + "." + p[0] + ".in-addr.arpa"
}

// mix is SplitMix64's finaliser: a cheap bijection that scatters
// neighbouring numbers.
func mix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}
