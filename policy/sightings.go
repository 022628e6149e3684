package policy

import (
	"slices"
	"strconv"

	"github.com/cofswitch/cofswitch/cof"
)

// RRsetKey appends to dst the identity of r's rrset for a threshold: its
// owner name, type and set of rdata (sorted, so that two sensors that
// listed the same data in another order agree). Counts, times and the
// sensor are not part of it.
func RRsetKey(dst []byte, r *cof.Record) []byte {
	dst = append(dst, r.RRName...)
	dst = append(dst, 0)
	dst = strconv.AppendUint(dst, uint64(r.RRType), 10)
	rd := r.RData
	if !slices.IsSorted(rd) {
		rd = slices.Sorted(slices.Values(rd))
	}
	for _, d := range rd {
		dst = append(dst, 0)
		dst = append(dst, d...)
	}
	return dst
}

// sightings is a DryRun's memory of who saw which rrset among the records
// it checked: the threshold as the switch would apply it to that input
// alone, in order.
type sightings map[string]*seenBy

type seenBy struct {
	sensors, orgs map[string]bool
	held          int // records held before the threshold was reached
}

// see notes that sensor (of org) saw r's rrset and returns who has.
func (s sightings) see(r *cof.Record, sensor, org string) *seenBy {
	k := string(RRsetKey(nil, r))
	b := s[k]
	if b == nil {
		b = &seenBy{sensors: map[string]bool{}, orgs: map[string]bool{}}
		s[k] = b
	}
	b.sensors[sensor] = true
	if org != "" {
		b.orgs[org] = true
	}
	return b
}
