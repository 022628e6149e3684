// Package db is the reference passive DNS database a peer keeps: it
// aggregates the COF records delivered to the peer into rrsets and answers
// the lookups of the CIRCL and DNSDB APIs. Stores sit behind the Store
// interface: an embedded one (B-trees in memory with zstd snapshots), and
// PostgreSQL. Open opens the one a process is given; ImportFile loads COF
// files. Feeding a store from the peer's stream is peers/db/ingest.
//
// It imports cof only: no NATS, nothing of the switch.
package db

import (
	"slices"
	"strings"

	"github.com/cofswitch/cofswitch/cof"
)

// RRset aggregates every observation of one (rrname, rrtype, rdata set).
type RRset struct {
	RRName string
	RRType cof.Type
	RData  []string // sorted, without duplicates

	TimeFirst, TimeLast         int64
	ZoneTimeFirst, ZoneTimeLast int64
	HasZoneTimes                bool
	Count                       int64
	Bailiwick                   string
	Sensors                     []string // sorted set of the sensor_ids that saw it
}

// Key identifies an rrset: name, type and the sorted rdata.
func Key(rrname string, rrtype cof.Type, rdata []string) string {
	var b strings.Builder
	b.WriteString(rrname)
	b.WriteByte(0)
	b.WriteString(rrtype.String())
	for _, r := range rdata {
		b.WriteByte(0)
		b.WriteString(r)
	}
	return b.String()
}

// FromRecord starts an rrset from one record. A record without count
// counts one observation.
func FromRecord(r *cof.Record) *RRset {
	rdata := slices.Clone(r.RData)
	slices.Sort(rdata)
	rdata = slices.Compact(rdata)
	s := &RRset{
		RRName: r.RRName, RRType: r.RRType, RData: rdata,
		TimeFirst: r.TimeFirst, TimeLast: r.TimeLast,
		Count: 1, Bailiwick: r.Bailiwick,
	}
	if r.Has&cof.HasCount != 0 {
		s.Count = r.Count
	}
	if r.Has&cof.HasZoneTimes != 0 {
		s.HasZoneTimes, s.ZoneTimeFirst, s.ZoneTimeLast = true, r.ZoneTimeFirst, r.ZoneTimeLast
	}
	if r.SensorID != "" {
		s.Sensors = []string{r.SensorID}
	}
	return s
}

// Key returns the rrset's key.
func (s *RRset) Key() string { return Key(s.RRName, s.RRType, s.RData) }

// Merge folds another observation of the same rrset into s: first seen is
// the earliest, last seen the latest, counts add up, the bailiwick is kept
// once known (the closest enclosing one when two are seen), and the
// sensors are united.
func (s *RRset) Merge(o *RRset) {
	s.TimeFirst = min(s.TimeFirst, o.TimeFirst)
	s.TimeLast = max(s.TimeLast, o.TimeLast)
	if o.HasZoneTimes {
		if !s.HasZoneTimes {
			s.HasZoneTimes, s.ZoneTimeFirst, s.ZoneTimeLast = true, o.ZoneTimeFirst, o.ZoneTimeLast
		} else {
			s.ZoneTimeFirst = min(s.ZoneTimeFirst, o.ZoneTimeFirst)
			s.ZoneTimeLast = max(s.ZoneTimeLast, o.ZoneTimeLast)
		}
	}
	s.Count += o.Count
	if len(o.Bailiwick) > len(s.Bailiwick) {
		s.Bailiwick = o.Bailiwick // the deeper zone is the better estimate
	}
	for _, id := range o.Sensors {
		if i, found := slices.BinarySearch(s.Sensors, id); !found {
			s.Sensors = slices.Insert(s.Sensors, i, id)
		}
	}
}

// Record renders the rrset as a COF record (the form both query APIs
// answer with).
func (s *RRset) Record() *cof.Record {
	r := &cof.Record{
		RRName: s.RRName, RRType: s.RRType, RData: s.RData,
		TimeFirst: s.TimeFirst, TimeLast: s.TimeLast,
		Count: s.Count, Has: cof.HasCount, Bailiwick: s.Bailiwick,
	}
	if s.HasZoneTimes {
		r.Has |= cof.HasZoneTimes
		r.ZoneTimeFirst, r.ZoneTimeLast = s.ZoneTimeFirst, s.ZoneTimeLast
	}
	return r
}

// reverseName turns www.example.com into com.example.www, so that names
// below a zone share a prefix: left-hand wildcards become prefix scans.
// Labels are split at unescaped dots only: a\.b.example is the label
// "a.b" under example (reversed: example.a\.b), not a name under
// b.example.
func reverseName(name string) string {
	var labels []string
	start := 0
	for i := 0; i < len(name); i++ {
		switch name[i] {
		case '\\':
			i++ // the escaped byte (or the first digit of \DDD, which is no dot)
		case '.':
			labels = append(labels, name[start:i])
			start = i + 1
		}
	}
	labels = append(labels, name[start:])
	slices.Reverse(labels)
	return strings.Join(labels, ".")
}

// labelDotAt reports whether name[i] is a dot between labels (not one
// escaped inside a label).
func labelDotAt(name string, i int) bool {
	if i < 0 || i >= len(name) || name[i] != '.' {
		return false
	}
	n := 0
	for j := i - 1; j >= 0 && name[j] == '\\'; j-- {
		n++
	}
	return n%2 == 0
}

// NameBelow reports whether canonical name n is strictly below zone
// (also canonical), at a label boundary: a\.b.example is not below
// b.example.
func NameBelow(n, zone string) bool {
	return len(n) > len(zone)+1 && strings.HasSuffix(n, zone) && labelDotAt(n, len(n)-len(zone)-1)
}

// NameUnder reports whether canonical name n begins with the labels of
// prefix and has more after them ("www.example.*").
func NameUnder(n, prefix string) bool {
	return len(n) > len(prefix)+1 && strings.HasPrefix(n, prefix) && labelDotAt(n, len(prefix))
}
