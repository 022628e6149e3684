package logformat

import (
	"errors"
	"testing"
	"time"

	"github.com/cofswitch/cofswitch/cof"
)

func TestAppendRData(t *testing.T) {
	for _, tt := range []struct {
		name string
		t    cof.Type
		in   string
		want string
		err  error // errPartial, errUnmapped or a sentinel
	}{
		{name: "a", t: cof.TypeA, in: " 192.0.2.1 ", want: "192.0.2.1"},
		{name: "a leading zero", t: cof.TypeA, in: "192.0.2.01", err: ErrBadRData},
		{name: "a v6", t: cof.TypeA, in: "2001:db8::1", err: ErrBadRData},
		{name: "aaaa long form", t: cof.TypeAAAA, in: "2001:0db8:0000:0000:0000:0000:0000:0001", want: "2001:db8::1"},
		{name: "aaaa mapped", t: cof.TypeAAAA, in: "::ffff:192.0.2.1", want: "::ffff:192.0.2.1"},
		{name: "aaaa zone", t: cof.TypeAAAA, in: "fe80::1%eth0", err: ErrBadRData},
		{name: "aaaa v4", t: cof.TypeAAAA, in: "192.0.2.1", err: ErrBadRData},
		{name: "cname", t: cof.TypeCNAME, in: "Edge.Example.NET.", want: "edge.example.net"},
		{name: "cname two words", t: cof.TypeCNAME, in: "a.example b.example", err: ErrBadRData},
		{name: "cname bad", t: cof.TypeCNAME, in: "a..example", err: ErrBadName},
		{name: "ptr idn", t: cof.TypePTR, in: "bücher.example.", want: "xn--bcher-kva.example"},
		{name: "mx", t: cof.TypeMX, in: "10  MX1.example.com.", want: "10 mx1.example.com"},
		{name: "mx leading zeros", t: cof.TypeMX, in: "010 mx1.example.com", want: "10 mx1.example.com"},
		{name: "mx exchange only", t: cof.TypeMX, in: "mx1.example.com.", err: errPartial},
		{name: "mx preference only", t: cof.TypeMX, in: "10", err: ErrBadRData},
		{name: "mx big preference", t: cof.TypeMX, in: "65536 mx.example.com", err: ErrBadRData},
		{name: "srv", t: cof.TypeSRV, in: "0 5 5060 SIP.example.com.", want: "0 5 5060 sip.example.com"},
		{name: "srv target only", t: cof.TypeSRV, in: "sip.example.com.", err: errPartial},
		{name: "srv three fields", t: cof.TypeSRV, in: "0 5 sip.example.com.", err: ErrBadRData},
		{name: "soa", t: cof.TypeSOA, in: "NS1.example.com. hostmaster.example.com. 1 7200 3600 1209600 300", want: "ns1.example.com hostmaster.example.com 1 7200 3600 1209600 300"},
		{name: "soa primary only", t: cof.TypeSOA, in: "ns1.example.com.", err: errPartial},
		{name: "soa serial overflow", t: cof.TypeSOA, in: "a. b. 4294967296 1 1 1 1", err: ErrBadRData},
		{name: "txt quoted", t: cof.TypeTXT, in: `"v=spf1 -all"`, want: `"v=spf1 -all"`},
		{name: "txt two strings", t: cof.TypeTXT, in: `"a b"   "c"`, want: `"a b" "c"`},
		{name: "txt unquoted", t: cof.TypeTXT, in: `hello world`, want: `"hello" "world"`},
		{name: "txt escapes", t: cof.TypeTXT, in: `"q\"\\\065\010"`, want: `"q\"\\A\010"`},
		{name: "txt utf8", t: cof.TypeTXT, in: `"é"`, want: `"\195\169"`},
		{name: "txt unterminated", t: cof.TypeTXT, in: `"abc`, err: ErrBadRData},
		{name: "txt bad escape", t: cof.TypeTXT, in: `"\999"`, err: ErrBadRData},
		{name: "spf", t: 99, in: `"v=spf1 -all"`, want: `"v=spf1 -all"`},
		{name: "opaque", t: 65, in: "1 . alpn=h2", want: "1 . alpn=h2"},
		{name: "opaque control", t: 65, in: "1 .\x01", err: ErrBadRData},
		{name: "opaque bad utf8", t: 52, in: "3 1 1 \xff", err: ErrBadRData},
		{name: "opt", t: 41, in: "whatever", err: errUnmapped},
		{name: "any", t: 255, in: "whatever", err: errUnmapped},
		{name: "empty", t: cof.TypeA, in: "  ", err: ErrBadRData},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, _, err := appendRData([]byte("x"), tt.t, []byte(tt.in))
			if tt.err != nil {
				if !errors.Is(err, tt.err) || string(got) != "x" {
					t.Fatalf("appendRData(%q) = %q, %v; want %v and dst unchanged", tt.in, got, err, tt.err)
				}
				return
			}
			if err != nil || string(got) != "x"+tt.want {
				t.Fatalf("appendRData(%q) = %q, %v; want %q", tt.in, got[1:], err, tt.want)
			}
		})
	}
}

