package dnstap

import (
	"bytes"
	"errors"
	"github.com/cofswitch/cofswitch/sensor/dnstap/dnstaptest"
	"strings"
	"testing"

	tap "github.com/dnstap/golang-dnstap"
	"github.com/miekg/dns"

	"github.com/cofswitch/cofswitch/cof"
)

const resolverResponse = tap.Message_RESOLVER_RESPONSE

// convertAll converts m with opts and returns copies of the records, the
// error and the Stats.
func convertAll(t *testing.T, m *tap.Message, opts ...Option) ([]cof.Record, error, Snapshot) {
	t.Helper()
	c, err := NewConverter(append([]Option{quiet}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	var out []cof.Record
	err = c.ConvertFrame(frame(t, m), func(r *cof.Record) { out = append(out, *r) })
	return out, err, c.Stats().Snapshot()
}

// complete fills the fields every record of a test message shares.
func complete(r cof.Record) cof.Record {
	if r.TimeFirst == 0 {
		r.TimeFirst, r.TimeLast = testSec, testSec
		r.TimeFirstMS, r.TimeLastMS = testMS, testMS
		r.Has |= cof.HasTimeFirstMS | cof.HasTimeLastMS
	}
	r.Count, r.Has = 1, r.Has|cof.HasCount
	return r
}

func TestConvert(t *testing.T) {
	tests := []struct {
		name string
		msg  *tap.Message
		opts []Option
		want []cof.Record
	}{{
		name: "A RRset, two RRs, sorted",
		msg: msg(resolverResponse, wire(t, "www.example.com.", dns.TypeA, []string{
			"www.example.com. 300 IN A 192.0.2.20", "www.example.com. 300 IN A 192.0.2.1"}, nil, nil), "example.com"),
		want: []cof.Record{{RRName: "www.example.com", RRType: cof.TypeA, RData: []string{"192.0.2.1", "192.0.2.20"}, Bailiwick: "example.com"}},
	}, {
		name: "AAAA",
		msg: msg(tap.Message_AUTH_RESPONSE, wire(t, "v6.example.com.", dns.TypeAAAA, []string{
			"v6.example.com. 60 IN AAAA 2001:DB8:0:0:0:0:0:1"}, nil, nil), ""),
		want: []cof.Record{{RRName: "v6.example.com", RRType: cof.TypeAAAA, RData: []string{"2001:db8::1"}}},
	}, {
		name: "owner in upper case with trailing dot",
		msg: msg(resolverResponse, wire(t, "WWW.Example.COM.", dns.TypeA, []string{
			"WWW.Example.COM. 300 IN A 192.0.2.1"}, nil, nil), "Example.COM."),
		want: []cof.Record{{RRName: "www.example.com", RRType: cof.TypeA, RData: []string{"192.0.2.1"}, Bailiwick: "example.com"}},
	}, {
		name: "CNAME chain: one record per link, then the addresses",
		msg: msg(resolverResponse, wire(t, "www.example.com.", dns.TypeA, []string{
			"www.example.com. 300 IN CNAME Edge.Example.NET.",
			"edge.example.net. 300 IN CNAME e1.cdn.example.org.",
			"e1.cdn.example.org. 20 IN A 198.51.100.7",
			"e1.cdn.example.org. 20 IN A 198.51.100.8"}, nil, nil), ""),
		want: []cof.Record{
			{RRName: "www.example.com", RRType: cof.TypeCNAME, RData: []string{"edge.example.net"}},
			{RRName: "edge.example.net", RRType: cof.TypeCNAME, RData: []string{"e1.cdn.example.org"}},
			{RRName: "e1.cdn.example.org", RRType: cof.TypeA, RData: []string{"198.51.100.7", "198.51.100.8"}},
		},
	}, {
		name: "CNAME chain out of the zone's bailiwick",
		msg: msg(resolverResponse, wire(t, "www.example.com.", dns.TypeA, []string{
			"www.example.com. 300 IN CNAME edge.example.net.",
			"edge.example.net. 300 IN A 198.51.100.7"}, nil, nil), "example.com."),
		want: []cof.Record{{RRName: "www.example.com", RRType: cof.TypeCNAME, RData: []string{"edge.example.net"}, Bailiwick: "example.com"}},
	}, {
		name: "MX",
		msg: msg(resolverResponse, wire(t, "example.com.", dns.TypeMX, []string{
			"example.com. 300 IN MX 10 MX.Example.COM.", "example.com. 300 IN MX 20 mx2.example.com."}, nil, nil), ""),
		want: []cof.Record{{RRName: "example.com", RRType: cof.TypeMX, RData: []string{"10 mx.example.com", "20 mx2.example.com"}}},
	}, {
		name: "TXT: quoted strings, escapes",
		msg: msg(resolverResponse, wire(t, "example.com.", dns.TypeTXT, []string{
			`example.com. 300 IN TXT "v=spf1 -all"`,
			`example.com. 300 IN TXT "part one" "say \"hi\"\\" "caf\195\169"`}, nil, nil), ""),
		want: []cof.Record{{RRName: "example.com", RRType: cof.TypeTXT, RData: []string{
			`"part one" "say \"hi\"\\" "caf\195\169"`, `"v=spf1 -all"`}}},
	}, {
		name: "SRV, SOA and a generic type (CAA) in one answer",
		msg: msg(resolverResponse, wire(t, "example.com.", dns.TypeANY, []string{
			"_sip._tcp.example.com. 60 IN SRV 10 60 5060 SIP.example.com.",
			"example.com. 60 IN SOA NS1.example.com. Hostmaster.example.com. 2024010101 7200 3600 1209600 300",
			`example.com. 60 IN CAA 0 issue "letsencrypt.org"`}, nil, nil), ""),
		want: []cof.Record{
			{RRName: "_sip._tcp.example.com", RRType: cof.TypeSRV, RData: []string{"10 60 5060 sip.example.com"}},
			{RRName: "example.com", RRType: cof.TypeSOA, RData: []string{"ns1.example.com hostmaster.example.com 2024010101 7200 3600 1209600 300"}},
			{RRName: "example.com", RRType: cof.Type(dns.TypeCAA), RData: []string{`0 issue "letsencrypt.org"`}},
		},
	}, {
		name: "HTTPS: names inside generic rdata lowered, no trailing dot",
		msg: msg(resolverResponse, wire(t, "example.com.", dns.TypeHTTPS, []string{
			`example.com. 60 IN HTTPS 1 Svc.Example.NET. alpn="h2,h3"`}, nil, nil), ""),
		want: []cof.Record{{RRName: "example.com", RRType: cof.Type(dns.TypeHTTPS), RData: []string{`1 svc.example.net alpn="h2,h3"`}}},
	}, {
		name: "unknown type in RFC 3597 form; odd octets escaped as cof does",
		msg: msg(resolverResponse, wire(t, `a\032b\.c.example.com.`, 65280, []string{
			`a\032b\.c.example.com. 60 IN TYPE65280 \# 2 abcd`}, nil, nil), ""),
		want: []cof.Record{{RRName: `a\032b\.c.example.com`, RRType: 65280, RData: []string{`\# 2 abcd`}}},
	}, {
		name: "duplicate RRs dropped",
		msg: msg(resolverResponse, wire(t, "example.com.", dns.TypeA, []string{
			"example.com. 60 IN A 192.0.2.1", "EXAMPLE.com. 60 IN A 192.0.2.1"}, nil, nil), ""),
		want: []cof.Record{{RRName: "example.com", RRType: cof.TypeA, RData: []string{"192.0.2.1"}}},
	}, {
		name: "class CH skipped",
		msg: msg(tap.Message_AUTH_RESPONSE, wire(t, "version.bind.", dns.TypeTXT, []string{
			`version.bind. 0 CH TXT "9.18"`}, nil, nil), ""),
	}, {
		name: "authority and additional ignored by default",
		msg: msg(resolverResponse, wire(t, "www.example.com.", dns.TypeA, nil,
			[]string{"example.com. 86400 IN NS ns1.example.com."},
			[]string{"ns1.example.com. 86400 IN A 192.0.2.53"}), "com."),
	}, {
		name: "referral with WithAuthority and WithAdditional; OPT skipped",
		msg: msg(resolverResponse, wire(t, "www.example.com.", dns.TypeA, nil,
			[]string{"example.com. 86400 IN NS ns1.example.com."},
			[]string{"ns1.example.com. 86400 IN A 192.0.2.53", "ns.elsewhere.net. 86400 IN A 192.0.2.99",
				". 0 CLASS1232 OPT"}), "com."),
		opts: []Option{WithAuthority(), WithAdditional()},
		want: []cof.Record{
			{RRName: "example.com", RRType: cof.TypeNS, RData: []string{"ns1.example.com"}, Bailiwick: "com"},
			{RRName: "ns1.example.com", RRType: cof.TypeA, RData: []string{"192.0.2.53"}, Bailiwick: "com"},
		},
	}, {
		name: "RRSIG skipped by default",
		msg: msg(resolverResponse, wire(t, "example.com.", dns.TypeA, []string{
			"example.com. 60 IN A 192.0.2.1",
			"example.com. 60 IN RRSIG A 13 2 60 20240101000000 20231201000000 12345 example.com. AAAA"}, nil, nil), ""),
		want: []cof.Record{{RRName: "example.com", RRType: cof.TypeA, RData: []string{"192.0.2.1"}}},
	}, {
		name: "RRSIG kept with WithRRSIG",
		msg: msg(resolverResponse, wire(t, "example.com.", dns.TypeA, []string{
			"example.com. 60 IN RRSIG A 13 2 60 20240101000000 20231201000000 12345 Example.COM. AAAA"}, nil, nil), ""),
		opts: []Option{WithRRSIG()},
		want: []cof.Record{{RRName: "example.com", RRType: cof.Type(dns.TypeRRSIG), RData: []string{
			"A 13 2 60 20240101000000 20231201000000 12345 example.com AAAA"}}},
	}, {
		name: "CLIENT_RESPONSE not converted by default",
		msg: msg(tap.Message_CLIENT_RESPONSE, wire(t, "example.com.", dns.TypeA, []string{
			"example.com. 60 IN A 192.0.2.1"}, nil, nil), ""),
	}, {
		name: "CLIENT_RESPONSE with WithClientResponses",
		msg: msg(tap.Message_CLIENT_RESPONSE, wire(t, "example.com.", dns.TypeA, []string{
			"example.com. 60 IN A 192.0.2.1"}, nil, nil), ""),
		opts: []Option{WithClientResponses()},
		want: []cof.Record{{RRName: "example.com", RRType: cof.TypeA, RData: []string{"192.0.2.1"}}},
	}, {
		name: "queries give nothing",
		msg:  msg(tap.Message_CLIENT_QUERY, wire(t, "example.com.", dns.TypeA, nil, nil, nil), ""),
		opts: []Option{WithClientResponses()},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err, _ := convertAll(t, tt.msg, tt.opts...)
			if err != nil {
				t.Fatalf("Convert: %v", err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %d records, want %d: %+v", len(got), len(tt.want), got)
			}
			for i := range got {
				want := complete(tt.want[i])
				if !got[i].Equal(&want) {
					t.Errorf("record %d:\n got  %s\n want %s", i, got[i].AppendJSON(nil), want.AppendJSON(nil))
				}
			}
		})
	}
}

func TestConvertSkips(t *testing.T) {
	nx := new(dns.Msg)
	nx.SetQuestion("nope.example.com.", dns.TypeA)
	nx.Response, nx.Rcode = true, dns.RcodeNameError
	nx.Ns = []dns.RR{dnstaptest.MustRR(t, "example.com. 60 IN SOA ns1.example.com. h.example.com. 1 2 3 4 5")}
	tc := new(dns.Msg)
	tc.SetQuestion("big.example.com.", dns.TypeTXT)
	tc.Response, tc.Truncated = true, true
	tc.Answer = []dns.RR{dnstaptest.MustRR(t, `big.example.com. 60 IN TXT "partial"`)}
	query := new(dns.Msg)
	query.SetQuestion("example.com.", dns.TypeA)
	nodata := new(dns.Msg)
	nodata.SetQuestion("example.com.", dns.TypeAAAA)
	nodata.Response = true
	tests := []struct {
		name   string
		msg    *tap.Message
		reason Reason
	}{
		{name: "NXDOMAIN", msg: msg(resolverResponse, pack(t, nx), ""), reason: SkipRcode},
		{name: "TC bit", msg: msg(resolverResponse, pack(t, tc), ""), reason: SkipTruncated},
		{name: "QR clear", msg: msg(resolverResponse, pack(t, query), ""), reason: SkipNotResponse},
		{name: "NODATA", msg: msg(resolverResponse, pack(t, nodata), ""), reason: SkipEmpty},
		{name: "query type", msg: msg(tap.Message_RESOLVER_QUERY, pack(t, query), ""), reason: SkipQuery},
		{name: "no response message", msg: msg(resolverResponse, nil, ""), reason: SkipNoResponse},
		{name: "TOOL_RESPONSE", msg: msg(tap.Message_TOOL_RESPONSE, pack(t, nodata), ""), reason: SkipType},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err, st := convertAll(t, tt.msg)
			if err != nil || len(got) != 0 {
				t.Fatalf("got %d records, err %v; want none, nil", len(got), err)
			}
			if n := st.SkippedMessages[tt.reason.String()]; n != 1 {
				t.Errorf("skipped %s = %d, want 1 (%+v)", tt.reason, n, st)
			}
		})
	}
	_, _, st := convertAll(t, msg(resolverResponse, pack(t, nx), ""))
	if st.Negative["NXDOMAIN"] != 1 {
		t.Errorf("Negative = %v, want NXDOMAIN 1", st.Negative)
	}
}

