package db

import (
	"net/netip"
	"slices"
	"strings"

	"github.com/cofswitch/cofswitch/cof"
)

// Indexed is what a store indexes of one rrset's rdata, so that every
// store answers rdata queries alike:
//   - Addresses: the address of each A and AAAA value (range lookups);
//   - Names: the canonical domain names inside the rdata of the types
//     that carry names (CNAME, NS, PTR, DNAME whole; the exchanger of
//     MX, the target of SRV, SVCB and HTTPS, the replacement of NAPTR,
//     both names of SOA...), lower case and without the trailing dot,
//     without duplicates;
//   - Values: every other rdata value verbatim (TXT, and the whole
//     "10 mx.example.com." of an MX, so that a query for the value as
//     stored still finds it), except those that are one name and nothing
//     else, which Names holds.
type Indexed struct {
	Addresses []netip.Addr
	Names     []string
	Values    []string
}

// IndexedOf returns what stores index of s's rdata.
func IndexedOf(s *RRset) Indexed {
	var ix Indexed
	for _, v := range s.RData {
		if s.RRType == cof.TypeA || s.RRType == cof.TypeAAAA {
			if a, err := netip.ParseAddr(v); err == nil {
				ix.Addresses = append(ix.Addresses, a.Unmap())
				continue
			}
		}
		names, ok := cof.RDataNames(s.RRType, v)
		whole := false
		for _, n := range names {
			if !slices.Contains(ix.Names, n) {
				ix.Names = append(ix.Names, n)
			}
			whole = whole || len(names) == 1 && isWholeName(v, n)
		}
		if !ok || !whole {
			ix.Values = append(ix.Values, v)
		}
	}
	return ix
}

// isWholeName reports whether rdata v is the one name n and nothing else
// (a CNAME's "www.example.com."), whatever its case or final dot.
func isWholeName(v, n string) bool {
	c, err := cof.AppendName(nil, []byte(strings.TrimSpace(v)))
	return err == nil && string(c) == n
}

// RDataQuery is how a store reads Query.RData.
type RDataQuery struct {
	// Addr is set when the value is an address: rrsets of A or AAAA data
	// holding it.
	Addr netip.Addr
	// Name is the canonical name pattern when the value reads as a name
	// (or a wildcard on one): rrsets whose Indexed.Names hold a match.
	// NameKind is 0 (exact), 'L' (*.zone: names strictly below zone) or
	// 'R' (prefix.*: names that begin with prefix and a dot).
	Name     string
	NameKind byte
	// Value is set when the value may be stored verbatim (it is not a
	// wildcard): rrsets whose Indexed.Values hold it exactly. A store
	// answers the name matches first, then the value matches that the
	// name did not already give.
	Value string
}

// ParseRDataQuery reads an rdata query value.
func ParseRDataQuery(v string) RDataQuery {
	if a, err := netip.ParseAddr(v); err == nil {
		return RDataQuery{Addr: a.Unmap()}
	}
	kind, lit := wildcard(v)
	var q RDataQuery
	if kind == 0 {
		q.Value = v
	}
	if strings.ContainsAny(lit, " \t\"") {
		return q
	}
	c, err := cof.AppendName(nil, []byte(lit))
	if err != nil || string(c) == "." {
		return q
	}
	q.Name, q.NameKind = string(c), kind
	return q
}

// NameMatches reports whether canonical name n matches the pattern.
func (q RDataQuery) NameMatches(n string) bool {
	return NameMatch(q.NameKind, q.Name, n)
}

// NameMatch applies a canonical name pattern (ParseNameQuery's kind and
// literal) to a canonical name: exact, 'L' (strictly below lit) or 'R'
// (lit, a dot, then anything), at label boundaries.
func NameMatch(kind byte, lit, n string) bool {
	switch kind {
	case 'L':
		return NameBelow(n, lit)
	case 'R':
		return NameUnder(n, lit)
	}
	return n == lit
}

// ParseNameQuery reads Query.Name: a canonical owner name pattern, kind
// as in RDataQuery. ok is false when the name is no DNS name.
func ParseNameQuery(v string) (kind byte, lit string, ok bool) {
	kind, lit = wildcard(v)
	c, err := cof.AppendName(nil, []byte(lit))
	if err != nil {
		return 0, "", false
	}
	return kind, string(c), true
}
