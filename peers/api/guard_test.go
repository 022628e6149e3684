package api

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cofswitch/cofswitch/peers/db/dbtest"
)

// TestBruteForce runs a guessing loop on one connection, as the attacker
// did (about 9,000 guesses a second before): after DefaultLoginBurst
// failures the address is refused with 429 and Retry-After, the right
// secret included, until the bucket refills; the log holds one line in
// full and, at the window's end, one count, and never a guess.
func TestBruteForce(t *testing.T) {
	tests := []struct {
		name   string
		guess  func(req *http.Request, i int) string // sets a guess, returns it
		right  func(req *http.Request)
		method string
	}{
		{name: "HTTP Basic", method: "basic",
			guess: func(req *http.Request, i int) string {
				g := fmt.Sprintf("guess-%04d", i)
				req.SetBasicAuth("alice", g)
				return g
			},
			right: func(req *http.Request) { req.SetBasicAuth("alice", "pw") }},
		{name: "API key", method: "api-key",
			guess: func(req *http.Request, i int) string {
				g := fmt.Sprintf("key-guess-%04d", i)
				req.Header.Set("X-Api-Key", g)
				return g
			},
			right: func(req *http.Request) { req.Header.Set("X-Api-Key", "k3y") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := dbtest.New(t)
			clock, log := newFakeClock(), &syncBuffer{}
			s, err := New(store, testCreds(t), WithClock(clock.now), WithLogger(log.logger()))
			if err != nil {
				t.Fatal(err)
			}
			srv := serveHTTP(t, s)
			client := &http.Client{Transport: &http.Transport{MaxConnsPerHost: 1}}
			send := func(set func(*http.Request)) *http.Response {
				req, _ := http.NewRequest(http.MethodGet, srv.URL+"/dnsdb/v2/lookup/rrset/name/www.example.com", nil)
				set(req)
				resp, err := client.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				return resp
			}
			codes := map[int]int{}
			var guesses []string
			for i := range 200 {
				resp := send(func(req *http.Request) { guesses = append(guesses, tt.guess(req, i)) })
				codes[resp.StatusCode]++
				if resp.StatusCode == http.StatusTooManyRequests {
					if ra, _ := strconv.Atoi(resp.Header.Get("Retry-After")); ra < 1 || ra > int(DefaultLoginEvery/time.Second) {
						t.Fatalf("Retry-After %q", resp.Header.Get("Retry-After"))
					}
				}
			}
			if codes[http.StatusUnauthorized] != DefaultLoginBurst || codes[http.StatusTooManyRequests] != 200-DefaultLoginBurst {
				t.Errorf("answers %v: want %d guesses checked, the rest refused", codes, DefaultLoginBurst)
			}
			if resp := send(tt.right); resp.StatusCode != http.StatusTooManyRequests {
				t.Errorf("the right secret during the block: %d, want 429 (else a right guess shows)", resp.StatusCode)
			}
			clock.advance(DefaultLoginEvery)
			if resp := send(tt.right); resp.StatusCode != http.StatusOK {
				t.Errorf("the right secret after one refill: %d, want 200", resp.StatusCode)
			}
			lines := log.lines()
			if len(lines) != 1 || !strings.Contains(lines[0], `msg="failed login"`) || !strings.Contains(lines[0], "method="+tt.method) {
				t.Errorf("log during the window: %q, want one full line", lines)
			}
			s.guard.flush(clock.now().Add(DefaultLoginLogEvery))
			lines = log.lines()
			if len(lines) != 2 || !strings.Contains(lines[1], `msg="more failed logins"`) ||
				!strings.Contains(lines[1], fmt.Sprintf("failed=%d refused=%d", DefaultLoginBurst-1, 200-DefaultLoginBurst+1)) {
				t.Errorf("log after the window: %q", lines)
			}
			for _, g := range append(guesses, "k3y", "pw") {
				if strings.Contains(log.String(), g) {
					t.Fatalf("the log holds a secret or guess %q: %s", g, log.String())
				}
			}
		})
	}
}

// TestLoginGuard drives the guard directly: addresses are throttled
// apart, the bucket refills, the log shows a known user's name and not
// an unknown one, the tracked addresses are forgotten once refilled.
func TestLoginGuard(t *testing.T) {
	log := &syncBuffer{}
	g := newLoginGuard(3, time.Second, 10*time.Second, log.logger())
	now := testEpoch
	for range 3 {
		g.failed("192.0.2.1", "basic", "alice", now)
	}
	tests := []struct {
		name  string
		addr  string
		after time.Duration
		want  time.Duration
	}{
		{name: "the guesser is refused", addr: "192.0.2.1", want: time.Second},
		{name: "another address is not", addr: "192.0.2.2", want: 0},
		{name: "half a refill later", addr: "192.0.2.1", after: 500 * time.Millisecond, want: 500 * time.Millisecond},
		{name: "one refill later", addr: "192.0.2.1", after: time.Second, want: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := g.admit(tt.addr, now.Add(tt.after)); got != tt.want {
				t.Errorf("wait %v, want %v", got, tt.want)
			}
		})
	}
	g.failed("192.0.2.3", "basic", "", now)
	if out := log.String(); !strings.Contains(out, "user=alice") || strings.Count(out, "user=") != 1 {
		t.Errorf("log: %s", out)
	}
	g.flush(now.Add(time.Minute))
	if len(g.clients) != 0 {
		t.Errorf("%d addresses still tracked after their buckets refilled", len(g.clients))
	}
}

func TestClientAddr(t *testing.T) {
	for _, tt := range []struct{ remote, want string }{
		{"192.0.2.7:5000", "192.0.2.7"},
		{"[::ffff:192.0.2.7]:5000", "192.0.2.7"},
		{"[2001:db8:1:2:3:4:5:6]:443", "2001:db8:1:2::/64"},
		{"[fe80::1%eth0]:443", "fe80::/64"},
		{"not an address", "not an address"},
	} {
		if got := clientAddr(tt.remote); got != tt.want {
			t.Errorf("clientAddr(%q) = %q, want %q", tt.remote, got, tt.want)
		}
	}
}