func TestConvertMalformed(t *testing.T) {
	full := wire(t, "www.example.com.", dns.TypeA, []string{
		"www.example.com. 300 IN A 192.0.2.1", "www.example.com. 300 IN A 192.0.2.2"}, nil, nil)
	badRdata := append([]byte(nil), full...)
	badRdata[len(badRdata)-5] = 3 // the last A's rdlength: 3, one byte left over
	loop := append([]byte(nil), full[:headerLen]...)
	loop[5], loop[7] = 1, 0 // one question, no answers
	loop = append(loop, 0xc0, headerLen, 0, 1, 0, 1)
	loop[7] = 1
	loop = append(loop, 0xc0, headerLen+6, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 1)
	noTime := msg(resolverResponse, full, "")
	noTime.ResponseTimeSec, noTime.QueryTimeSec = nil, nil
	tests := []struct {
		name   string
		msg    *tap.Message
		reason Reason
	}{
		{name: "truncated wire", msg: msg(resolverResponse, full[:len(full)-3], ""), reason: ReasonDNSTruncated},
		{name: "short header", msg: msg(resolverResponse, full[:7], ""), reason: ReasonDNSHeader},
		{name: "rdata length", msg: msg(resolverResponse, badRdata, ""), reason: ReasonDNSRData},
		{name: "pointer loop", msg: msg(resolverResponse, loop, ""), reason: ReasonDNSName},
		{name: "bad query_zone", msg: func() *tap.Message {
			m := msg(resolverResponse, full, "")
			m.QueryZone = []byte{7, 'e', 'x'}
			return m
		}(), reason: ReasonQueryZone},
		{name: "no time", msg: noTime, reason: ReasonTime},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err, st := convertAll(t, tt.msg)
			var e *Error
			if !errors.As(err, &e) || e.Reason != tt.reason || !errors.Is(err, ErrMalformed) {
				t.Fatalf("err = %v, want reason %s", err, tt.reason)
			}
			if len(got) != 0 {
				t.Errorf("got %d records from a malformed message", len(got))
			}
			if st.Malformed[tt.reason.String()] != 1 {
				t.Errorf("Malformed = %v", st.Malformed)
			}
		})
	}
}

