package engine

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/cofswitch/cofswitch/cof"
	"github.com/cofswitch/cofswitch/policy"
)

// What one rrset's entry in the bucket does with a batch's observations
// (threshold.go reads and writes the entries): sightings counted,
// observations held, passed or released, the inputs counted in
// remembered, and the entry kept within its bounds.

// apply adds one batch's observations of the rrset to e and says what
// becomes of them.
func (e *seenEntry) apply(os []obs, inID inputRef, now int64, maxWindow time.Duration) thresholdResult {
	r := thresholdResult{held: map[string]int{}}
	if e.Sensors == nil {
		e.Sensors = map[string]int64{}
	}
	if e.Orgs == nil {
		e.Orgs = map[string]int64{}
	}
	if e.Out == nil {
		e.Out = map[string]*heldOut{}
	}
	from := now - int64(maxWindow/time.Second)
	if len(e.Sensors) > 0 && within(e.Sensors, now, maxWindow) == 0 {
		// Nobody saw it within any window: what it held is never released.
		for _, h := range e.Out {
			r.expired += len(h.Lines)
			h.Lines = nil
		}
	}
	prune(e.Sensors, from)
	prune(e.Orgs, from)
	applied := e.Applied.has(inID)
	for _, o := range os {
		e.Sensors[o.sensor] = max(e.Sensors[o.sensor], now)
		if o.org != "" {
			e.Orgs[o.org] = max(e.Orgs[o.org], now)
		}
	}
	keepRecent(e.Sensors, policy.MaxThresholdSensors)
	keepRecent(e.Orgs, policy.MaxThresholdSensors)
	byOut := map[string][]*obs{}
	var outs []string
	for i := range os {
		if os[i].out == nil {
			continue // a sighting alone: counted above, idempotent
		}
		k := os[i].outKey()
		if _, ok := byOut[k]; !ok {
			outs = append(outs, k)
		}
		byOut[k] = append(byOut[k], &os[i])
	}
	if len(outs) > 0 && !applied {
		// Only observations need the input remembered: a sighting
		// counted twice is the same sighting.
		e.Applied = e.Applied.add(inID)
	}
	for _, k := range outs {
		e.applyOut(k, byOut[k], inID, applied, now, &r)
	}
	return r
}

// applyOut decides one output's observations of the batch.
func (e *seenEntry) applyOut(k string, os []*obs, inID inputRef, applied bool, now int64, r *thresholdResult) {
	h := e.Out[k]
	if h == nil {
		h = &heldOut{}
		e.Out[k] = h
	}
	th := os[0].th
	reached := th.Reached(within(e.Sensors, now, th.Window), within(e.Orgs, now, th.Window))
	// Once the rrset has reached the threshold, its observations are
	// delivered at once, under their input's message id: the decision
	// does not depend on what else the entry holds, so an attempt that
	// decided from this process's cache and one that asked the bucket
	// make the same output.
	switch {
	case applied && h.Passed.has(inID):
		r.pass = append(r.pass, os...) // delivered at once before: again, under the same id
	case applied:
		// Counted in already: held, or released since.
	case reached:
		r.pass = append(r.pass, os...)
		h.Passed = h.Passed.add(inID)
	default:
		r.overflow += h.hold(os)
		r.held[os[0].out.peer] += len(os)
	}
	if reached && len(h.Lines) > 0 && len(h.Pending) == 0 {
		// The crossing: what was held is frozen and released apart, under
		// ids naming the rrset and this generation.
		if e.Gen == 0 {
			// Generations start from the entry's first release's
			// moment: an entry evicted or expired and made again never
			// reuses an earlier one's release ids.
			e.Gen = uint64(time.Now().UnixNano())
		}
		e.Gen++
		h.Pending, h.Lines, h.Gen = h.Lines, nil, e.Gen
	}
	if len(h.Pending) > 0 {
		r.releases = append(r.releases, thrRelease{key: os[0].key, out: os[0].out, gen: h.Gen, lines: h.Pending})
	}
	if len(h.Lines) == 0 && len(h.Pending) == 0 && len(h.Passed) == 0 {
		delete(e.Out, k)
	}
}

// hold merges observations into the held lines and returns how many
// did not fit.
func (h *heldOut) hold(os []*obs) int {
	if len(h.Lines) == 0 && len(os) == 1 {
		// The usual case, an rrset's first sighting: nothing to merge.
		h.Lines = []string{string(os[0].line)}
		return 0
	}
	g := &mergeGroup{recs: map[string]*cof.Record{}}
	for _, l := range h.Lines {
		if rec, err := cof.Parse([]byte(l)); err == nil {
			g.merge(&rec)
		}
	}
	dropped := 0
	for _, o := range os {
		rec, err := cof.Parse(o.line)
		if err != nil {
			continue // the switch encoded it: cannot happen
		}
		if len(g.recs) >= maxHeldLines {
			if _, ok := g.recs[string(mergeKey(nil, &rec))]; !ok {
				dropped++
				continue
			}
		}
		g.merge(&rec)
	}
	h.Lines = h.Lines[:0]
	for l := range bytes.Lines(g.body()) {
		h.Lines = append(h.Lines, string(l))
	}
	return dropped
}

