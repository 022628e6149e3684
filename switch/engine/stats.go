package engine

import (
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cofswitch/cofswitch/policy"
)

// Stats counts what the switch did. Counts are taken when an input batch
// is acked, so a batch that is retried is counted once.
type Stats struct {
	mu  sync.Mutex
	s   Snapshot
	now func() time.Time // when a batch is counted (LastInput)
}

// Snapshot is a copy of the counters.
type Snapshot struct {
	Batches   uint64 // input batches switched and acked
	Records   uint64 // valid input records
	Invalid   uint64 // invalid input records, dead-lettered
	WholeDLQ  uint64 // input batches dead-lettered whole
	Retries   uint64 // naks for another attempt
	GivenUp   uint64 // batches terminated after the last attempt
	Stalled   uint64 // batches handed back while the exchange's own streams could not store
	LostDead  uint64 // invalid records whose dead letters could not be stored
	Delivered map[string]uint64
	Filtered  map[string]uint64
	// Withheld splits Filtered by the kind of filter that withheld each
	// record, indexed by policy.Rule.
	Withheld map[string]*[policy.NumRules]uint64
	Dropped  map[string]map[string]uint64 // peer -> reason -> records
	// Throttled is how long each sensor's batches were held to its rate
	// quota, by sensor.
	Throttled map[string]time.Duration
	// Released counts held records delivered when their bucket ended, and
	// ReleasedMerged what they became once identical rrsets were merged.
	Released, ReleasedMerged uint64
	// Parked counts records parked for a peer whose stream was down, and
	// Unparked those delivered from the park since, by peer; both are
	// also counted in Delivered once stored on the peer's stream.
	Parked, Unparked map[string]uint64
	// Duplicates counts records of outputs a peer's stream already had
	// (a batch redelivered after a crash or a lost ack), by peer: not in
	// Delivered, which counts what was stored.
	Duplicates map[string]uint64
	// SensorRecords counts valid input records by publishing sensor;
	// DeadLetters, records (or whole batches) dead-lettered by sensor and
	// kind ("sensor\x00kind").
	SensorRecords map[string]uint64
	DeadLetters   map[string]uint64
	// LastInput is when a batch with valid records of each sensor was
	// last counted: a sensor gone silent stops moving it.
	LastInput map[string]time.Time
	// Held counts records held for a peer until their bucket ends; they
	// are counted in Delivered (merged) when released.
	Held map[string]uint64
	// ThresholdHeld counts records held by a k-sensor threshold, and
	// ThresholdReleased the merged records delivered when their rrset
	// reached it, by peer (also in Delivered). ThresholdCreated counts
	// the rrsets this process added to the bucket; ThresholdExpired and
	// ThresholdOverflow the held records lost because nobody saw their
	// rrset again within the window, or because one rrset held more
	// distinct observations for an output than it may.
	ThresholdHeld, ThresholdReleased                      map[string]uint64
	ThresholdCreated, ThresholdExpired, ThresholdOverflow uint64
	// SightingsWritten counts the rrsets whose entries got sightings
	// alone (records no threshold policy kept) written, SightingsDropped
	// the sightings dropped (the queue full, or the bucket failing), and
	// SightingsPending those queued or being written when the snapshot
	// was taken.
	SightingsWritten, SightingsDropped, SightingsPending uint64
}

func newStats() *Stats {
	return &Stats{s: Snapshot{Delivered: map[string]uint64{}, Filtered: map[string]uint64{}, Withheld: map[string]*[policy.NumRules]uint64{},
		Dropped:   map[string]map[string]uint64{},
		Throttled: map[string]time.Duration{}, Parked: map[string]uint64{}, Unparked: map[string]uint64{},
		Duplicates: map[string]uint64{}, SensorRecords: map[string]uint64{}, DeadLetters: map[string]uint64{},
		Held: map[string]uint64{}, LastInput: map[string]time.Time{},
		ThresholdHeld: map[string]uint64{}, ThresholdReleased: map[string]uint64{}},
		now: time.Now}
}

func (st *Stats) addThrottled(sensor string, d time.Duration) {
	st.mu.Lock()
	st.s.Throttled[sensor] += d
	st.mu.Unlock()
}

func (st *Stats) addReleased(peer string, in, out int) {
	st.mu.Lock()
	st.s.Released += uint64(in)
	st.s.ReleasedMerged += uint64(out)
	st.s.Delivered[peer] += uint64(out) // stored on the peer's stream now
	st.mu.Unlock()
}

