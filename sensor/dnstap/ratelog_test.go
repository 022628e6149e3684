package dnstap

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// TestMalformedLogRateLimited: a flood of malformed messages logs one line
// per 10 s, each with the counts since the last.
func TestMalformedLogRateLimited(t *testing.T) {
	var logs bytes.Buffer
	now := time.Unix(testSec, 0)
	c, err := NewConverter(withNow(func() time.Time { return now }),
		WithLogger(slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{
			ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
				if a.Key == slog.TimeKey {
					return slog.Attr{}
				}
				return a
			}}))))
	if err != nil {
		t.Fatal(err)
	}
	good := wire(t, "example.com.", dns.TypeA, []string{"example.com. 1 IN A 192.0.2.1"}, nil, nil)
	short := &Message{Type: resolverResponse, ResponseTime: Time{Sec: testSec, HasSec: true}, ResponseMessage: good[:5]}
	cut := &Message{Type: resolverResponse, ResponseTime: Time{Sec: testSec, HasSec: true}, ResponseMessage: good[:len(good)-2]}
	steps := []struct {
		advance time.Duration
		msgs    []*Message
	}{
		{advance: 0, msgs: []*Message{short}},                      // the first is logged at once
		{advance: time.Second, msgs: []*Message{short, cut, cut}},  // held back
		{advance: 8 * time.Second, msgs: []*Message{cut}},          // 9 s: still held back
		{advance: time.Second, msgs: []*Message{short}},            // 10 s: one line with the counts
		{advance: 3 * time.Second, msgs: []*Message{short, short}}, // held back until Flush
	}
	for _, s := range steps {
		now = now.Add(s.advance)
		for _, m := range s.msgs {
			if err := c.Convert(m, nil); err == nil {
				t.Fatal("malformed message converted")
			}
		}
	}
	c.Flush()
	want := []string{
		`level=WARN msg="dnstap: malformed DNS messages skipped" dns_header=1`,
		`level=WARN msg="dnstap: malformed DNS messages skipped" dns_header=2 dns_truncated=3 since_last=10s`,
		`level=WARN msg="dnstap: malformed DNS messages skipped" dns_header=2 since_last=3s`,
	}
	if got := strings.TrimSpace(logs.String()); got != strings.Join(want, "\n") {
		t.Errorf("log:\n%s\nwant:\n%s", got, strings.Join(want, "\n"))
	}
}
