package dnstap

import (
	"bytes"
	"testing"

	"github.com/miekg/dns"

	"github.com/cofswitch/cofswitch/cof"
)

// fuzzSeeds are DNS responses of every shape the converter writes itself.
func fuzzSeeds(f *testing.F) [][]byte {
	return [][]byte{
		wire(f, "www.example.com.", dns.TypeA, []string{
			"www.example.com. 300 IN CNAME Edge.Example.NET.", "edge.example.net. 300 IN A 192.0.2.1",
			"edge.example.net. 300 IN A 192.0.2.1", "edge.example.net. 300 IN AAAA ::ffff:192.0.2.1"},
			[]string{"example.com. 60 IN NS ns1.example.com.", "example.com. 60 IN SOA a. b. 1 2 3 4 5"},
			[]string{"ns1.example.com. 60 IN A 192.0.2.53", ". 0 CLASS1232 OPT"}),
		wire(f, "example.com.", dns.TypeANY, []string{
			"example.com. 60 IN MX 0 .", `example.com. 60 IN TXT "a\"b\\c" "\000\255"`,
			"_s._tcp.example.com. 60 IN SRV 1 2 3 T.example.com.",
			`example.com. 60 IN HTTPS 1 . alpn="h2" ipv4hint="192.0.2.1"`,
			"example.com. 60 IN RRSIG A 13 2 60 20240101000000 20231201000000 1 example.com. AAAA",
			`a\032b\.c.example.com. 60 IN TYPE65280 \# 2 abcd`,
			"example.com. 60 IN NAPTR 100 10 \"U\" \"E2U+sip\" \"!^.*$!sip:x@example.com!\" .",
			"example.com. 60 IN DNAME Other.Example."}, nil, nil),
	}
}

// FuzzConvert feeds arbitrary wire bytes as the response of a
// RESOLVER_RESPONSE, with an arbitrary query_zone. Nothing may panic, and
// every record must stay within the line limit and round-trip through
// cof.Parse to the same record and the same bytes.
func FuzzConvert(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s, []byte("\x07example\x03com\x00"))
		f.Add(s, []byte{0})
	}
	c, err := NewConverter(WithAuthority(), WithAdditional(), WithRRSIG(), quiet)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, resp, zone []byte) {
		m := Message{
			Type:            resolverResponse,
			ResponseTime:    Time{Sec: testSec, Nsec: testNsec, HasSec: true, HasNsec: true},
			QueryZone:       zone,
			ResponseMessage: resp,
		}
		var line []byte
		c.Convert(&m, func(r *cof.Record) {
			line = r.AppendLine(line[:0])
			if len(line) > cof.DefaultMaxLineBytes {
				t.Fatalf("line of %d bytes", len(line))
			}
			got, err := cof.Parse(line[:len(line)-1])
			if err != nil {
				t.Fatalf("cof.Parse(%s): %v", line, err)
			}
			if !got.Equal(r) {
				t.Fatalf("round trip:\n emitted %s parsed  %s", line, got.AppendLine(nil))
			}
			if again := got.AppendLine(nil); !bytes.Equal(again, line) {
				t.Fatalf("re-encoded differs:\n%s%s", line, again)
			}
		})
	})
}

// FuzzFrame feeds arbitrary frames: decoding and converting must not
// panic.
func FuzzFrame(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(frame(f, msg(resolverResponse, s, "example.com")))
	}
	c, err := NewConverter(WithClientResponses(), quiet)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, fr []byte) {
		c.ConvertFrame(fr, func(*cof.Record) {})
	})
}
