package logformat

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cofswitch/cofswitch/cof"
)

// lines parses lines with a new parser and returns the records as COF
// lines, and the errors.
func lines(t *testing.T, format string, opts []Option, in ...string) (recs []string, errs []error) {
	t.Helper()
	p, err := ByName(format, opts...)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range in {
		if err := p.Parse([]byte(l), func(r *cof.Record) { recs = append(recs, string(r.AppendJSON(nil))) }); err != nil {
			errs = append(errs, err)
		}
	}
	return recs, errs
}

func rec(name, typ, rdata string, at int64, count ...int) string {
	r := cof.Record{RRName: name, RRType: mustType(typ), RData: []string{rdata}, TimeFirst: at, TimeLast: at}
	if len(count) > 0 {
		r.Count, r.Has = int64(count[0]), cof.HasCount
	}
	return string(r.AppendJSON(nil))
}

func mustType(s string) cof.Type {
	t, ok := cof.ParseType(s)
	if !ok {
		panic(s)
	}
	return t
}

func TestPassiveDNSLayouts(t *testing.T) {
	for _, tt := range []struct {
		name string
		opts []Option
		line string
		want string
	}{
		{name: "default", line: "1700000000.5||c||s||IN||a.example.||A||192.0.2.1||60||3",
			want: rec("a.example", "A", "192.0.2.1", 1700000000, 3)},
		{name: "letters in any order print in passivedns's order", opts: []Option{WithFields("nATQS")},
			line: "1700000000||a.example.||A||192.0.2.1||3", want: rec("a.example", "A", "192.0.2.1", 1700000000, 3)},
		{name: "seconds only refuse a fraction", opts: []Option{WithFields("SQTA")},
			line: "1700000000.5||a.example.||A||192.0.2.1"},
		{name: "H in a time zone", opts: []Option{WithFields("HQTA"), WithLocation(time.FixedZone("X", -3600))},
			line: "2023-11-14 21:13:20.000001||a.example.||A||192.0.2.1", want: rec("a.example", "A", "192.0.2.1", 1700000000)},
		{name: "every column", opts: []Option{WithFields("SMhcwsWpCQLTAltn")},
			line: "1700000000.000001||host||10.0.0.1||00:11:22:33:44:55||192.0.2.53||66:77:88:99:aa:bb||udp||IN||a.example.||10||A||192.0.2.1||9||60||2",
			want: rec("a.example", "A", "192.0.2.1", 1700000000, 2)},
		{name: "tab delimiter", opts: []Option{WithDelimiter("\t")},
			line: "1700000000.5\tc\ts\tIN\ta.example.\tA\t192.0.2.1\t60\t3", want: rec("a.example", "A", "192.0.2.1", 1700000000, 3)},
		{name: "delimiter inside the answer", opts: []Option{WithDelimiter(" ")},
			line: `1700000000.5 c s IN t.example. TXT "a b" "c" 60 1`, want: rec("t.example", "TXT", `"a b" "c"`, 1700000000, 1)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			recs, errs := lines(t, "passivedns", tt.opts, tt.line)
			if tt.want == "" {
				if len(errs) != 1 || !errors.Is(errs[0], ErrBadTime) {
					t.Fatalf("got %v, %v; want ErrBadTime", recs, errs)
				}
				return
			}
			if len(errs) > 0 || len(recs) != 1 || recs[0] != tt.want {
				t.Fatalf("got %v, %v\nwant %s", recs, errs, tt.want)
			}
		})
	}
}

