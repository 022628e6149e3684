package api

import (
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"golang.org/x/time/rate"
)

// Defaults of the request rate of each API key and each user.
const (
	// DefaultRatePerSecond is the sustained request rate of one key or
	// user.
	DefaultRatePerSecond = 20
	// DefaultBurst is how many requests one key or user may make at once.
	DefaultBurst = 100
)

// DefaultRate is DefaultRatePerSecond as a Rate.
func DefaultRate() Rate { return Rate{N: DefaultRatePerSecond, Per: time.Second} }

// Rate is a request rate: "20/s", "600/m", "5000/h", or a bare number per
// second; "0" is unlimited. It is a flag.Value.
type Rate struct {
	N   float64       // requests...
	Per time.Duration // ...per this long
}

// ParseRate reads a Rate as Set does.
func ParseRate(s string) (Rate, error) {
	var r Rate
	err := r.Set(s)
	return r, err
}

var rateUnits = map[string]time.Duration{
	"s": time.Second, "sec": time.Second, "second": time.Second,
	"m": time.Minute, "min": time.Minute, "minute": time.Minute,
	"h": time.Hour, "hour": time.Hour,
}

// Set reads "N/s", "N/m", "N/h" or "N" (per second); N may have a
// fraction; 0 (or "unlimited") is no limit.
func (r *Rate) Set(s string) error {
	s = strings.TrimSpace(s)
	if s == "unlimited" {
		*r = Rate{}
		return nil
	}
	num, unit, hasUnit := strings.Cut(s, "/")
	per := time.Second
	if hasUnit {
		var ok bool
		if per, ok = rateUnits[strings.ToLower(strings.TrimSpace(unit))]; !ok {
			return fmt.Errorf("%w: rate %q: want N/s, N/m or N/h", ErrInvalidOption, s)
		}
	}
	n, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
	if err != nil || n < 0 || math.IsInf(n, 0) || math.IsNaN(n) {
		return fmt.Errorf("%w: rate %q: want N/s, N/m or N/h with N a number, 0 for no limit", ErrInvalidOption, s)
	}
	*r = Rate{N: n, Per: per}
	return nil
}

// String writes the rate as Set reads it.
func (r Rate) String() string {
	if r.Unlimited() {
		return "0"
	}
	unit := "s"
	switch r.Per {
	case time.Minute:
		unit = "m"
	case time.Hour:
		unit = "h"
	case time.Second:
	default:
		return strconv.FormatFloat(float64(r.Limit()), 'g', -1, 64) + "/s"
	}
	return strconv.FormatFloat(r.N, 'g', -1, 64) + "/" + unit
}

// Unlimited reports whether the rate sets no limit.
func (r Rate) Unlimited() bool { return r.N <= 0 || r.Per <= 0 }

// Limit is the rate in events per second, as x/time/rate takes it.
func (r Rate) Limit() rate.Limit {
	if r.Unlimited() {
		return rate.Inf
	}
	return rate.Limit(r.N / r.Per.Seconds())
}

// spend takes one request from the identity's budget, or returns how long
// until one is available (and takes nothing).
func (id *identity) spend(now time.Time) time.Duration {
	if id.lim == nil {
		return 0
	}
	r := id.lim.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return d
	}
	return 0
}

// rateLimit answers /dnsdb/v2/rate_limit for the calling key or user, in
// the DNSDB API v2 shape that dnsdbq -I reads. The token bucket maps onto
// it as: limit, the burst (the most requests available at once);
// remaining, what is available now; reset, when the bucket is full again;
// burst_size per burst_window seconds, the sustained rate; results_max and
// offset_max, the bounds of one query. Without a limit, limit is
// "unlimited" and reset and remaining "n/a". Asking spends nothing.
func (s *Server) rateLimit(w http.ResponseWriter, _ *http.Request, who *identity) {
	b := []byte(`{"rate":{`)
	if who.lim == nil {
		b = append(b, `"reset":"n/a","limit":"unlimited","remaining":"n/a"`...)
	} else {
		now := s.now()
		tokens := who.lim.TokensAt(now)
		burst, per := who.lim.Burst(), float64(who.lim.Limit())
		full := now
		if missing := float64(burst) - tokens; missing > 0 {
			full = now.Add(time.Duration(missing / per * float64(time.Second)))
		}
		reset := full.Unix()
		if full.After(time.Unix(reset, 0)) {
			reset++
		}
		size, window := burstWindow(per)
		b = fmt.Appendf(b, `"reset":%d,"limit":%d,"remaining":%d,"burst_size":%d,"burst_window":%d`,
			reset, burst, max(0, int(math.Floor(tokens))), size, window)
	}
	b = fmt.Appendf(b, `,"results_max":%d,"offset_max":%d}}`+"\n", s.maxResults, MaxOffset)
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(b)
}

// burstWindow writes a rate per second as whole requests per whole
// seconds (dnsdbq prints "N per minute" and the like): per second, minute
// or hour, whichever is exact first.
func burstWindow(perSecond float64) (size, window int64) {
	for _, w := range []int64{1, 60, 3600} {
		n := perSecond * float64(w)
		if n >= 1 && math.Abs(n-math.Round(n)) < 1e-9 {
			return int64(math.Round(n)), w
		}
	}
	return max(1, int64(math.Round(perSecond*3600))), 3600
}
