package policy

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"strings"
	"sync"

	"golang.org/x/net/publicsuffix"

	"github.com/cofswitch/cofswitch/cof"
)

// labelHasher replaces each label left of the registered domain (per the
// public suffix list) with "h" and 12 hex digits of HMAC-SHA256(key, the
// name that label heads): www.shop.example.co.uk becomes
// h1a2b....h3c4d....example.co.uk, where the first hash is of
// "www.shop.example.co.uk" and the second of "shop.example.co.uk". The
// parent in the input makes www under example.com and www under
// example.org differ, so label frequencies tell nothing. One canonical
// name hashes one way wherever it stands: owner, rdata, bailiwick, so a
// PTR's target joins the A record of the same name, and the feed is no
// dictionary of its own hashes. Reverse names are left to the address
// transforms.
type labelHasher struct {
	key   []byte
	cache *memo[string, string] // name -> its first label hashed
	names *memo[string, string] // name -> hashed name
	// macs holds HMACs keyed with key, reset and reused: keying one
	// costs two block hashes and its allocations, as much as hashing a
	// short name.
	macs sync.Pool
}

// hashedLabelLen is the length of a hashed label: "h" and 12 hex digits.
const hashedLabelLen = 13

// opaqueContext separates the hash of rdata that does not parse from
// the hashes of names: no canonical name holds a raw NUL byte.
const opaqueContext = "\x00rdata\x00"

func (h *labelHasher) mac(parts ...string) string {
	m, _ := h.macs.Get().(hash.Hash)
	if m == nil {
		m = hmac.New(sha256.New, h.key)
	}
	m.Reset()
	for _, p := range parts {
		m.Write([]byte(p))
	}
	var sum [sha256.Size]byte
	var out [hashedLabelLen]byte
	out[0] = 'h'
	hex.Encode(out[1:], m.Sum(sum[:0])[:6])
	h.macs.Put(m)
	return string(out[:])
}

// label hashes the first label of the canonical name n, with the rest of
// n as its context.
func (h *labelHasher) label(n string) string {
	if v, ok := h.cache.get(n); ok {
		return v
	}
	v := h.mac(n)
	h.cache.put(strings.Clone(n), v)
	return v
}

// name hashes a canonical name.
func (h *labelHasher) name(n string) string {
	if n == "" || n == "." || strings.HasSuffix(n, ".in-addr.arpa") || strings.HasSuffix(n, ".ip6.arpa") {
		return n
	}
	// Popular names come back again and again: the registered domain
	// lookup is the costly part.
	if v, ok := h.names.get(n); ok {
		return v
	}
	v := h.hashName(n)
	// The key may be a substring of a whole input line (cof builds a
	// record's strings from one): keep only the name.
	h.names.put(strings.Clone(n), v)
	return v
}

func (h *labelHasher) hashName(n string) string {
	reg, ok := registeredDomain(n)
	if !ok || reg == n || !strings.HasSuffix(n, "."+reg) {
		return n
	}
	cut := len(n) - len(reg) - 1 // the dot before reg
	if escapedAt(n, cut) {
		// The suffix list knows no escapes: in x.ex\.ample.com it sees
		// ample.com, but ex\.ample is one label, which must not be left
		// half readable. Hash it too.
		cut += 1 + indexDot(n[cut+1:])
		if cut >= len(n) {
			return h.label(n)
		}
		reg = n[cut+1:]
	}
	// A hashed label takes 13 octets and its dot: a name of many short
	// labels would outgrow 253 octets. Its leftmost labels then become
	// one, the hash of the whole name, so that the output stays a name
	// and keeps as many of the lower labels as fit.
	left := 0 // labels still to write, this one included
	for i := 0; i < cut; i += 1 + indexDot(n[i:cut]) {
		left++
	}
	keep := max(1, (maxNameOctets-len(reg))/(hashedLabelLen+1))
	var b strings.Builder
	b.Grow(min(left, keep)*(hashedLabelLen+1) + len(reg))
	for start := 0; start < cut; {
		end := start + indexDot(n[start:cut])
		if left < keep || start == 0 {
			b.WriteString(h.label(n[start:]))
			b.WriteByte('.')
		}
		left--
		start = end + 1
	}
	b.WriteString(reg)
	return b.String()
}

