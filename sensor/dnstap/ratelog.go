package dnstap

import (
	"log/slog"
	"sync"
	"time"
)

// rateLog logs malformed input at most once per interval: the first event
// at once, later ones summed by reason into the next line, so that a flood
// of garbage costs one line per interval, not one per frame.
type rateLog struct {
	log   *slog.Logger
	now   func() time.Time
	every time.Duration
	msg   string

	mu      sync.Mutex
	last    time.Time
	pending [numReasons]uint64
	any     bool
}

func newRateLog(o *options, msg string) *rateLog {
	return &rateLog{log: o.log, now: o.now, every: logEvery, msg: msg}
}

// note counts one event and logs the counts if the interval has passed.
func (l *rateLog) note(r Reason) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.pending[r]++
	l.any = true
	now := l.now()
	if !l.last.IsZero() && now.Sub(l.last) < l.every {
		return
	}
	l.flushLocked(now)
}

// flush logs what is pending, as a component stops.
func (l *rateLog) flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.any {
		l.flushLocked(l.now())
	}
}

func (l *rateLog) flushLocked(now time.Time) {
	attrs := make([]any, 0, 8)
	for r, n := range l.pending {
		if n > 0 {
			attrs = append(attrs, slog.Uint64(Reason(r).String(), n))
		}
	}
	if !l.last.IsZero() {
		attrs = append(attrs, slog.Duration("since_last", now.Sub(l.last).Round(time.Second)))
	}
	l.log.Warn(l.msg, attrs...)
	l.pending = [numReasons]uint64{}
	l.any = false
	l.last = now
}
