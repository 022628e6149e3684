package bus

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

const user = "ORG:a:sensor:s1/nkey:UAYRP6MDSCWWXH72LMBDBLBQHCQTDWICBKYBKNORMLIURWYBV4ZJ6GUY"

func TestParseSecEvent(t *testing.T) {
	for _, tc := range []struct {
		name, line string
		want       secEvent
		notSec     bool
	}{
		{
			name: "publish violation",
			line: `127.0.0.1:5678 - cid:9 - "v1.55.0:go" - "` + user + `" - Publish Violation - Subject "cof.in.s2"`,
			want: secEvent{kind: pubViolation, identity: user, detail: "cof.in.s2", cid: 9},
		},
		{
			name: "reply subject",
			line: `127.0.0.1:5678 - cid:9 - "` + user + `" - Publish Violation - Reply "_INBOX.x"`,
			want: secEvent{kind: pubViolation, identity: user, detail: "_INBOX.x", cid: 9},
		},
		{
			name: "queue subscription",
			line: `[::1]:5678 - cid:12 - "v1:go:n" - "` + user + `" - Subscription Violation - Subject "cof.out.>", Queue: "q", SID 3`,
			want: secEvent{kind: subViolation, identity: user, detail: "cof.out.>", cid: 12},
		},
		{
			name: "a client name that mimics a message and a user",
			line: `127.0.0.1:5678 - cid:9 - "v1:go:x\" - \"EXCHANGE/nkey:UX\" - Publish Violation - Subject \"a" - "` + user + `" - Publish Violation - Subject "b"`,
			want: secEvent{kind: pubViolation, identity: user, detail: "b", cid: 9},
		},
		{
			name: "leaf node",
			line: `10.0.0.1:7422 - lid:4 - Publish Violation - Subject "x"`,
			want: secEvent{kind: pubViolation, identity: "10.0.0.1", detail: "x", cid: 4},
		},
		{
			name: "websocket behind a proxy: the TCP peer counts",
			line: `203.0.113.9/10.0.0.2:443 - wid:5 - authentication error`,
			want: secEvent{kind: authFailure, identity: "10.0.0.2", detail: "authentication error", cid: 5},
		},
		{
			name: "wrong nkey",
			line: `127.0.0.1:44984 - cid:6 - authentication error - Nkey "UD2B"`,
			want: secEvent{kind: authFailure, identity: "127.0.0.1", detail: `Nkey "UD2B"`, cid: 6},
		},
		{
			name: "TLS",
			line: `127.0.0.1:1 - cid:7 - TLS handshake error: remote error: tls: bad certificate`,
			want: secEvent{kind: authFailure, identity: "127.0.0.1", detail: "TLS handshake error: remote error: tls: bad certificate", cid: 7},
		},
		{
			name: "client's -ERR",
			line: `127.0.0.1:1 - cid:7 - "` + user + `" - Client Error anything at all`,
			want: secEvent{kind: protoError, identity: user, detail: "Client Error anything at all", cid: 7},
		},
		{
			name: "a long subject is cut",
			line: `127.0.0.1:1 - cid:7 - "` + user + `" - Publish Violation - Subject "` + strings.Repeat("a", 1000) + `"`,
			want: secEvent{kind: pubViolation, identity: user, detail: strings.Repeat("a", maxDetailLen) + "...", cid: 7},
		},
		{name: "route", line: `10.0.0.1:6222 - rid:3 - Route Error boom`, notSec: true},
		{name: "notice", line: `Server is ready`, notSec: true},
		{name: "a client's other error", line: `127.0.0.1:1 - cid:7 - read error: EOF`, notSec: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := parseSecEvent(tc.line)
			if ok == tc.notSec {
				t.Fatalf("security event: %v, want %v", ok, !tc.notSec)
			}
			if ok && got != tc.want {
				t.Errorf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

// fakeServer records disconnections.
type fakeServer struct {
	mu   sync.Mutex
	cids []uint64
}

func (f *fakeServer) DisconnectClientByID(id uint64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cids = append(f.cids, id)
	return errors.New("gone")
}

func (f *fakeServer) disconnected() []uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]uint64(nil), f.cids...)
}

// testAdapter is an adapter on a clock the test moves, logging as text.
func testAdapter(maxViolations int) (*slogAdapter, *bytes.Buffer, *fakeServer, *time.Time) {
	var buf bytes.Buffer
	clock := time.Unix(1_000_000, 0)
	a := newSlogAdapter(slog.New(slog.NewTextHandler(&buf, nil)), maxViolations)
	a.now = func() time.Time { return clock }
	a.reset(clock)
	srv := &fakeServer{}
	a.setServer(srv)
	return a, &buf, srv, &clock
}

func violation(cid int, who, subject string) string {
	return fmt.Sprintf(`127.0.0.1:%d - cid:%d - "%s" - Publish Violation - Subject %q`, 1000+cid, cid, who, subject)
}

func TestWindows(t *testing.T) {
	a, buf, _, clock := testAdapter(-1)
	for i := range 1000 {
		a.Errorf("%s", violation(1, user, fmt.Sprintf("s.%d", i)))
	}
	a.Warnf("something else %d", 1)
	if n := strings.Count(buf.String(), "\n"); n != 2 {
		t.Fatalf("%d lines before the window's end, want the first event and the other line:\n%s", n, buf)
	}
	*clock = clock.Add(SecurityLogInterval)
	a.flush()
	want := `msg="999 more publish violations by ` + user + ` in the last 10s (last: \"s.999\")"`
	if !strings.Contains(buf.String(), want) || !strings.Contains(buf.String(), "count=999") {
		t.Fatalf("no summary %s:\n%s", want, buf)
	}
	// The next window starts afresh: its first event is logged in full.
	buf.Reset()
	a.Errorf("%s", violation(1, user, "again"))
	*clock = clock.Add(SecurityLogInterval)
	a.flush()
	if !strings.Contains(buf.String(), `Subject \"again\"`) || strings.Contains(buf.String(), "more publish") {
		t.Errorf("second window:\n%s", buf)
	}
}

func TestRotatingIdentitiesBounded(t *testing.T) {
	a, buf, _, clock := testAdapter(-1)
	const rotations = 5 * maxTrackedKeys
	for i := range rotations {
		a.Errorf("%s", violation(i+1, fmt.Sprintf("ORG/nkey:U%d", i), "x"))
	}
	a.mu.Lock()
	tracked := len(a.events)
	a.mu.Unlock()
	if tracked > maxTrackedKeys+1 {
		t.Errorf("%d keys tracked, want at most %d", tracked, maxTrackedKeys+1)
	}
	*clock = clock.Add(SecurityLogInterval)
	a.flush()
	lines := strings.Count(buf.String(), "\n")
	if lines != maxTrackedKeys+2 {
		t.Errorf("%d lines, want one per tracked identity, the first aggregated as other, and its summary", lines)
	}
	want := fmt.Sprintf("%d more publish violations by other identities (more than %d)", rotations-maxTrackedKeys-1, maxTrackedKeys)
	if !strings.Contains(buf.String(), want) || !strings.Contains(buf.String(), "aggregated_as=other") {
		t.Errorf("no %q:\n%s", want, buf.String()[max(0, buf.Len()-1000):])
	}
}

func TestDisconnectAfterMaxViolations(t *testing.T) {
	for _, tc := range []struct {
		name          string
		maxViolations int
		want          []uint64
	}{
		{name: "default", maxViolations: 0, want: []uint64{7}},
		{name: "never", maxViolations: -1, want: nil},
		{name: "configured", maxViolations: 3, want: []uint64{7}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, buf, srv, clock := testAdapter(tc.maxViolations)
			for range 3 * DefaultMaxViolations {
				a.Errorf("%s", violation(7, user, "x"))
			}
			// Another connection: two violations in a window, two in the
			// next; the count starts again with each window.
			for range 2 {
				a.Errorf("%s", violation(8, user, "x"))
			}
			*clock = clock.Add(SecurityLogInterval)
			a.flush()
			for range 2 {
				a.Errorf("%s", violation(8, user, "x"))
			}
			checkEventually(t, func() bool { return len(srv.disconnected()) == len(tc.want) })
			if got := srv.disconnected(); fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("disconnected %v, want %v", got, tc.want)
			}
			if n := strings.Count(buf.String(), "disconnecting connection"); n != len(tc.want) {
				t.Errorf("%d disconnections logged, want %d:\n%s", n, len(tc.want), buf)
			}
		})
	}
}

func TestAuthFailuresNeverDisconnect(t *testing.T) {
	a, buf, _, _ := testAdapter(1)
	for range 10 {
		a.Errorf("127.0.0.1:1 - cid:5 - authentication error")
	}
	// The decision to disconnect is logged before the call.
	if strings.Contains(buf.String(), "disconnecting") {
		t.Errorf("authentication failures disconnect:\n%s", buf)
	}
}

// checkEventually polls cond for a second (disconnection is asynchronous).
func checkEventually(t *testing.T, cond func() bool) {
	t.Helper()
	for range 100 {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}
