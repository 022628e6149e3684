package engine

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/cofswitch/cofswitch/policy"
)

// Sightings alone (a record that no threshold policy kept: its sensor is
// routed to none, or the policies' filters withheld it) count towards
// every threshold but deliver nothing, and a sighting written twice is
// the same sighting. So they are written to the bucket off the batches'
// path, by a writer of their own: a sensor that no peer receives, sending
// batches of new names, costs the bucket's writes but never delays
// another sensor's deliveries. The queue is fair between sensors (each
// round takes from each in turn) and bounded: a sighting that does not
// fit is dropped and counted, which can only hold an rrset back longer,
// never release one.

// Bounds of the queue of sightings.
const (
	maxQueuedSightings       = 1 << 18 // in all, beyond which a sensor above its share drops
	maxQueuedSensorSightings = 1 << 15 // of one sensor
	sightingWriters          = 4
)

// sighting is one sensor's sighting of an rrset, to write.
type sighting struct {
	sensor, org string // keyed hashes
	window      time.Duration
}

// sightQueue holds the sightings waiting to be written, by sensor.
type sightQueue struct {
	mu      sync.Mutex
	pending map[string]map[[16]byte]sighting // sensor hash -> rrset -> sighting
	order   []string                         // sensors with pending sightings, in turn
	n       int
	wake    chan struct{}
	busy    int // rounds being written
	idle    *sync.Cond
}

func newSightQueue() *sightQueue {
	q := &sightQueue{pending: map[string]map[[16]byte]sighting{}, wake: make(chan struct{}, 1)}
	q.idle = sync.NewCond(&q.mu)
	return q
}

// add queues the sightings of a batch and returns how many it dropped.
func (q *sightQueue) add(obs []obs) (dropped int) {
	if len(obs) == 0 {
		return 0
	}
	q.mu.Lock()
	for _, o := range obs {
		m := q.pending[o.sensor]
		if m == nil {
			m = map[[16]byte]sighting{}
			q.pending[o.sensor] = m
			q.order = append(q.order, o.sensor)
		}
		if _, ok := m[o.key]; ok {
			continue
		}
		if len(m) >= maxQueuedSensorSightings || (q.n >= maxQueuedSightings && len(m) >= maxQueuedSightings/len(q.pending)) {
			dropped++
			continue
		}
		m[o.key] = sighting{sensor: o.sensor, org: o.org, window: o.th.Window}
		q.n++
	}
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
	return dropped
}

// take removes up to max sightings, taken from each sensor in turn, and
// returns them grouped by rrset as observations with no output.
func (q *sightQueue) take(limit int) map[[16]byte][]obs {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.n == 0 {
		return nil
	}
	q.busy++
	out := map[[16]byte][]obs{}
	for taken := 0; taken < limit && q.n > 0; {
		sensor := q.order[0]
		m := q.pending[sensor]
		share := max(1, (limit-taken)/len(q.order))
		for k, s := range m {
			if share == 0 {
				break
			}
			out[k] = append(out[k], obs{key: k, th: policy.Threshold{Window: s.window}, sensor: s.sensor, org: s.org})
			delete(m, k)
			q.n--
			taken++
			share--
		}
		q.order = q.order[1:]
		if len(m) == 0 {
			delete(q.pending, sensor)
		} else {
			q.order = append(q.order, sensor)
		}
	}
	return out
}

// done says a round taken is written (or given up).
func (q *sightQueue) done() {
	q.mu.Lock()
	q.busy--
	q.idle.Broadcast()
	q.mu.Unlock()
}

// queued counts the sightings queued or being written.
func (q *sightQueue) queued() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.n + q.busy
}

// drain waits until nothing is queued or being written, or ctx ends.
func (q *sightQueue) drain(ctx context.Context) {
	stop := context.AfterFunc(ctx, func() {
		q.mu.Lock()
		q.idle.Broadcast()
		q.mu.Unlock()
	})
	defer stop()
	q.mu.Lock()
	defer q.mu.Unlock()
	for (q.n > 0 || q.busy > 0) && ctx.Err() == nil {
		q.idle.Wait()
	}
}

// writeSightings writes the queued sightings until ctx ends.
func (e *Engine) writeSightings(ctx context.Context) {
	q := e.sights
	for {
		groups := q.take(thresholdWindow)
		if groups == nil {
			q.mu.Lock()
			q.idle.Broadcast()
			q.mu.Unlock()
			select {
			case <-ctx.Done():
				return
			case <-q.wake:
				continue
			}
		}
		err := e.writeSightingRound(ctx, groups)
		q.done()
		if err != nil {
			n := 0
			for _, os := range groups {
				n += len(os)
			}
			e.stats.addSightings(0, n)
			if !errors.Is(err, context.Canceled) && e.sightErrs.due() {
				e.log.Warn("threshold: sightings not written; dropped (an rrset can only be held back longer)", "sightings", n, "err", err)
			}
		}
	}
}

// writeSightingRound writes one round: pipelined where this process knows
// the entry, read-compare-set where another process wrote it since.
func (e *Engine) writeSightingRound(ctx context.Context, groups map[[16]byte][]obs) error {
	t := e.thr
	ctx, cancel := context.WithTimeout(ctx, e.o.publishTimeout)
	defer cancel()
	kv, err := t.bucket(ctx, t.js)
	if err != nil {
		return err
	}
	maxWindow := e.reg.Load().maxWindow
	now := time.Now().Unix()
	keys := make([][16]byte, 0, len(groups))
	for k, os := range groups {
		if c := t.cached(k); c != nil && c.fast(os, now) {
			continue // written lately by this process
		}
		keys = append(keys, k)
	}
	var res thresholdResult
	res.held = map[string]int{}
	lost, err := t.writeAll(ctx, t.js, keys, groups, inputRef{}, now, maxWindow, &res)
	if err != nil {
		return err
	}
	var errs []error
	for _, k := range lost {
		r, err := t.update(ctx, kv, k, groups[k], inputRef{}, now, maxWindow)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		res.add(r)
	}
	e.stats.addSightings(len(keys), 0)
	e.stats.addSightingWrites(res)
	return errors.Join(errs...)
}
