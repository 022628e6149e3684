package logformat

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cofswitch/cofswitch/cof"
)

func TestByName(t *testing.T) {
	for _, tt := range []struct {
		name   string
		format string
		opts   []Option
		want   error
	}{
		{name: "every format", format: "eve"},
		{name: "unknown", format: "bro", want: ErrUnknownFormat},
		{name: "option of another format", format: "zeek", opts: []Option{WithFields("SQTA")}, want: ErrInvalidOption},
		{name: "location for eve", format: "eve", opts: []Option{WithLocation(time.UTC)}, want: ErrInvalidOption},
		{name: "unknown letter", format: "passivedns", opts: []Option{WithFields("SQTAx")}, want: ErrInvalidOption},
		{name: "no answer column", format: "passivedns", opts: []Option{WithFields("SQT")}, want: ErrInvalidOption},
		{name: "microseconds only", format: "passivedns", opts: []Option{WithFields("MQTA")}, want: ErrInvalidOption},
		{name: "empty delimiter", format: "passivedns", opts: []Option{WithDelimiter("")}, want: ErrInvalidOption},
		{name: "nil location", format: "passivedns", opts: []Option{WithLocation(nil)}, want: ErrInvalidOption},
		{name: "error responses for all", format: "gopassivedns", opts: []Option{WithErrorResponses()}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p, err := ByName(tt.format, tt.opts...)
			if !errors.Is(err, tt.want) || (err == nil) != (tt.want == nil) {
				t.Fatalf("ByName(%q) error = %v, want %v", tt.format, err, tt.want)
			}
			if err == nil && p.Format() != tt.format {
				t.Errorf("Format() = %q", p.Format())
			}
		})
	}
	if got := strings.Join(Names(), " "); got != "cof eve gopassivedns passivedns passivedns-json zeek zeek-json" {
		t.Errorf("Names() = %s", got)
	}
}

// TestLineErrors checks one malformed line per format and kind: the
// sentinel, the field, and that nothing is emitted but what is good.
func TestLineErrors(t *testing.T) {
	for _, tt := range []struct {
		name, format, line string
		want               error
		field              string
		records            int
	}{
		{"pdns fields", "passivedns", "1700000000.1||a||b||IN||x.example.||A", ErrSyntax, "", 0},
		{"pdns time", "passivedns", "17e8||a||b||IN||x.example.||A||192.0.2.1||1||1", ErrBadTime, "timestamp", 0},
		{"pdns type", "passivedns", "1700000000.1||a||b||IN||x.example.||BOGUS||x||1||1", ErrBadRRType, "type", 0},
		{"pdns aaaa", "passivedns", "1700000000.1||a||b||IN||x.example.||AAAA||192.0.2.1||1||1", ErrBadRData, "answer", 0},
		{"pdns count", "passivedns", "1700000000.1||a||b||IN||x.example.||A||192.0.2.1||1||-1", ErrBadCount, "count", 0},
		{"pdns name", "passivedns", "1700000000.1||a||b||IN||" + strings.Repeat("a", 64) + ".example.||A||192.0.2.1||1||1", ErrBadName, "query", 0},
		{"pdns mx junk", "passivedns", "1700000000.1||a||b||IN||x.example.||MX||10 mx.example. extra||1||1", ErrBadRData, "answer", 0},
		{"pdns txt", "passivedns", `1700000000.1||a||b||IN||x.example.||TXT||"open||1||1`, ErrBadRData, "answer", 0},
		{"pdns json missing", "passivedns-json", `{"timestamp_s":1,"query":"x.example.","type":"A"}`, ErrMissingField, "answer", 0},
		{"pdns json type", "passivedns-json", `{"timestamp_s":1,"query":"x.example.","type":7,"answer":"a"}`, ErrSyntax, "", 0},
		{"gopdns time", "gopassivedns", `{"q":"x.example","a":"192.0.2.1","atype":"A","tstamp":"2023-13-01 00:00:00 +0000 UTC"}`, ErrBadTime, "tstamp", 0},
		{"eve v4 in answers[2]", "eve", `{"timestamp":"2023-11-14T22:13:29Z","event_type":"dns","dns":{"version":2,"type":"answer","rcode":"NOERROR","rrname":"m.example","rrtype":"A","answers":[{"rrname":"m.example","rrtype":"A","rdata":"192.0.2.1"},{"rrname":"m.example","rrtype":"A","rdata":"192.0.2.2"},{"rrname":"m.example","rrtype":"A","rdata":"2001:db8::1"}]}}`, ErrBadRData, "dns.answers[2].rdata", 2},
		{"eve missing rrtype", "eve", `{"timestamp":"2023-11-14T22:13:29Z","event_type":"dns","dns":{"type":"answer","rcode":"NOERROR","answers":[{"rrname":"m.example","rdata":"192.0.2.1"}]}}`, ErrMissingField, "dns.answers[0].rrtype", 0},
		{"eve bad json", "eve", `{"timestamp":"2023-11-14T22:13:29Z","event_type":"dns","dns":{"type":"answer",}}`, ErrSyntax, "", 0},
		{"eve grouped without owner", "eve", `{"timestamp":"2023-11-14T22:13:29Z","event_type":"dns","dns":{"version":2,"type":"answer","rcode":"NOERROR","grouped":{"A":["192.0.2.1"]}}}`, ErrMissingField, "dns.rrname", 0},
		{"eve grouped bad", "eve", `{"timestamp":"2023-11-14T22:13:29Z","event_type":"dns","dns":{"version":2,"type":"answer","rcode":"NOERROR","rrname":"g.example","grouped":{"A":["192.0.2.1","x"]}}}`, ErrBadRData, "dns.grouped.A[1]", 1},
		{"zeek time", "zeek", "x\tC\t10.0.0.1\t1\t192.0.2.53\t53\tudp\t1\t-\tq.example\t1\tC_INTERNET\t1\tA\t0\tNOERROR\tF\tF\tT\tT\t0\t192.0.2.1\t1.0\tF", ErrBadTime, "ts", 0},
		{"zeek qtype", "zeek", "1.0\tC\t10.0.0.1\t1\t192.0.2.53\t53\tudp\t1\t-\tq.example\t1\tC_INTERNET\tA\tA\t0\tNOERROR\tF\tF\tT\tT\t0\t192.0.2.1\t1.0\tF", ErrBadRRType, "qtype", 0},
		{"zeek too many", "zeek", "1.0\tC\t10.0.0.1\t1\t192.0.2.53\t53\tudp\t1\t-\tq.example\t1\tC_INTERNET\t1\tA\t0\tNOERROR\tF\tF\tT\tT\t0\t192.0.2.1\t1.0\tF\textra", ErrSyntax, "", 0},
		{"zeek json answer", "zeek-json", `{"ts":1.5,"query":"q.example","qtype":28,"rcode":0,"answers":["2001:db8::1","2001:db8::zz"]}`, ErrBadRData, "answers[1]", 1},
		{"cof", "cof", `{"rrname":"x","rrtype":"A","rdata":"1","time_first":1,"time_last":1}`, ErrBadRData, "rdata", 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p, err := ByName(tt.format)
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			err = p.Parse([]byte(tt.line), func(*cof.Record) { n++ })
			var e *Error
			if !errors.Is(err, tt.want) || !errors.As(err, &e) {
				t.Fatalf("error = %v, want %v", err, tt.want)
			}
			if e.Field != tt.field || n != tt.records {
				t.Errorf("field %q and %d records, want %q and %d (%v)", e.Field, n, tt.field, tt.records, err)
			}
			if st := p.Stats(); st.Errors != 1 || st.Lines != 1 || st.Records != int64(n) {
				t.Errorf("stats %+v", st)
			}
		})
	}
}

