package policy

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/netip"
	"slices"
	"sync"

	"github.com/cofswitch/cofswitch/cof"
)

// transform changes a record the policy has already copied; it must not
// modify slices it did not allocate (RData, Extra are shared), and may
// build new ones in the scratch space s.
type transform struct {
	name  string
	apply func(r *cof.Record, s *Scratch)
}

// Scratch is the space one goroutine's Apply outputs are built in, reused
// from record to record so that policies allocate little: an output of
// ApplyTo is valid until the next ApplyTo with the same Scratch. The zero
// value is ready to use.
type Scratch struct {
	rec   cof.Record
	rdata []string
	addrs []netip.Addr
	emb   embeddedMemo // what the policies share of the record in hand
}

// pseudonymizer replaces sensor_id with prefix + hex(HMAC-SHA256(key, id))
// cut to length digits. Sensor ids are few (registered sensors and their
// relays), so every pseudonym is computed once.
type pseudonymizer struct {
	key    []byte
	prefix string
	length int
	cache  sync.Map // sensor_id -> pseudonym
}

func (p *pseudonymizer) pseudonym(id string) string {
	if v, ok := p.cache.Load(id); ok {
		return v.(string)
	}
	m := hmac.New(sha256.New, p.key)
	m.Write([]byte(id))
	v := p.prefix + hex.EncodeToString(m.Sum(nil))[:p.length]
	p.cache.Store(id, v)
	return v
}

func (p *pseudonymizer) apply(r *cof.Record, _ *Scratch) {
	if r.SensorID != "" {
		r.SensorID = p.pseudonym(r.SensorID)
	}
}

// addrMapper rewrites the addresses of A and AAAA data and of PTR owner
// names with one function: truncation or Crypto-PAn.
type addrMapper struct {
	mapAddr func(netip.Addr) netip.Addr
}

func (m addrMapper) apply(r *cof.Record, s *Scratch) {
	switch r.RRType {
	case cof.TypeA, cof.TypeAAAA:
		changed := false
		for i := range r.RData {
			a, ok := r.Addr(i)
			if !ok {
				continue
			}
			if b := m.mapAddr(a); b != a {
				if !changed {
					changed = true
					s.rdata = append(s.rdata[:0], r.RData...)
					s.addrs = s.addrs[:0]
					for j := range r.RData {
						aj, _ := r.Addr(j)
						s.addrs = append(s.addrs, aj)
					}
				}
				s.rdata[i], s.addrs[i] = b.String(), b
			}
		}
		if changed {
			r.RData, r.Addrs = dedupe(s.rdata, s.addrs)
		}
	case cof.TypePTR:
		if p, ok := parseReverse(r.RRName); ok {
			b := netip.PrefixFrom(m.mapAddr(p.Addr()), p.Bits()).Masked()
			if b != p {
				r.RRName = reverseNameOf(b)
			}
		}
	}
}

// dedupe drops repeated addresses, keeping the first of each in order: an
// rdata set stays a set after truncation (["93.184.216.0",
// "93.184.216.0"] would also tell how many hosts stood behind the prefix).
// rdata and addrs are parallel and owned by the caller's scratch.
func dedupe(rdata []string, addrs []netip.Addr) ([]string, []netip.Addr) {
	n := 0
	for i := range rdata {
		if slices.Contains(addrs[:n], addrs[i]) {
			continue
		}
		rdata[n], addrs[n] = rdata[i], addrs[i]
		n++
	}
	return rdata[:n], addrs[:n]
}

func reverseNameOf(p netip.Prefix) string {
	unit := 8
	if p.Addr().Is6() {
		unit = 4
	}
	return reverseName(p.Addr().AsSlice(), p.Bits(), unit)
}

// truncator keeps the first bits of each address.
func truncator(v4, v6 int) func(netip.Addr) netip.Addr {
	return func(a netip.Addr) netip.Addr {
		bits := v6
		if a.Is4() {
			bits = v4
		}
		p, err := a.Prefix(bits)
		if err != nil {
			return a
		}
		return p.Addr()
	}
}

// bucketCount maps count to the largest boundary not above it (0 below
// the first boundary). Boundaries are sorted and positive.
func bucketCount(bounds []int64) func(r *cof.Record, _ *Scratch) {
	return func(r *cof.Record, _ *Scratch) {
		if r.Has&cof.HasCount == 0 {
			return
		}
		v := int64(0)
		for _, b := range bounds {
			if r.Count < b {
				break
			}
			v = b
		}
		r.Count = v
	}
}

// dropFields removes optional and additional fields by name.
func dropFields(names []string) func(r *cof.Record, _ *Scratch) {
	return func(r *cof.Record, _ *Scratch) {
		for _, n := range names {
			switch n {
			case cof.KeyCount:
				r.Has &^= cof.HasCount
				r.Count = 0
			case cof.KeyBailiwick:
				r.Bailiwick = ""
			case cof.KeySensorID:
				r.SensorID = ""
			case cof.KeyOrigin:
				r.Origin = ""
			case cof.KeyZoneTimeFirst, cof.KeyZoneTimeLast:
				r.Has &^= cof.HasZoneTimes
				r.ZoneTimeFirst, r.ZoneTimeLast = 0, 0
			case cof.KeyTimeFirstMS:
				r.Has &^= cof.HasTimeFirstMS
				r.TimeFirstMS = 0
			case cof.KeyTimeLastMS:
				r.Has &^= cof.HasTimeLastMS
				r.TimeLastMS = 0
			default:
				if slices.ContainsFunc(r.Extra, func(f cof.Field) bool { return f.Name == n }) {
					r.Extra = slices.DeleteFunc(slices.Clone(r.Extra), func(f cof.Field) bool { return f.Name == n })
				}
			}
		}
	}
}

// keepFields drops every additional field (those the draft does not
// define) but the ones named: an allow-list, so that a field a sensor adds
// tomorrow does not reach a peer unless a policy says so.
func keepFields(names []string) func(r *cof.Record, _ *Scratch) {
	return func(r *cof.Record, _ *Scratch) {
		if slices.ContainsFunc(r.Extra, func(f cof.Field) bool { return !slices.Contains(names, f.Name) }) {
			r.Extra = slices.DeleteFunc(slices.Clone(r.Extra), func(f cof.Field) bool { return !slices.Contains(names, f.Name) })
		}
	}
}

// setFields sets string fields: origin, sensor_id, bailiwick (given in
// canonical form), or an additional field holding a JSON string.
func setFields(values map[string]string) func(r *cof.Record, _ *Scratch) {
	keys := slices.Sorted(func(yield func(string) bool) {
		for k := range values {
			if !yield(k) {
				return
			}
		}
	})
	return func(r *cof.Record, _ *Scratch) {
		for _, k := range keys {
			v := values[k]
			switch k {
			case cof.KeyOrigin:
				r.Origin = v
			case cof.KeySensorID:
				r.SensorID = v
			case cof.KeyBailiwick:
				r.Bailiwick = v
			default:
				f := cof.Field{Name: k, Key: string(cof.AppendJSONString(nil, k)), Value: string(cof.AppendJSONString(nil, v))}
				extra := slices.DeleteFunc(slices.Clone(r.Extra), func(e cof.Field) bool { return e.Name == k })
				r.Extra = append(extra, f)
			}
		}
	}
}
