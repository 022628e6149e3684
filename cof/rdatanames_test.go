package cof

import (
	"strings"
	"testing"
)

// names runs RDataNames and returns the canonical names joined by spaces,
// or "!" when the rdata does not parse.
func names(t Type, s string) string {
	ns, ok := RDataNames(t, s)
	if !ok {
		return "!"
	}
	return strings.Join(ns, " ")
}

func mustType(t testing.TB, s string) Type {
	t.Helper()
	typ, ok := ParseType(s)
	if !ok {
		t.Fatalf("type %s", s)
	}
	return typ
}

func TestRDataNames(t *testing.T) {
	tests := []struct {
		typ, rdata, want string // want "!": does not parse
	}{
		{"CNAME", "printer.corp.", "printer.corp"},
		{"CNAME", "Printer.CORP", "printer.corp"},
		{"DNAME", "example.net.", "example.net"},
		{"NS", "ns1.lan.", "ns1.lan"},
		{"PTR", "laptop.local.", "laptop.local"},
		{"MX", "10 db-1.internal.", "db-1.internal"},
		{"MX", "0 .", ""}, // null MX, RFC 7505
		{"SRV", "0 5 5060 sip.lan.", "sip.lan"},
		{"SRV", "0 0 0 .", ""},
		{"SOA", "ns.corp. hostmaster.corp. 2024010101 7200 3600 1209600 300", "ns.corp hostmaster.corp"},
		{"SOA", "ns.corp. hostmaster.corp. ( 1 2 3 4 5 )", "ns.corp hostmaster.corp"},
		{"SVCB", "1 svc.lan. alpn=h2,h3 port=8443", "svc.lan"},
		{"HTTPS", "1 . alpn=h2", ""}, // "." is the owner
		{"HTTPS", "0 cdn.example.", "cdn.example"},
		{"NAPTR", `100 10 "S" "SIP+D2U" "" _sip._udp.lan.`, "_sip._udp.lan"},
		{"NAPTR", `100 10 "u" "E2U+sip" "!^.*$!sip:info@example.com!" .`, ""},
		{"NAPTR", `100 10 S SIP+D2U "" _sip._udp.lan.`, "_sip._udp.lan"},
		{"KX", "10 kx.lan.", "kx.lan"},
		{"AFSDB", "1 afs.corp.", "afs.corp"},
		{"RT", "20 relay.corp.", "relay.corp"},
		{"RP", "admin.corp. info.corp.", "admin.corp info.corp"},
		{"RP", "admin.example. .", "admin.example"},
		{"NSEC", "host.lan. A AAAA RRSIG NSEC", "host.lan"},
		{"RRSIG", "A 13 2 300 20240201000000 20240101000000 12345 corp. c2lnbmF0dXJl", "corp"},
		{"MINFO", "req.corp. err.corp.", "req.corp err.corp"},
		{"PX", "10 map.corp. x400.corp.", "map.corp x400.corp"},
		{"TALINK", "a.corp. b.corp.", "a.corp b.corp"},
		{"MB", "mail.corp.", "mail.corp"},
		{"A", "10.0.0.1", ""},
		{"TXT", `"printer.corp"`, ""},
		// escapes and canonical forms, as cof gives rrname
		{"CNAME", `a\.b.corp.`, `a\.b.corp`},
		{"CNAME", `\065\066c.Corp`, "abc.corp"},
		{"CNAME", `sp\ ace.lan.`, `sp\032ace.lan`},
		{"CNAME", `back\\slash.lan.`, `back\\slash.lan`},
		{"CNAME", `dot\.`, `dot\.`},
		{"CNAME", "bücher.lan.", "xn--bcher-kva.lan"},
		{"MX", "010 mx.lan.", "mx.lan"},
		{"CNAME", " \tpadded.lan. ", "padded.lan"},
		// malformed: counted as hiding a name
		{"CNAME", "", "!"},
		{"CNAME", "a.corp. b.corp.", "!"},
		{"CNAME", `"quoted.corp."`, "!"},
		{"CNAME", "a..corp.", "!"},
		{"CNAME", "..", "!"},
		{"CNAME", strings.Repeat("a", 64) + ".corp.", "!"},
		{"CNAME", strings.Repeat("abcdefghi.", 26), "!"},
		{"CNAME", `bad\256.corp.`, "!"},
		{"CNAME", `bad\25`, "!"},
		{"CNAME", `dangling\`, "!"},
		{"CNAME", `\# 8 0470726e74`, "!"}, // RFC 3597 form: not read
		{"MX", "db-1.internal.", "!"},
		{"MX", "db-1.internal. 10", "!"},
		{"MX", "70000 mx.lan.", "!"},
		{"MX", "-1 mx.lan.", "!"},
		{"MX", "10 mx.lan. extra", "!"},
		{"SRV", "0 5 sip.lan.", "!"},
		{"SOA", "ns.corp.", "!"},
		{"SVCB", "svc.lan.", "!"},
		{"NAPTR", `100 10 "S" "SIP+D2U" "unterminated _sip._udp.lan.`, "!"},
		{"NAPTR", `100 10 "S""SIP" "" x.lan.`, "!"},
		{"NAPTR", `100 10 "S" "SIP+D2U" _sip._udp.lan.`, "!"},
		{"RRSIG", "A 13 2 300 20240201000000 20240101000000 12345 corp.", "!"},
	}
	for _, tt := range tests {
		if got := names(mustType(t, tt.typ), tt.rdata); got != tt.want {
			t.Errorf("%s %q: names %q, want %q", tt.typ, tt.rdata, got, tt.want)
		}
	}
}