func TestZeekHeaders(t *testing.T) {
	// A log with its own separators, then a rotation to the defaults with
	// fewer columns.
	recs, errs := lines(t, "zeek", nil,
		`#separator \x7c`,
		"#set_separator|;",
		"#empty_field|EMPTY",
		"#unset_field|NONE",
		"#fields|ts|query|qtype|rcode|answers",
		"1700000000.1|a.example|1|0|a.cdn.example;192.0.2.1",
		"1700000000.2|b.example|1|0|EMPTY",
		"1700000000.3|c.example|1|NONE|NONE",
		`#separator \x09`,
		"#fields\tts\tquery\tqtype\trcode\tanswers",
		"1700000000.4\td.example\t28\t0\t2001:db8::1,2001:db8::2",
		"1700000000.5\te.example\t16\t0\tTXT 3 a\\x2cb",
	)
	want := []string{
		rec("a.example", "CNAME", "a.cdn.example", 1700000000),
		rec("a.cdn.example", "A", "192.0.2.1", 1700000000),
		rec("d.example", "AAAA", "2001:db8::1", 1700000000),
		rec("d.example", "AAAA", "2001:db8::2", 1700000000),
		rec("e.example", "TXT", `"a,b"`, 1700000000),
	}
	if len(errs) > 0 || strings.Join(recs, "\n") != strings.Join(want, "\n") {
		t.Fatalf("got\n%s\n%v\nwant\n%s", strings.Join(recs, "\n"), errs, strings.Join(want, "\n"))
	}
}

func TestZeekNameTypes(t *testing.T) {
	for _, tt := range []struct {
		qtype   cof.Type
		answers string
		want    []string
	}{
		{qtype: 1, answers: "a.cdn.example,b.cdn.example,192.0.2.1", want: []string{
			rec("q.example", "CNAME", "a.cdn.example", 1), rec("a.cdn.example", "CNAME", "b.cdn.example", 1), rec("b.cdn.example", "A", "192.0.2.1", 1)}},
		{qtype: 2, answers: "ns1.example,ns2.example", want: []string{rec("q.example", "NS", "ns1.example", 1), rec("q.example", "NS", "ns2.example", 1)}},
		{qtype: 12, answers: "host.example", want: []string{rec("q.example", "PTR", "host.example", 1)}},
		{qtype: 15, answers: "mx.example"},
		{qtype: 33, answers: "sip.example"},
		{qtype: 6, answers: "ns1.example"},
		{qtype: 255, answers: "ns1.example,192.0.2.1", want: []string{rec("q.example", "A", "192.0.2.1", 1)}},
		{qtype: 0, answers: "x.example"},
		{qtype: 16, answers: "alias.example,TXT 1 x", want: []string{rec("q.example", "CNAME", "alias.example", 1), rec("alias.example", "TXT", `"x"`, 1)}},
		{qtype: 48, answers: "DNSKEY 8,RRSIG 48 example,<unknown type=99>,NSEC3,SSHFP: 00ff,LOC: 1 2 3"},
	} {
		line := "1.0\tq.example\t" + itoa(int(tt.qtype)) + "\t0\t" + tt.answers
		if tt.qtype == 0 {
			line = "1.0\tq.example\t-\t0\t" + tt.answers
		}
		recs, errs := lines(t, "zeek", nil, "#fields\tts\tquery\tqtype\trcode\tanswers", line)
		if len(errs) > 0 || strings.Join(recs, "\n") != strings.Join(tt.want, "\n") {
			t.Errorf("qtype %d, %s:\ngot  %v %v\nwant %v", tt.qtype, tt.answers, recs, errs, tt.want)
		}
	}
}

func itoa(n int) string { return string(appendInt(nil, n)) }

func appendInt(b []byte, n int) []byte {
	if n >= 10 {
		b = appendInt(b, n/10)
	}
	return append(b, byte('0'+n%10))
}