// indexDot finds the first unescaped '.' in a canonical name, or len(s).
func indexDot(s string) int {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '.':
			return i
		}
	}
	return len(s)
}

// rdata returns one rdata string with its names hashed in place, each
// keeping its trailing dot: MX "10 db-1.example.com." becomes
// "10 h1a2b3c4d5e6f.example.com.". Rdata of a type that carries names but
// does not parse may hide one: it is replaced whole by the hash of the
// string, so that nothing of it reaches the peer in clear.
func (h *labelHasher) rdata(t cof.Type, s string) string {
	var nb [4]cof.NameSpan
	var cb, bb [256]byte
	names, canon, ok := cof.AppendRDataNames(nb[:0], cb[:0], t, s)
	if !ok {
		return h.mac(opaqueContext, s)
	}
	buf, last := bb[:0], 0
	for _, n := range names {
		c, tok := canon[n.CStart:n.CEnd], s[n.Start:n.End]
		dot := tok[len(tok)-1] == '.' && !escapedAt(tok, len(tok)-1)
		clear := tok
		if dot {
			clear = tok[:len(tok)-1]
		}
		if clear != string(c) { // compared without a copy
			clear = string(c)
		}
		hashed := h.name(clear)
		if hashed == clear {
			continue
		}
		buf = append(append(buf, s[last:n.Start]...), hashed...)
		if dot {
			buf = append(buf, '.')
		}
		last = n.End
	}
	if last == 0 {
		return s
	}
	return string(append(buf, s[last:]...))
}

func (h *labelHasher) apply(r *cof.Record, s *Scratch) {
	name := r.RRName
	r.RRName = h.name(name)
	// A bailiwick at or above the registered domain (the usual case) is
	// a suffix of the name that hashing left whole: it hashes to itself,
	// no lookup needed.
	if b := r.Bailiwick; b != "" && !(labelSuffix(name, b) && labelSuffix(r.RRName, b)) {
		r.Bailiwick = h.name(r.Bailiwick)
	}
	if !cof.CarriesNames(r.RRType) {
		return
	}
	copied := false
	for i, v := range r.RData {
		out := h.rdata(r.RRType, v)
		if out == v {
			continue
		}
		if !copied {
			// RData is shared with the input and other subscriptions.
			s.rdata = append(s.rdata[:0], r.RData...)
			r.RData, r.Addrs, copied = s.rdata, nil, true
		}
		r.RData[i] = out
	}
}

// labelSuffix reports whether s is n or a suffix of n on a label boundary.
func labelSuffix(n, s string) bool {
	if len(n) == len(s) {
		return n == s
	}
	return len(n) > len(s) && n[len(n)-len(s)-1] == '.' && n[len(n)-len(s):] == s
}

// registeredDomain is the name's registered domain under the ICANN part
// of the public suffix list: one label below the public suffix. The list's
// private part (duckdns.org, synology.me, github.io...) is not used, or a
// host there (alice-laptop.duckdns.org) would count as a registered domain
// and stay readable: such names keep only the provider's domain in clear.
func registeredDomain(n string) (string, bool) {
	suffix, icann := publicsuffix.PublicSuffix(n)
	for !icann {
		i := strings.IndexByte(suffix, '.')
		if i < 0 {
			break // no ICANN suffix at all: the top label stands for one
		}
		suffix, icann = publicsuffix.PublicSuffix(suffix[i+1:])
	}
	if len(suffix) >= len(n) {
		return "", false
	}
	rest := n[:len(n)-len(suffix)-1]
	return rest[strings.LastIndexByte(rest, '.')+1:] + "." + suffix, true
}
