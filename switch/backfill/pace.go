package backfill

import (
	"context"
	"time"

	"golang.org/x/time/rate"
)

// pacer holds a run to its records a second, so that live switching keeps
// the bus and the peer's stream. It counts its waits, for the progress.
type pacer struct {
	lim    *rate.Limiter // nil: no limit
	burst  int
	waits  int64
	waited time.Duration
}

// newPacer paces at r records a second (0: DefaultRate; negative: none),
// with bursts of a tenth of a second's records.
func newPacer(r int) *pacer {
	if r == 0 {
		r = DefaultRate
	}
	if r < 0 {
		return &pacer{}
	}
	b := max(1, r/10)
	return &pacer{lim: rate.NewLimiter(rate.Limit(r), b), burst: b}
}

// wait returns once n more records may go, or when ctx ends.
func (p *pacer) wait(ctx context.Context, n int) error {
	if p.lim == nil {
		return nil
	}
	for n > 0 {
		k := min(n, p.burst)
		res := p.lim.ReserveN(time.Now(), k)
		if d := res.Delay(); d > 0 {
			p.waits++
			p.waited += d
			t := time.NewTimer(d)
			select {
			case <-ctx.Done():
				t.Stop()
				res.Cancel()
				return ctx.Err()
			case <-t.C:
			}
		}
		n -= k
	}
	return nil
}

// sleepUntil waits until t or ctx's end.
func sleepUntil(ctx context.Context, now, t time.Time) error {
	d := t.Sub(now)
	if d <= 0 {
		return nil
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-tm.C:
		return nil
	}
}
