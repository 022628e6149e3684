package engine

import (
	"maps"
	"slices"

	"github.com/cofswitch/cofswitch/cof"
)

// page is what one release delivers at once: the merged records of a run
// of held messages, grouped by TLP label.
type page struct {
	subject, peer string
	first, last   uint64 // stream sequences of the run
	bytes         int
	records       int
	groups        map[string]*mergeGroup
}

func newPage(subject, peer string) *page {
	return &page{subject: subject, peer: peer, groups: map[string]*mergeGroup{}}
}

func (p *page) note(seq uint64) {
	if p.first == 0 {
		p.first = seq
	}
	p.last = seq
}

func (p *page) full() bool { return p.bytes >= releasePageBytes || p.records >= releasePageRecords }

func (p *page) group(tlp string) *mergeGroup {
	g := p.groups[tlp]
	if g == nil {
		g = &mergeGroup{recs: map[string]*cof.Record{}}
		p.groups[tlp] = g
	}
	return g
}

func mapsKeys[V any](m map[string]V) func(func(string) bool) { return maps.Keys(m) }

// mergeGroup merges identical rrsets: records equal in every field but
// count and times become one, with the counts summed and the times
// widened to cover both. The policy coarsened the times already, so merging
// within a bucket loses nothing the peer could have had, and tells less
// (how many sensors, batches or repeats were behind an rrset).
type mergeGroup struct {
	recs     map[string]*cof.Record
	versions []string
	in       int
	key      []byte
}

func (g *mergeGroup) merge(r *cof.Record) {
	g.in++
	g.key = mergeKey(g.key[:0], r)
	if have, ok := g.recs[string(g.key)]; ok {
		mergeInto(have, r)
		return
	}
	cp := *r
	g.recs[string(g.key)] = &cp
}

// body is the group's records as NDJSON, sorted by their merge key, so
// that every process (and a process after a crash) cuts the same chunks.
func (g *mergeGroup) body() []byte {
	var out []byte
	for _, k := range slices.Sorted(maps.Keys(g.recs)) {
		out = g.recs[k].AppendLine(out)
	}
	return out
}

// mergeKey is the record's line with count and times cleared.
func mergeKey(dst []byte, r *cof.Record) []byte {
	k := *r
	k.Count, k.TimeFirst, k.TimeLast, k.ZoneTimeFirst, k.ZoneTimeLast = 0, 0, 0, 0, 0
	k.TimeFirstMS, k.TimeLastMS = 0, 0
	k.Has &^= cof.HasCount | cof.HasZoneTimes | cof.HasTimeFirstMS | cof.HasTimeLastMS
	return k.AppendJSON(dst)
}

// mergeInto folds r into have: counts summed (a record without a count
// counts one, and the sum is written only if either had a count), times
// widened.
func mergeInto(have, r *cof.Record) {
	if (have.Has|r.Has)&cof.HasCount != 0 {
		have.Count = countOf(have) + countOf(r)
		have.Has |= cof.HasCount
	}
	have.TimeFirst, have.TimeLast = min(have.TimeFirst, r.TimeFirst), max(have.TimeLast, r.TimeLast)
	switch {
	case r.Has&cof.HasZoneTimes == 0:
	case have.Has&cof.HasZoneTimes == 0:
		have.ZoneTimeFirst, have.ZoneTimeLast = r.ZoneTimeFirst, r.ZoneTimeLast
		have.Has |= cof.HasZoneTimes
	default:
		have.ZoneTimeFirst, have.ZoneTimeLast = min(have.ZoneTimeFirst, r.ZoneTimeFirst), max(have.ZoneTimeLast, r.ZoneTimeLast)
	}
}

func countOf(r *cof.Record) int64 {
	if r.Has&cof.HasCount == 0 {
		return 1
	}
	return r.Count
}
