package api

import (
	"encoding/json"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/cofswitch/cofswitch/peers/db/dbtest"
)

// rateAnswer is /dnsdb/v2/rate_limit as dnsdbq -I reads it: each value an
// integer, "n/a" or "unlimited".
type rateAnswer struct {
	Rate map[string]any `json:"rate"`
}

func TestRateLimit(t *testing.T) {
	store := dbtest.New(t)
	clock := newFakeClock()
	creds := testCreds(t)
	creds.Keys = append(creds.Keys, "other-key")
	s, err := New(store, creds, WithClock(clock.now), WithLogger(discard), WithRateLimit(Rate{N: 2, Per: time.Second}, 5))
	if err != nil {
		t.Fatal(err)
	}
	srv := serveHTTP(t, s)
	lookup := srv.URL + "/dnsdb/v2/lookup/rrset/name/www.example.com"
	keyA, keyB := map[string]string{"X-Api-Key": "k3y"}, map[string]string{"X-Api-Key": "other-key"}
	rateOf := func(hdr map[string]string) map[string]any {
		t.Helper()
		code, _, body := do(t, http.DefaultClient, srv.URL+"/dnsdb/v2/rate_limit", hdr)
		var a rateAnswer
		if err := json.Unmarshal([]byte(body), &a); code != http.StatusOK || err != nil || a.Rate == nil {
			t.Fatalf("rate_limit: %d %q (%v)", code, body, err)
		}
		return a.Rate
	}
	steps := []struct {
		name    string
		hdr     map[string]string
		advance time.Duration
		want    int
		// what rate_limit says after the step (nil: not asked)
		remaining any
	}{
		{name: "burst 1", hdr: keyA, want: 200, remaining: 4.0},
		{name: "burst 2", hdr: keyA, want: 200},
		{name: "burst 3", hdr: keyA, want: 200},
		{name: "burst 4", hdr: keyA, want: 200},
		{name: "burst 5", hdr: keyA, want: 200, remaining: 0.0},
		{name: "over the burst", hdr: keyA, want: 429},
		{name: "another key is not limited by the first", hdr: keyB, want: 200, remaining: 0.0},
		{name: "the user has a budget of its own", hdr: map[string]string{"Authorization": "Basic YWxpY2U6cHc="}, want: 200},
		{name: "half a second refills one", hdr: keyA, advance: 500 * time.Millisecond, want: 200, remaining: 0.0},
		{name: "and it is spent", hdr: keyA, want: 429},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			clock.advance(st.advance)
			code, hdr, body := do(t, http.DefaultClient, lookup, st.hdr)
			if code != st.want {
				t.Fatalf("status %d, want %d: %s", code, st.want, body)
			}
			if code == http.StatusTooManyRequests {
				if ra, err := strconv.Atoi(hdr.Get("Retry-After")); err != nil || ra != 1 {
					t.Errorf("Retry-After %q, want 1 (half a second, rounded up)", hdr.Get("Retry-After"))
				}
			}
			if st.remaining != nil {
				if got := rateOf(map[string]string{"X-Api-Key": "k3y"})["remaining"]; got != st.remaining {
					t.Errorf("remaining %v, want %v", got, st.remaining)
				}
			}
		})
	}
	r := rateOf(keyA)
	wantReset := float64(clock.now().Add(2500 * time.Millisecond).Unix()) // 5 tokens at 2/s: a whole second here
	want := map[string]any{"limit": 5.0, "remaining": 0.0, "burst_size": 2.0, "burst_window": 1.0,
		"results_max": float64(DefaultLimit), "offset_max": float64(MaxOffset), "reset": wantReset}
	for k, v := range want {
		if r[k] != v {
			t.Errorf("rate_limit %s = %v, want %v (%v)", k, r[k], v, r)
		}
	}
}

func TestRateLimitUnlimited(t *testing.T) {
	store := dbtest.New(t)
	_, srv := newTestServer(t, store, WithRateLimit(Rate{}, 0))
	for range 3 * DefaultBurst {
		if code, _, _ := do(t, http.DefaultClient, srv.URL+"/dnsdb/v2/lookup/rrset/name/x", key); code != http.StatusOK {
			t.Fatalf("status %d without a limit", code)
		}
	}
	_, _, body := do(t, http.DefaultClient, srv.URL+"/dnsdb/v2/rate_limit", key)
	want := `{"rate":{"reset":"n/a","limit":"unlimited","remaining":"n/a","results_max":10000,"offset_max":100000}}` + "\n"
	if body != want {
		t.Errorf("rate_limit = %q, want %q", body, want)
	}
}

func TestParseRate(t *testing.T) {
	for _, tt := range []struct {
		in        string
		perSecond float64 // 0: unlimited
		str       string
		bad       bool
	}{
		{in: "20/s", perSecond: 20, str: "20/s"},
		{in: "20", perSecond: 20, str: "20/s"},
		{in: "600/m", perSecond: 10, str: "600/m"},
		{in: "1800/hour", perSecond: 0.5, str: "1800/h"},
		{in: "0.5/s", perSecond: 0.5, str: "0.5/s"},
		{in: "0", str: "0"},
		{in: "unlimited", str: "0"},
		{in: "-1/s", bad: true},
		{in: "10/fortnight", bad: true},
		{in: "lots", bad: true},
		{in: "NaN", bad: true},
	} {
		t.Run(tt.in, func(t *testing.T) {
			r, err := ParseRate(tt.in)
			if tt.bad {
				if err == nil {
					t.Fatalf("%q parsed as %v", tt.in, r)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if r.String() != tt.str || (tt.perSecond == 0) != r.Unlimited() || (!r.Unlimited() && float64(r.Limit()) != tt.perSecond) {
				t.Errorf("%q = %v (%v/s, unlimited %v)", tt.in, r, float64(r.Limit()), r.Unlimited())
			}
		})
	}
}

func TestBurstWindow(t *testing.T) {
	for _, tt := range []struct {
		perSecond    float64
		size, window int64
	}{
		{20, 20, 1}, {0.5, 30, 60}, {1.0 / 3600, 1, 3600}, {2.5, 150, 60}, {0.0001, 1, 3600},
	} {
		if s, w := burstWindow(tt.perSecond); s != tt.size || w != tt.window {
			t.Errorf("burstWindow(%v) = %d per %d s, want %d per %d", tt.perSecond, s, w, tt.size, tt.window)
		}
	}
}