func TestEVEOrders(t *testing.T) {
	want := []string{rec("o.example", "A", "192.0.2.1", 1700000000)}
	for name, line := range map[string]string{
		"suricata's order": `{"timestamp":"2023-11-14T22:13:20Z","event_type":"dns","dns":{"type":"answer","rcode":"NOERROR","answers":[{"rrname":"o.example","rrtype":"A","rdata":"192.0.2.1"}]}}`,
		"dns first":        `{"dns":{"type":"answer","rcode":"NOERROR","answers":[{"rrname":"o.example","rrtype":"A","rdata":"192.0.2.1"}]},"event_type":"dns","timestamp":"2023-11-14T22:13:20Z"}`,
		"answers first":    `{"timestamp":"2023-11-14T22:13:20Z","event_type":"dns","dns":{"answers":[{"rrname":"o.example","rrtype":"A","rdata":"192.0.2.1"}],"rcode":"NOERROR","type":"answer"}}`,
		"version 1":        `{"timestamp":"2023-11-14T22:13:20Z","event_type":"dns","dns":{"type":"answer","id":1,"rrname":"o.example","rrtype":"A","ttl":5,"rdata":"192.0.2.1","rcode":"NOERROR"}}`,
		"no rcode":         `{"timestamp":"2023-11-14T22:13:20Z","event_type":"dns","dns":{"type":"answer","id":1,"rrname":"o.example","rrtype":"A","ttl":5,"rdata":"192.0.2.1"}}`,
		"version 3":        `{"timestamp":"2023-11-14T22:13:20Z","event_type":"dns","dns":{"version":3,"type":"response","rcode":"NOERROR","queries":[{"rrname":"o.example","rrtype":"A"}],"grouped":{"A":["192.0.2.1"]}}}`,
		"pretty":           "{ \"timestamp\" : \"2023-11-14T22:13:20Z\" ,\n \"event_type\" : \"dns\", \"dns\" : { \"type\" : \"answer\" , \"rcode\" : \"NOERROR\", \"rrname\":\"o.example\", \"grouped\" : { \"A\" : [ \"192.0.2.1\" ] } } }",
	} {
		recs, errs := lines(t, "eve", nil, line)
		if len(errs) > 0 || strings.Join(recs, "\n") != strings.Join(want, "\n") {
			t.Errorf("%s: got %v %v", name, recs, errs)
		}
	}
	// Skips decided after the answers were seen still skip.
	p, _ := ByName("eve")
	n := 0
	for _, l := range []string{
		`{"timestamp":"2023-11-14T22:13:20Z","event_type":"dns","dns":{"answers":[{"rrname":"o.example","rrtype":"A","rdata":"192.0.2.1"}],"rcode":"SERVFAIL","type":"answer"}}`,
		`{"dns":{"type":"answer","rcode":"NOERROR","answers":[{"rrname":"o.example","rrtype":"A","rdata":"192.0.2.1"}]},"event_type":"alert","timestamp":"2023-11-14T22:13:20Z"}`,
		`{"timestamp":"2023-11-14T22:13:20Z","event_type":"dns","dns":{"type":"query","rrname":"o.example","rrtype":"A"}}`,
	} {
		if err := p.Parse([]byte(l), func(*cof.Record) { n++ }); err != nil {
			t.Error(err)
		}
	}
	if st := p.Stats(); n != 0 || st.Skipped[SkipRcode] != 1 || st.Skipped[SkipNotAnswer] != 2 {
		t.Errorf("%d records, stats %+v", n, st)
	}
}

func TestGoPassiveDNSChains(t *testing.T) {
	l := func(id, q, a, atype string) string {
		return `{"query_id":` + id + `,"rcode":0,"q":"` + q + `","qtype":"A","a":"` + a + `","atype":"` + atype +
			`","src":"10.0.0.1","dst":"192.0.2.53","sport":"4000` + id + `","tstamp":"2023-11-14 22:13:20 +0000 UTC"}`
	}
	// Two responses whose lines interleave.
	recs, errs := lines(t, "gopassivedns", nil,
		l("1", "a.example", "a.cdn.example", "CNAME"),
		l("2", "b.example", "b.cdn.example", "CNAME"),
		l("1", "a.example", "192.0.2.1", "A"),
		l("2", "b.example", "b2.cdn.example", "CNAME"),
		l("2", "b.example", "192.0.2.2", "A"),
		l("3", "a.example", "192.0.2.3", "A"), // another response: the chain starts again
	)
	want := []string{
		rec("a.example", "CNAME", "a.cdn.example", 1700000000),
		rec("b.example", "CNAME", "b.cdn.example", 1700000000),
		rec("a.cdn.example", "A", "192.0.2.1", 1700000000),
		rec("b.cdn.example", "CNAME", "b2.cdn.example", 1700000000),
		rec("b2.cdn.example", "A", "192.0.2.2", 1700000000),
		rec("a.example", "A", "192.0.2.3", 1700000000),
	}
	if len(errs) > 0 || strings.Join(recs, "\n") != strings.Join(want, "\n") {
		t.Fatalf("got\n%s\n%v\nwant\n%s", strings.Join(recs, "\n"), errs, strings.Join(want, "\n"))
	}
}

