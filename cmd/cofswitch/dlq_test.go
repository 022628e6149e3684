package main

import (
	"strings"
	"testing"
	"time"

	"github.com/cofswitch/cofswitch/sensor/deadletters"
)

func TestParseTimeArg(t *testing.T) {
	now := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		in, want string // want: RFC 3339, or "" for an error
	}{
		{in: "2026-03-01T10:00:00Z", want: "2026-03-01T10:00:00Z"},
		{in: "2026-03-01T10:00:00+02:00", want: "2026-03-01T08:00:00Z"},
		{in: "90m", want: "2026-03-10T10:30:00Z"},
		{in: "7d", want: "2026-03-03T12:00:00Z"},
		{in: "0s", want: "2026-03-10T12:00:00Z"},
		{in: "-1h"},
		{in: "yesterday"},
		{in: "2026-03-01"},
	} {
		got, err := parseTimeArg(tt.in, now)
		switch {
		case tt.want == "" && err == nil:
			t.Errorf("parseTimeArg(%q) = %v, want an error", tt.in, got)
		case tt.want != "" && (err != nil || got.UTC().Format(time.RFC3339) != tt.want):
			t.Errorf("parseTimeArg(%q) = %v, %v; want %s", tt.in, got, err, tt.want)
		}
	}
}

// TestWriteLetter: what a sensor sent reaches the terminal quoted when it
// holds control characters (an escape sequence), as it is otherwise.
func TestWriteLetter(t *testing.T) {
	stored := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		name string
		l    deadletters.Letter
		want []string
	}{
		{name: "records", l: deadletters.Letter{Seq: 12, Stored: stored, Sensor: "s1", Entries: []deadletters.Entry{
			{Line: 3, Kind: "bad_rdata", Field: "rdata", Error: "not an IPv4 address", InputSeq: 7, Raw: `{"rdata":"192.0.2.300"}`},
			{Line: 4, Kind: "syntax", Error: "invalid character", Raw: "\x1b[2Jgotcha"},
		}}, want: []string{
			"dead letter 12 of sensor s1, stored 2026-03-10T12:00:00Z, from input batch 7\n",
			"entry 1: line 3, bad_rdata (field rdata): not an IPv4 address\n",
			`  raw: {"rdata":"192.0.2.300"}` + "\n",
			`  raw: "\x1b[2Jgotcha"` + "\n",
		}},
		{name: "whole batch", l: deadletters.Letter{Seq: 13, Stored: stored, Sensor: "s1", Entries: []deadletters.Entry{
			{WholeBatch: true, Kind: "bad_encoding", Error: "zstd: corrupt", Encoding: "zstd", RawBytes: 5, RawBase64: "AAF3aG9s"},
		}}, want: []string{
			"the whole batch was rejected: bad_encoding: zstd: corrupt\n",
			"  5 bytes, encoding zstd\n",
			"  raw (base64): AAF3aG9s\n",
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var b strings.Builder
			if err := writeLetter(&b, &tt.l); err != nil {
				t.Fatal(err)
			}
			for _, w := range tt.want {
				if !strings.Contains(b.String(), w) {
					t.Errorf("missing %q in:\n%s", w, b.String())
				}
			}
			if strings.Contains(b.String(), "\x1b") {
				t.Errorf("an escape reached the output:\n%q", b.String())
			}
		})
	}
}
