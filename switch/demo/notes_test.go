package demo

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cofswitch/cofswitch/policy"
	"github.com/cofswitch/cofswitch/switch/exchange"
)

// syncBuffer is a log sink the demo's goroutines share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) lines(msg string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for l := range strings.SplitSeq(s.b.String(), "\n") {
		if strings.Contains(l, `msg="`+msg+`"`) {
			out = append(out, l)
		}
	}
	return out
}

// TestDemoLogsPolicyExamples runs the demo exchange in process and reads
// its log: once, per demo peer, one line saying what its policy changed
// in the demo's records, field by field with plain values (csirt-share:
// the address truncated, the times coarsened; pass: nothing), and what it
// withheld, by rule.
func TestDemoLogsPolicyExamples(t *testing.T) {
	cfg, err := Config()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	x, err := exchange.Start(ctx, cfg, exchange.Options{Listen: "127.0.0.1:0", DataDir: t.TempDir(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer x.Stop()
	var buf syncBuffer
	go Run(ctx, x.JetStream(), cfg, slog.New(slog.NewTextHandler(&buf, nil)), time.Hour)
	deadline := time.Now().Add(20 * time.Second)
	for len(buf.lines("policy example")) < len(cfg.Peers) || len(buf.lines("peer received")) < 4 {
		if time.Now().After(deadline) {
			t.Fatalf("no policy examples after 20 s:\n%s", buf.b.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	want := map[string][]string{
		"circl": {`policy=csirt-share record="www.example.com A"`, "rdata 93.184.216.34 -> 93.184.216.0 (truncate_ip)",
			"time_first 2010-06-24T04:29:04Z -> 2010-06-24T04:29:00Z (coarsen_time)",
			"time_last 2013-10-12T15:10:07Z -> 2013-10-12T15:11:00Z (coarsen_time)", "held_until_end_of=1m0s"},
		"cert-xy":    {"policy=pass changed=nothing"},
		"hub":        {"policy=pass changed=nothing"},
		"ipv6-study": {"policy=pass changed=nothing"},
	}
	examples := buf.lines("policy example")
	for _, p := range cfg.Peers {
		var mine []string
		for _, l := range examples {
			if strings.Contains(l, " peer="+p.ID+" ") {
				mine = append(mine, l)
			}
		}
		if len(mine) != 1 {
			t.Errorf("%s: %d example lines, want 1: %q", p.ID, len(mine), mine)
			continue
		}
		for _, w := range want[p.ID] {
			if !strings.Contains(mine[0], w) {
				t.Errorf("%s: %q lacks %q", p.ID, mine[0], w)
			}
		}
		if strings.ContainsAny(mine[0], `{\`) {
			t.Errorf("%s: not plain logfmt: %s", p.ID, mine[0])
		}
	}
	withheld := buf.lines("policy withheld")
	if len(withheld) != 1 || !strings.Contains(withheld[0], "peer=circl policy=csirt-share records=2 of=5 exclude.rdata_cidrs=1 exclude.zones=1") {
		t.Errorf("withheld lines: %q", withheld)
	}
}

// TestNoteLog: the two lines of a note, as logfmt with plain values.
func TestNoteLog(t *testing.T) {
	for _, tt := range []struct {
		name string
		n    note
		want string
	}{
		{name: "nothing changed or withheld", n: note{peer: "p", policy: "pass", records: 3},
			want: `msg="policy example" peer=p policy=pass changed=nothing` + "\n"},
		{name: "changed, dropped, added, withheld", n: note{peer: "p", policy: "share", records: 4, example: "a.example A",
			changes: []policy.Change{
				{Field: "sensor_id", Before: "s1", After: "pseudo-0123", Transform: "pseudonymise_sensor"},
				{Field: "bailiwick", Before: "example", Dropped: true, Transform: "drop_fields"},
				{Field: "origin", After: "cert-xy", Added: true, Transform: "set_fields"},
			}, withheld: map[string]int{"include.rrtypes": 2, "exclude.zones": 1}},
			want: `msg="policy example" peer=p policy=share record="a.example A" changed="sensor_id s1 -> pseudo-0123 (pseudonymise_sensor); origin added cert-xy (set_fields)" dropped_fields=bailiwick` + "\n" +
				`msg="policy withheld" peer=p policy=share records=3 of=4 exclude.zones=1 include.rrtypes=2` + "\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			noTime := func(_ []string, a slog.Attr) slog.Attr {
				if a.Key == slog.TimeKey || a.Key == slog.LevelKey {
					return slog.Attr{}
				}
				return a
			}
			tt.n.log(slog.New(slog.NewTextHandler(&b, &slog.HandlerOptions{ReplaceAttr: noTime})))
			if b.String() != tt.want {
				t.Errorf("got\n%s\nwant\n%s", b.String(), tt.want)
			}
		})
	}
}