func TestParseAll(t *testing.T) {
	long := strings.Repeat("x", MaxLineBytes+10)
	in := "1700000000.5||c||s||IN||a.example.||A||192.0.2.1||60||3\r\n" + long + "\n" +
		"garbage\n1700000001.5||c||s||IN||b.example.||A||192.0.2.2||60||1" // no final newline
	p, _ := ByName("passivedns")
	var recs []string
	var errs []*Error
	err := ParseAll(strings.NewReader(in), p, func(r *cof.Record) { recs = append(recs, r.RRName) }, func(err error) {
		var e *Error
		errors.As(err, &e)
		errs = append(errs, e)
	})
	if err != nil || strings.Join(recs, " ") != "a.example b.example" {
		t.Fatalf("records %v, err %v", recs, err)
	}
	if len(errs) != 2 || errs[0].Line != 2 || !errors.Is(errs[0], ErrLineTooLong) || errs[1].Line != 3 || !errors.Is(errs[1], ErrSyntax) {
		t.Fatalf("errors %v", errs)
	}
	if st := p.Stats(); st.Lines != 4 || st.Errors != 2 || st.Records != 2 {
		t.Errorf("stats %+v", st)
	}
}

func TestJSONScanner(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want string // the decoded string, or "!" for an error
	}{
		{`"plain"`, "plain"},
		{`"a\"b\\c\/d\n\t\u0041\u00e9"`, "a\"b\\c/d\n\tAé"},
		{`"\ud83d\ude00"`, "😀"},
		{`"\ud83d x"`, "\ufffd x"},
		{`"\ud83d\u0041"`, "\ufffdA"},
		{`"\x"`, "!"},
		{`"\u12"`, "!"},
		{"\"a\x01\"", "!"},
		{`"open`, "!"},
		{`x`, "!"},
	} {
		var s jscan
		s.reset([]byte(tt.in))
		got := s.str()
		s.end()
		if (tt.want == "!") != s.bad || (!s.bad && string(got) != tt.want) {
			t.Errorf("str(%s) = %q, bad %v %s", tt.in, got, s.bad, s.reason)
		}
	}
	for in, ok := range map[string]bool{
		`{"a":[1,2.5,-0,1e5,{"b":null}],"c":true,"d":"\""}`: true,
		`{"a":1,}`: false, `[1 2]`: false, `{"a" 1}`: false, `{"a":01}`: false, `{"a":1} x`: false,
		`{"a":tru}`: false, `{"a":-}`: false, `{"a":1.}`: false, `{"a":"\"}`: false, `{"a":[,1]}`: false,
		strings.Repeat("[", 70) + strings.Repeat("]", 70): false,
	} {
		var s jscan
		s.reset([]byte(in))
		s.skip()
		s.end()
		if s.bad == ok {
			t.Errorf("skip(%s): bad %v (%s)", in, s.bad, s.reason)
		}
	}
}

func TestBatchEmitsOnce(t *testing.T) {
	var b batch
	o, _ := b.name([]byte("a.example"))
	r, addr, _ := b.rdata(cof.TypeA, []byte("192.0.2.1"))
	b.add(pending{owner: o, rdata: r, addr: addr, rrtype: cof.TypeA, time: 5})
	var out bytes.Buffer
	if n := b.emit(func(r *cof.Record) { out.Write(r.AppendJSON(nil)) }); n != 1 || b.emit(func(*cof.Record) { t.Error("emitted twice") }) != 0 {
		t.Fatalf("emit counts wrong")
	}
	if out.String() != rec("a.example", "A", "192.0.2.1", 5) {
		t.Errorf("got %s", out.String())
	}
}