func (st *Stats) addDropped(peer, reason string, records int) {
	st.mu.Lock()
	defer st.mu.Unlock()
	m := st.s.Dropped[peer]
	if m == nil {
		m = map[string]uint64{}
		st.s.Dropped[peer] = m
	}
	m[reason] += uint64(records)
}

func (st *Stats) addUnparked(peer string, records int) {
	st.mu.Lock()
	st.s.Unparked[peer] += uint64(records)
	st.s.Delivered[peer] += uint64(records)
	st.mu.Unlock()
}

func (st *Stats) addSightings(written, dropped int) {
	st.mu.Lock()
	st.s.SightingsWritten += uint64(written)
	st.s.SightingsDropped += uint64(dropped)
	st.mu.Unlock()
}

// addSightingWrites counts what a round of sightings did to the bucket:
// rrsets it created, and held records it found expired or overflowing.
func (st *Stats) addSightingWrites(r thresholdResult) {
	st.mu.Lock()
	st.s.ThresholdCreated += uint64(r.created)
	st.s.ThresholdExpired += uint64(r.expired)
	st.s.ThresholdOverflow += uint64(r.overflow)
	st.mu.Unlock()
}

func (st *Stats) addStalled() {
	st.mu.Lock()
	st.s.Stalled++
	st.mu.Unlock()
}

func (st *Stats) addRetry() {
	st.mu.Lock()
	st.s.Retries++
	st.mu.Unlock()
}

func (st *Stats) addGivenUp(invalid int) {
	st.mu.Lock()
	st.s.GivenUp++
	st.s.LostDead += uint64(invalid)
	st.mu.Unlock()
}

func (st *Stats) addWholeDLQ(sensor, kind string) {
	st.mu.Lock()
	st.s.DeadLetters[sensor+"\x00"+kind]++
	st.s.WholeDLQ++
	st.s.Batches++
	st.mu.Unlock()
}

func (st *Stats) snapshot() Snapshot {
	st.mu.Lock()
	defer st.mu.Unlock()
	c := st.s
	c.Delivered = maps.Clone(st.s.Delivered)
	c.Filtered = maps.Clone(st.s.Filtered)
	c.Withheld = make(map[string]*[policy.NumRules]uint64, len(st.s.Withheld))
	for p, w := range st.s.Withheld {
		cp := *w
		c.Withheld[p] = &cp
	}
	c.Throttled = maps.Clone(st.s.Throttled)
	c.Parked, c.Unparked = maps.Clone(st.s.Parked), maps.Clone(st.s.Unparked)
	c.Duplicates = maps.Clone(st.s.Duplicates)
	c.SensorRecords, c.DeadLetters = maps.Clone(st.s.SensorRecords), maps.Clone(st.s.DeadLetters)
	c.Held = maps.Clone(st.s.Held)
	c.ThresholdHeld, c.ThresholdReleased = maps.Clone(st.s.ThresholdHeld), maps.Clone(st.s.ThresholdReleased)
	c.LastInput = maps.Clone(st.s.LastInput)
	c.Dropped = map[string]map[string]uint64{}
	for p, m := range st.s.Dropped {
		c.Dropped[p] = maps.Clone(m)
	}
	return c
}

// String renders the counters on one line, peers in order.
func (s Snapshot) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "batches=%d records=%d invalid=%d whole_dlq=%d retries=%d given_up=%d", s.Batches, s.Records, s.Invalid, s.WholeDLQ, s.Retries, s.GivenUp)
	peers := slices.Sorted(maps.Keys(s.Delivered))
	for _, p := range peers {
		fmt.Fprintf(&b, " %s:delivered=%d,filtered=%d", p, s.Delivered[p], s.Filtered[p])
		for _, r := range slices.Sorted(maps.Keys(s.Dropped[p])) {
			fmt.Fprintf(&b, ",dropped_%s=%d", r, s.Dropped[p][r])
		}
	}
	return b.String()
}

