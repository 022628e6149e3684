package policy

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"slices"
	"strings"
	"time"

	"github.com/cofswitch/cofswitch/cof"
)

// Release modes of coarsen_time: when the switch hands a peer the records
// it coarsened.
const (
	// ReleaseBucketEnd holds outputs until the end of the bucket in which
	// the switch handled them, so that neither the delivery moment nor the
	// stored timestamp tells more than the bucket. The default.
	ReleaseBucketEnd = "bucket_end"
	// ReleaseImmediate delivers at once: the body is coarsened, but the
	// moment of delivery (and the stream's timestamp) tells the time of
	// the batch to the second. For benchmarks and same-organisation peers.
	ReleaseImmediate = "immediate"
)

// compileCoarsen builds coarsen_time and says how long the policy's
// outputs are held (0: not held).
func compileCoarsen(t *TransformSpec, errs *errList) (transform, time.Duration, bool) {
	if t.CoarsenTime == "" {
		if t.Release != "" {
			errs.add("transforms.release", "release applies to coarsen_time, which is not set")
		}
		return transform{}, 0, false
	}
	d, err := parseDuration(t.CoarsenTime)
	if err != nil || d < time.Second || d%time.Second != 0 {
		errs.add("transforms.coarsen_time", "bad duration %q (want whole seconds, e.g. 1h)", t.CoarsenTime)
		return transform{}, 0, false
	}
	if (24*time.Hour)%d != 0 && d%(24*time.Hour) != 0 {
		// Buckets are aligned on the epoch: a size that divides a day (or
		// is whole days) keeps them on the clock's boundaries.
		errs.add("transforms.coarsen_time", "%s: want a divisor of a day (1m, 5m, 1h, 6h...) or whole days", t.CoarsenTime)
		return transform{}, 0, false
	}
	var hold time.Duration
	switch t.Release {
	case "", ReleaseBucketEnd:
		hold = d
	case ReleaseImmediate:
	default:
		errs.add("transforms.release", "%q: want %s or %s", t.Release, ReleaseBucketEnd, ReleaseImmediate)
	}
	var keep []string
	if t.KeepFields != nil {
		keep = slices.Clone(*t.KeepFields)
	}
	return transform{"coarsen_time", coarsen(int64(d/time.Second), keep)}, hold, true
}

// coarsen widens the first-seen and last-seen times to whole buckets of
// secs seconds: first is floored, last becomes the end of its bucket, even
// when it falls on a boundary (a record seen at 10:00:00 exactly becomes
// 10:00-11:00, not 10:00-10:00, which would keep its second). The
// millisecond fields would betray the precision, and so would additional
// fields that look like times (seen_at, timestamp...): they go, unless
// keep lists them.
func coarsen(secs int64, keep []string) func(r *cof.Record, _ *Scratch) {
	floor := func(t int64) int64 { return t - t%secs }
	end := func(t int64) int64 { return min(t-t%secs+secs, cof.MaxTime) }
	return func(r *cof.Record, _ *Scratch) {
		r.TimeFirst, r.TimeLast = floor(r.TimeFirst), end(r.TimeLast)
		if r.Has&cof.HasZoneTimes != 0 {
			r.ZoneTimeFirst, r.ZoneTimeLast = floor(r.ZoneTimeFirst), end(r.ZoneTimeLast)
		}
		r.Has &^= cof.HasTimeFirstMS | cof.HasTimeLastMS
		r.TimeFirstMS, r.TimeLastMS = 0, 0
		drop := func(f cof.Field) bool { return TimeLike(f.Name) && !slices.Contains(keep, f.Name) }
		if slices.ContainsFunc(r.Extra, drop) {
			r.Extra = slices.DeleteFunc(slices.Clone(r.Extra), drop)
		}
	}
}

// TimeLike reports whether an additional field's name suggests it holds a
// time: time, ts, date, seen or stamp as a word of the name (seen_at,
// time_observed, first_seen, timestamp, event_ts, queryTime, ...).
func TimeLike(name string) bool {
	n := strings.ToLower(name)
	if strings.Contains(n, "time") || strings.Contains(n, "stamp") || strings.Contains(n, "date") || strings.Contains(n, "seen") {
		return true
	}
	for _, w := range strings.FieldsFunc(n, func(c rune) bool { return c == '_' || c == '-' || c == '.' }) {
		switch w {
		case "ts", "at", "when", "epoch", "day", "hour", "minute", "second", "ms", "us", "ns":
			return true
		}
	}
	return false
}

// versionOf is the version a policy of this name and specification has
// once compiled (Compiled.Version). JSON of the Spec is deterministic
// (struct fields in order, map keys sorted).
func versionOf(name string, s *Spec) string {
	b, _ := json.Marshal(struct {
		Name string
		Spec *Spec
	}{name, s})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:6])
}
