package policy

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/cofswitch/cofswitch/cof"
)

// names runs rdataNames and returns the canonical names joined by spaces,
// or "!" when the rdata does not parse.
func names(t cof.Type, s string) string {
	ns, canon, ok := rdataNames(nil, nil, t, s)
	if !ok {
		return "!"
	}
	var out []string
	for _, n := range ns {
		out = append(out, string(canon[n.cstart:n.cend]))
	}
	return strings.Join(out, " ")
}

func mustType(t testing.TB, s string) cof.Type {
	t.Helper()
	typ, ok := cof.ParseType(s)
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

// TestCanonicalNameAgreesWithCof: a name in rdata and the same name as
// rrname compare equal, whatever the spelling.
func TestCanonicalNameAgreesWithCof(t *testing.T) {
	for _, n := range []string{
		"Example.COM.", "example.com", ".", `a\.b.c`, `\065b`, `x\\y.z`, `a\032b`, `a\ b`,
		`\000.x`, `\255.x`, "bücher.de", "BÜCHER.de.", `a"b.c`, `_srv._tcp.x`, "*.x",
	} {
		want, err := canonicalZone(n)
		got, ok := canonicalName(nil, n)
		if ok != (err == nil) || ok && string(got) != want {
			t.Errorf("%q: canonicalName %q %v, cof %q %v", n, got, ok, want, err)
		}
	}
}

// checkRDataNames is the fuzz test's property, also run on the seeds: no
// panic; the names found are canonical (cof reads each as itself) and
// agree with cof's reading of the same text; hashing rebuilds rdata that
// holds as many names, none of them in clear.
func checkRDataNames(t *testing.T, h *labelHasher, typ cof.Type, s string) {
	ns, canon, ok := rdataNames(nil, nil, typ, s)
	if !ok {
		if out := h.rdata(typ, s); layoutOf(typ).carriesNames() && (!strings.HasPrefix(out, "h") || len(out) != 13) {
			t.Fatalf("%v %q does not parse but hashes to %q", typ, s, out)
		}
		return
	}
	for _, n := range ns {
		c := string(canon[n.cstart:n.cend])
		if again, err := canonicalZone(c); err != nil || again != c {
			t.Fatalf("%v %q: name %q reads back as %q, %v", typ, s, c, again, err)
		}
		if !utf8.ValidString(s) {
			continue // cannot stand in a record: JSON is UTF-8
		}
		if fromCof, err := canonicalZone(s[n.start:n.end]); err != nil || fromCof != c {
			t.Fatalf("%v %q: name %q, cof reads %q, %v", typ, s, c, fromCof, err)
		}
	}
	out := h.rdata(typ, s)
	ns2, canon2, ok := rdataNames(nil, nil, typ, out)
	if !ok || len(ns2) != len(ns) {
		t.Fatalf("%v %q hashed to %q: %d names, want %d", typ, s, out, len(ns2), len(ns))
	}
	for i, n := range ns2 {
		if got, want := string(canon2[n.cstart:n.cend]), h.name(string(canon[ns[i].cstart:ns[i].cend])); got != want {
			t.Fatalf("%v %q hashed to %q: name %d is %q, want %q", typ, s, out, i, got, want)
		}
	}
}

func FuzzRDataNames(f *testing.F) {
	for _, s := range []struct {
		typ   uint16
		rdata string
	}{
		{5, "printer.corp."}, {12, "laptop.local."}, {15, "10 db-1.internal."}, {33, "0 5 5060 sip.lan."},
		{6, "ns.corp. hostmaster.corp. 1 2 3 4 5"}, {64, "1 svc.lan. alpn=h2"}, {65, "1 . alpn=h2"},
		{35, `100 10 "S" "SIP+D2U" "!^.*$!sip:x@y!" _sip._udp.lan.`}, {17, "a.corp. ."}, {47, "h.lan. A NSEC"},
		{5, `a\.b\\c\032d.lan.`}, {5, "Bücher.lan"}, {2, `"q"`}, {15, `10 x\`}, {35, `1 2 "a\" b" c d e.`},
	} {
		f.Add(s.typ, s.rdata)
	}
	h := &labelHasher{key: []byte("fuzz-key-16bytes"), cache: newStringCache(1 << 10), names: newStringCache(1 << 10)}
	f.Fuzz(func(t *testing.T, typ uint16, s string) {
		checkRDataNames(t, h, cof.Type(typ%128), s)
	})
}