// keepRecent keeps the n most recent sightings of m: no threshold asks
// for more than policy.MaxThresholdSensors, and the most recent n include
// every one within any window when fewer are.
func keepRecent(m map[string]int64, n int) {
	if len(m) <= n {
		return
	}
	times := slices.Sorted(maps.Values(m))
	cut := times[len(times)-n]
	for k, t := range m {
		if len(m) > n && t < cut {
			delete(m, k)
		}
	}
}

// maxEntryBytes bounds an entry as written, whatever the peers and their
// lines: held observations are dropped beyond it. The rest of an entry
// (sensors, organisations, inputs remembered, at most 64, 64 and 128 of
// each, and a release pending) grows by a few KiB at most between two
// writes, and hardEntryBytes, below the 1 MiB a NATS message may carry
// by default, leaves room for it.
const (
	maxEntryBytes  = 256 << 10
	hardEntryBytes = 512 << 10
)

// encode marshals e, dropping held observations (counted in r.overflow),
// the largest output's first, until it fits in maxEntryBytes; then, as
// the last resort, what releases pending hold, until it fits in
// hardEntryBytes. A write never fails for its size.
func (e *seenEntry) encode(r *thresholdResult) ([]byte, error) {
	for {
		b, err := json.Marshal(e)
		if err != nil || len(b) <= maxEntryBytes {
			return b, err
		}
		lines := func(h *heldOut) *[]string { return &h.Lines }
		if len(b) > hardEntryBytes {
			lines = func(h *heldOut) *[]string {
				if len(h.Lines) > 0 {
					return &h.Lines
				}
				return &h.Pending
			}
		}
		var big *[]string
		for _, h := range e.Out {
			if l := lines(h); big == nil || len(*l) > len(*big) {
				big = l
			}
		}
		if big == nil || len(*big) == 0 {
			if len(b) <= hardEntryBytes {
				return b, nil
			}
			return nil, fmt.Errorf("threshold: an rrset's entry of %d bytes holds no observation to drop", len(b))
		}
		drop := (len(*big) + 1) / 2
		r.overflow += drop
		*big = (*big)[drop:]
	}
}

func prune(m map[string]int64, from int64) {
	for k, t := range m {
		if t < from {
			delete(m, k)
		}
	}
}

// inputRef names an input batch: its stream (a keyed hash of the sensor
// and the stream's epoch) and its sequence there.
type inputRef struct {
	stream string
	seq    uint64
}

// inputSet remembers input batches as runs of sequences per input
// stream: a hot rrset that most batches of a sensor carry costs one run,
// however many batches, so that a batch redelivered after a crash is
// known however many were counted in since. At most maxInputRanges runs
// per stream (the lowest go first: acked long ago) and maxInputStreams
// streams.
type inputSet map[string][][2]uint64

func (s inputSet) has(in inputRef) bool {
	runs := s[in.stream]
	i, _ := slices.BinarySearchFunc(runs, in.seq, func(r [2]uint64, seq uint64) int {
		switch {
		case r[1] < seq:
			return -1
		case r[0] > seq:
			return 1
		}
		return 0
	})
	return i < len(runs) && runs[i][0] <= in.seq && in.seq <= runs[i][1]
}

func (s inputSet) add(in inputRef) inputSet {
	if s == nil {
		s = inputSet{}
	}
	if s.has(in) {
		return s
	}
	if _, ok := s[in.stream]; !ok && len(s) >= maxInputStreams {
		for k := range s { // one goes, as the map's order falls
			delete(s, k)
			break
		}
	}
	runs := s[in.stream]
	i, _ := slices.BinarySearchFunc(runs, in.seq, func(r [2]uint64, seq uint64) int { return cmp.Compare(r[0], seq) })
	runs = slices.Insert(runs, i, [2]uint64{in.seq, in.seq})
	// Join the run with its neighbours where they touch.
	if i+1 < len(runs) && runs[i][1]+1 == runs[i+1][0] {
		runs[i][1] = runs[i+1][1]
		runs = slices.Delete(runs, i+1, i+2)
	}
	if i > 0 && runs[i-1][1]+1 == runs[i][0] {
		runs[i-1][1] = runs[i][1]
		runs = slices.Delete(runs, i, i+1)
	}
	if len(runs) > maxInputRanges {
		runs = slices.Delete(runs, 0, len(runs)-maxInputRanges)
	}
	s[in.stream] = runs
	return s
}
