package cof

import "net/netip"

// Record is one passive DNS observation in the Common Output Format
// (draft-dulaunoy-dnsop-passive-dns-cof-13, §3). A Record returned by Parse
// is normalised: see the package documentation for the rules.
type Record struct {
	// RRName is the owner name (§3.3): lower case, no trailing dot, IDN
	// labels as A-labels; the root is ".".
	RRName string
	// RRType is the resource record type (§3.3).
	RRType Type
	// RData holds the record data as presentation-format strings (§3.3).
	// It always has at least one element.
	RData []string
	// Addrs holds the RData of an A or AAAA record parsed, index for
	// index, as the parser validated it, so that filters and transforms
	// need not parse each address again; nil when not known (a record
	// built by hand). Whoever rewrites RData sets Addrs again or to nil.
	// Read it through Addr.
	Addrs []netip.Addr

	// TimeFirst and TimeLast are first and last seen, in whole seconds
	// since the epoch, UTC (§3.3). When the input only had zone times
	// (§3.7), they are copied from ZoneTimeFirst and ZoneTimeLast.
	TimeFirst, TimeLast int64
	// TimeFirstMS and TimeLastMS are the same instants in milliseconds
	// (§3.5), set when Has says so: the input carried them or had
	// fractional seconds.
	TimeFirstMS, TimeLastMS int64
	// ZoneTimeFirst and ZoneTimeLast are first and last seen in a zone
	// file import (§3.5), set when Has says so.
	ZoneTimeFirst, ZoneTimeLast int64
	// Count is the number of times the answer was seen (§3.4), set when Has
	// says so.
	Count int64

	// Bailiwick is the closest enclosing zone known authoritative for the
	// data (§3.4), normalised like RRName; "" when absent.
	Bailiwick string
	// SensorID names the sensor that saw the record (§3.5); "" when absent.
	SensorID string
	// Origin is the URI of the resource origin (§3.5); "" when absent.
	Origin string

	// Extra holds the fields this package does not interpret, in input
	// order, byte-exact, so that nothing a sensor sent is lost.
	Extra []Field

	// Has records which of the numeric optional fields are present.
	Has Presence
}

// Field is one additional JSON member kept byte-exact (§3.5, §3.6).
type Field struct {
	Name  string // the decoded key, for matching by name
	Key   string // the key as it stood in the input, quotes included
	Value string // the raw JSON value as it stood in the input
}

// Presence is a set of flags for the numeric fields whose zero value is a
// legal value, so that absence must be recorded separately.
type Presence uint8

// Presence flags.
const (
	HasCount       Presence = 1 << iota // count present
	HasZoneTimes                        // zone_time_first and zone_time_last present
	HasTimeFirstMS                      // time_first_ms present
	HasTimeLastMS                       // time_last_ms present
)

// Field names as they appear in COF.
const (
	KeyRRName        = "rrname"
	KeyRRType        = "rrtype"
	KeyRData         = "rdata"
	KeyTimeFirst     = "time_first"
	KeyTimeLast      = "time_last"
	KeyTimeFirstMS   = "time_first_ms"
	KeyTimeLastMS    = "time_last_ms"
	KeyZoneTimeFirst = "zone_time_first"
	KeyZoneTimeLast  = "zone_time_last"
	KeyCount         = "count"
	KeyBailiwick     = "bailiwick"
	KeySensorID      = "sensor_id"
	KeyOrigin        = "origin"
)

// Equal reports whether two records hold the same data, field by field.
// Addr returns RData[i] as an IP address: from Addrs when it holds one per
// RData entry, else parsed. ok is false for data that is not an address.
func (r *Record) Addr(i int) (a netip.Addr, ok bool) {
	if len(r.Addrs) == len(r.RData) {
		a = r.Addrs[i]
		return a, a.IsValid()
	}
	a, err := netip.ParseAddr(r.RData[i])
	return a, err == nil
}

// Equal reports whether r and o hold the same data (Addrs, a cache of
// RData, is not compared).
func (r *Record) Equal(o *Record) bool {
	if r.RRName != o.RRName || r.RRType != o.RRType || len(r.RData) != len(o.RData) ||
		r.TimeFirst != o.TimeFirst || r.TimeLast != o.TimeLast ||
		r.TimeFirstMS != o.TimeFirstMS || r.TimeLastMS != o.TimeLastMS ||
		r.ZoneTimeFirst != o.ZoneTimeFirst || r.ZoneTimeLast != o.ZoneTimeLast ||
		r.Count != o.Count || r.Bailiwick != o.Bailiwick || r.SensorID != o.SensorID ||
		r.Origin != o.Origin || r.Has != o.Has || len(r.Extra) != len(o.Extra) {
		return false
	}
	for i := range r.RData {
		if r.RData[i] != o.RData[i] {
			return false
		}
	}
	for i := range r.Extra {
		if r.Extra[i] != o.Extra[i] {
			return false
		}
	}
	return true
}
