package engine

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/cofswitch/cofswitch/policy"
)

func sightings(sensor string, from, n int) []obs {
	out := make([]obs, n)
	for i := range out {
		binary.BigEndian.PutUint64(out[i].key[:], uint64(from+i))
		out[i].sensor, out[i].th = sensor, policy.Threshold{Window: time.Hour}
	}
	return out
}

// TestSightQueueFairAndBounded: a sensor's flood fills its own share and
// drops beyond it; another sensor's few sightings are taken in the next
// round all the same, and the same sighting queued twice is one.
func TestSightQueueFairAndBounded(t *testing.T) {
	q := newSightQueue()
	if d := q.add(sightings("flood", 0, maxQueuedSensorSightings+100)); d != 100 {
		t.Fatalf("dropped %d of the flood, want the 100 beyond a sensor's bound", d)
	}
	if d := q.add(sightings("flood", 0, 10)); d != 0 || q.queued() != maxQueuedSensorSightings {
		t.Fatalf("the same sightings again: dropped %d, queued %d", d, q.queued())
	}
	if d := q.add(sightings("quiet", 1<<40, 3)); d != 0 {
		t.Fatalf("dropped %d of a quiet sensor's", d)
	}
	got := q.take(thresholdWindow)
	quiet := 0
	n := 0
	for _, os := range got {
		for _, o := range os {
			n++
			if o.sensor == "quiet" {
				quiet++
			}
			if o.out != nil || o.th.Window != time.Hour {
				t.Fatalf("a sighting taken as %+v", o)
			}
		}
	}
	if quiet != 3 || n > thresholdWindow {
		t.Fatalf("round of %d took %d of quiet's 3", n, quiet)
	}
	q.done()
	if q.queued() != maxQueuedSensorSightings+3-n {
		t.Fatalf("queued %d after a round of %d", q.queued(), n)
	}
}

// TestSightQueueSharesTheWholeBound: past the bound in all, a sensor
// above its share drops; one below it still adds.
func TestSightQueueSharesTheWholeBound(t *testing.T) {
	q := newSightQueue()
	for i := range maxQueuedSightings / maxQueuedSensorSightings {
		q.add(sightings(string(rune('a'+i)), i<<20, maxQueuedSensorSightings))
	}
	if q.queued() != maxQueuedSightings {
		t.Fatalf("queued %d", q.queued())
	}
	if d := q.add(sightings("a", 1<<30, 1)); d != 1 {
		t.Fatalf("a sensor above its share added past the bound (dropped %d)", d)
	}
	if d := q.add(sightings("late", 1<<40, 5)); d != 0 {
		t.Fatalf("a sensor below its share dropped %d", d)
	}
}