func TestParseType(t *testing.T) {
	for in, want := range map[string]cof.Type{"A": 1, "aaaa": 28, "TYPE65": 65, "65": 65, "0": 0, "65536": 0, "": 0, "BOGUS": 0} {
		got, ok := parseType([]byte(in))
		if got != want || ok != (want != 0) {
			t.Errorf("parseType(%q) = %d, %v; want %d", in, got, ok, want)
		}
	}
}

func TestParseTimestamp(t *testing.T) {
	cet := time.FixedZone("CET", 3600)
	for _, tt := range []struct {
		in   string
		loc  *time.Location
		want int64 // -1: error
	}{
		{in: "2023-11-14T22:13:20Z", want: 1700000000},
		{in: "2023-11-14T23:13:20.118231+0100", want: 1700000000},
		{in: "2023-11-14T23:13:20.118231+01:00", want: 1700000000},
		{in: "2023-11-14T21:13:20-01", want: 1700000000},
		{in: "2023-11-14 22:13:20.118231 +0000 UTC", want: 1700000000},
		{in: "2023-11-14 22:13:20.118231 +0000 UTC m=+0.000123", want: 1700000000},
		{in: "2023-11-14 22:13:20.5", want: 1700000000},
		{in: "2023-11-14 23:13:20", loc: cet, want: 1700000000},
		{in: "2024-02-29 00:00:00", want: 1709164800},
		{in: "2023-02-29 00:00:00", want: -1},
		{in: "2023-11-14T22:13:20.Z", want: -1},
		{in: "2023-11-14T22:13:20+2", want: -1},
		{in: "1969-12-31T23:59:59Z", want: -1},
		{in: "2023-11-14", want: -1},
		{in: "2023/11/14 22:13:20", want: -1},
	} {
		got, reason := parseTimestamp([]byte(tt.in), tt.loc)
		if tt.want < 0 {
			if reason == "" {
				t.Errorf("parseTimestamp(%q) = %d, want an error", tt.in, got)
			}
			continue
		}
		if reason != "" || got != tt.want {
			t.Errorf("parseTimestamp(%q) = %d, %q; want %d", tt.in, got, reason, tt.want)
		}
	}
}

func TestEpochSeconds(t *testing.T) {
	for in, want := range map[string]int64{"1700000000": 1700000000, "1700000000.999999": 1700000000, "0.5": 0,
		"-1": -1, "1e9": -1, "1700000000.": -1, "": -1, "253402300800": -1, "1.2.3": -1} {
		got, reason := epochSeconds([]byte(in))
		if (reason != "") != (want < 0) || (want >= 0 && got != want) {
			t.Errorf("epochSeconds(%q) = %d, %q; want %d", in, got, reason, want)
		}
	}
}

func TestTXTForms(t *testing.T) {
	if got := string(appendTXTRaw(nil, []byte(`say "hi"`+"\x00"))); got != `"say \"hi\"\000"` {
		t.Errorf("raw: %s", got)
	}
	long := make([]byte, 300)
	for i := range long {
		long[i] = 'a'
	}
	if got := appendTXTRaw(nil, long); len(got) != 300+5 { // two strings: 4 quotes and a space
		t.Errorf("raw of 300 bytes: %d bytes", len(got))
	}
	wire := []byte("\x02ab\x00\x01c")
	if !isWireStrings(wire) || string(appendTXTWire(nil, wire)) != `"ab" "" "c"` {
		t.Errorf("wire: %s", appendTXTWire(nil, wire))
	}
	if isWireStrings([]byte("\x05ab")) || isWireStrings(nil) {
		t.Error("short wire form accepted")
	}
	got, err := appendZeekTXT(nil, []byte("5 a TXT TXT 2 b,"))
	if err != nil || string(got) != `"a TXT" "b,"` {
		t.Errorf("zeek: %s %v", got, err)
	}
	for _, bad := range []string{"5 abc", "x abc", "1 a TXT", "1 ab", "300 a"} {
		if _, err := appendZeekTXT(nil, []byte(bad)); err == nil {
			t.Errorf("zeek %q accepted", bad)
		}
	}
}

func TestDaysSinceEpoch(t *testing.T) {
	for d := time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC); d.Year() < 10000; d = d.AddDate(0, 0, 13) {
		if got, want := daysSinceEpoch(int64(d.Year()), int64(d.Month()), int64(d.Day()))*86400, d.Unix(); got != want {
			t.Fatalf("%s: %d, want %d", d, got, want)
		}
	}
}