// count records a finished batch.
func (w *worker) count(sensor string, in inCount, o outcome) {
	st := w.e.stats
	st.mu.Lock()
	st.s.Batches++
	st.s.Records += uint64(in.records)
	st.s.Invalid += uint64(in.invalid)
	st.s.SensorRecords[sensor] += uint64(in.records)
	if in.records > 0 {
		st.s.LastInput[sensor] = st.now()
	}
	for kind, n := range w.kinds {
		st.s.DeadLetters[sensor+"\x00"+kind] += uint64(n)
	}
	dropped := map[string]uint64{}
	for peer, c := range w.counts {
		if _, ok := st.s.Delivered[peer]; !ok {
			st.s.Delivered[peer] = 0
		}
		st.s.Filtered[peer] += uint64(c.filtered)
		if c.filtered > 0 {
			wh := st.s.Withheld[peer]
			if wh == nil {
				wh = new([policy.NumRules]uint64)
				st.s.Withheld[peer] = wh
			}
			for r, n := range c.withheld {
				wh[r] += uint64(n)
			}
		}
	}
	tr := w.thrRes
	for p, n := range tr.held {
		st.s.ThresholdHeld[p] += uint64(n)
	}
	st.s.ThresholdCreated += uint64(tr.created)
	st.s.ThresholdExpired += uint64(tr.expired)
	st.s.ThresholdOverflow += uint64(tr.overflow)
	for _, r := range o.results {
		if r.reason == "" && !r.duplicate && strings.HasPrefix(r.p.id, "thr:") {
			st.s.ThresholdReleased[r.p.peer] += uint64(r.p.records)
		}
	}
	for _, r := range o.results {
		if r.p.peer == "" || r.reason == "" {
			continue // stored: counted by countStored
		}
		m := st.s.Dropped[r.p.peer]
		if m == nil {
			m = map[string]uint64{}
			st.s.Dropped[r.p.peer] = m
		}
		m[r.reason] += uint64(r.p.records)
		dropped[r.p.peer+"\x00"+r.reason] += uint64(r.p.records)
	}
	st.mu.Unlock()
	for k, n := range dropped {
		peer, reason, _ := strings.Cut(k, "\x00")
		w.e.drops.add(peer, reason, sensor, n)
	}
}

// countStored counts what one attempt stored, whatever becomes of the
// batch: an output stored on an attempt that is retried is stored all the
// same, and comes back on the next attempt as a duplicate, counted apart.
func (w *worker) countStored(o outcome) {
	st := w.e.stats
	st.mu.Lock()
	defer st.mu.Unlock()
	for _, r := range o.results {
		switch {
		case r.p.peer == "" || r.reason != "":
		case r.duplicate:
			st.s.Duplicates[r.p.peer] += uint64(r.p.records)
		case r.p.parked:
			st.s.Parked[r.p.peer] += uint64(r.p.records)
		case r.p.toHold:
			st.s.Held[r.p.peer] += uint64(r.p.records) // delivered at release
		default:
			st.s.Delivered[r.p.peer] += uint64(r.p.records)
		}
	}
}

// dropLog logs drops at a bounded rate: the first drop of a (peer, reason)
// at once, then at most one summary per interval.
type dropLog struct {
	log      *slog.Logger
	interval time.Duration
	now      func() time.Time
	mu       sync.Mutex
	state    map[string]*dropState
}

type dropState struct {
	last    time.Time
	pending uint64
}

func newDropLog(l *slog.Logger, interval time.Duration) *dropLog {
	return &dropLog{log: l, interval: interval, now: time.Now, state: map[string]*dropState{}}
}

func (d *dropLog) add(peer, reason, sensor string, n uint64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	key := peer + "\x00" + reason
	s := d.state[key]
	if s == nil {
		s = &dropState{}
		d.state[key] = s
	}
	s.pending += n
	if now := d.now(); now.Sub(s.last) >= d.interval {
		attrs := []any{"peer", peer, "reason", reason, "records", s.pending, "last_sensor", sensor}
		if !s.last.IsZero() { // the first warning of a kind has no "since"
			attrs = append(attrs, "since", s.last.Format(time.RFC3339))
		}
		d.log.Warn("records not delivered to peer", attrs...)
		s.last, s.pending = now, 0
	}
}

// flush logs what is pending, at shutdown.
func (d *dropLog) flush() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for key, s := range d.state {
		if s.pending > 0 {
			peer, reason, _ := strings.Cut(key, "\x00")
			d.log.Warn("records not delivered to peer", "peer", peer, "reason", reason, "records", s.pending)
			s.pending = 0
		}
	}
}