func TestErrorText(t *testing.T) {
	e := &Error{Format: "suricata eve", Line: 12, Field: "dns.answers[2].rdata", Reason: `"x" is not an IPv4 address`, Err: ErrBadRData}
	if got, want := e.Error(), `suricata eve: line 12: field "dns.answers[2].rdata": "x" is not an IPv4 address`; got != want {
		t.Errorf("Error() = %s\nwant      %s", got, want)
	}
	p, _ := ByName("cof")
	err := p.Parse([]byte(`{"rrname":"x","rrtype":"A","rdata":"1","time_first":1,"time_last":1}`), func(*cof.Record) {})
	if !errors.Is(err, cof.ErrBadRData) || !errors.Is(err, ErrBadRData) {
		t.Errorf("cof error %v matches neither sentinel", err)
	}
}

func TestSkipNames(t *testing.T) {
	for s := Skip(0); s < NumSkips; s++ {
		if s.String() == "unknown" || s.String() == "" {
			t.Errorf("Skip(%d) has no name", s)
		}
	}
	if Skip(NumSkips).String() != "unknown" {
		t.Error("out of range Skip has a name")
	}
}

// TestRecordsStayValid checks the emit contract: a copy of the record
// kept by emit is not changed by the lines that follow.
func TestRecordsStayValid(t *testing.T) {
	p, _ := ByName("zeek-json")
	var kept []cof.Record
	keep := func(r *cof.Record) { kept = append(kept, *r) }
	for i := 0; i < 600; i++ { // past a slab of RData slices
		line := `{"ts":1.5,"query":"q` + strings.Repeat("x", i%7) + `.example","qtype":1,"rcode":0,"answers":["192.0.2.1"]}`
		if err := p.Parse([]byte(line), keep); err != nil {
			t.Fatal(err)
		}
	}
	for i, r := range kept {
		if want := "q" + strings.Repeat("x", i%7) + ".example"; r.RRName != want || r.RData[0] != "192.0.2.1" || r.Addrs[0].String() != "192.0.2.1" {
			t.Fatalf("record %d changed: %+v", i, r)
		}
	}
}