func TestConvertQueryTimeFallback(t *testing.T) {
	m := msg(resolverResponse, wire(t, "example.com.", dns.TypeA, []string{"example.com. 1 IN A 192.0.2.1"}, nil, nil), "")
	m.ResponseTimeSec, m.ResponseTimeNsec = nil, nil
	got, err, _ := convertAll(t, m)
	if err != nil || len(got) != 1 {
		t.Fatalf("got %d records, %v", len(got), err)
	}
	r := got[0]
	if r.TimeFirst != testSec-1 || r.TimeLast != testSec-1 || r.TimeFirstMS != (testSec-1)*1000 {
		t.Errorf("times = %d %d %d, want the query time", r.TimeFirst, r.TimeLast, r.TimeFirstMS)
	}
}

// TestNoMetadataInRecords converts every kind of test message with every
// option and looks for the addresses, ports, identity, version and extra
// in each output byte.
func TestNoMetadataInRecords(t *testing.T) {
	var out []byte
	c, err := NewConverter(WithAuthority(), WithAdditional(), WithClientResponses(), WithRRSIG(), quiet)
	if err != nil {
		t.Fatal(err)
	}
	resp := wire(t, "www.example.com.", dns.TypeA, []string{"www.example.com. 300 IN A 192.0.2.1"},
		[]string{"example.com. 60 IN NS ns1.example.com."}, []string{"ns1.example.com. 60 IN A 192.0.2.53"})
	for typ := tap.Message_Type(1); typ <= tap.Message_UPDATE_RESPONSE; typ++ {
		err := c.ConvertFrame(frame(t, msg(typ, resp, "example.com")), func(r *cof.Record) { out = r.AppendLine(out) })
		if err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Contains(out, []byte("192.0.2.53")) {
		t.Fatalf("conversion gave too little to check: %s", out)
	}
	for _, s := range secrets {
		if bytes.Contains(out, s) {
			t.Errorf("output holds %q:\n%s", s, out)
		}
	}
}

func TestUnmarshal(t *testing.T) {
	f := frame(t, msg(resolverResponse, []byte{1, 2, 3}, "example.com"))
	var m Message
	if err := m.Unmarshal(f); err != nil {
		t.Fatal(err)
	}
	want := Message{
		Type:            resolverResponse,
		QueryTime:       Time{Sec: testSec - 1, Nsec: 999, HasSec: true, HasNsec: true},
		ResponseTime:    Time{Sec: testSec, Nsec: testNsec, HasSec: true, HasNsec: true},
		QueryZone:       []byte("\x07example\x03com\x00"),
		ResponseMessage: []byte{1, 2, 3},
	}
	if m.Type != want.Type || m.QueryTime != want.QueryTime || m.ResponseTime != want.ResponseTime ||
		!bytes.Equal(m.QueryZone, want.QueryZone) || !bytes.Equal(m.ResponseMessage, want.ResponseMessage) {
		t.Errorf("Unmarshal = %+v, want %+v", m, want)
	}
	if fd := FromDnstap(msg(resolverResponse, []byte{1, 2, 3}, "example.com")); fd.QueryTime != want.QueryTime ||
		fd.ResponseTime != want.ResponseTime || !bytes.Equal(fd.QueryZone, want.QueryZone) {
		t.Errorf("FromDnstap = %+v", fd)
	}
	for _, bad := range [][]byte{{0xff}, f[:len(f)-1], {0x78, 0x02}, []byte(strings.Repeat("\x00", 4))} {
		if err := m.Unmarshal(bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("Unmarshal(%x) = %v, want ErrMalformed", bad, err)
		}
	}
}

func pack(t *testing.T, m *dns.Msg) []byte {
	t.Helper()
	b, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	return b
}
