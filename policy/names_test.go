package policy

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/cofswitch/cofswitch/cof"
)

// checkRDataNames is the fuzz test's property, also run on the seeds: no
// panic; the names found are canonical (cof reads each as itself) and
// agree with cof's reading of the same text; hashing rebuilds rdata that
// holds as many names, none of them in clear.
func checkRDataNames(t *testing.T, h *labelHasher, typ cof.Type, s string) {
	ns, canon, ok := cof.AppendRDataNames(nil, nil, typ, s)
	if !ok {
		if out := h.rdata(typ, s); cof.CarriesNames(typ) && (!strings.HasPrefix(out, "h") || len(out) != 13) {
			t.Fatalf("%v %q does not parse but hashes to %q", typ, s, out)
		}
		return
	}
	for _, n := range ns {
		c := string(canon[n.CStart:n.CEnd])
		if again, err := canonicalZone(c); err != nil || again != c {
			t.Fatalf("%v %q: name %q reads back as %q, %v", typ, s, c, again, err)
		}
		if !utf8.ValidString(s) {
			continue // cannot stand in a record: JSON is UTF-8
		}
		if fromCof, err := canonicalZone(s[n.Start:n.End]); err != nil || fromCof != c {
			t.Fatalf("%v %q: name %q, cof reads %q, %v", typ, s, c, fromCof, err)
		}
	}
	out := h.rdata(typ, s)
	ns2, canon2, ok := cof.AppendRDataNames(nil, nil, typ, out)
	if !ok || len(ns2) != len(ns) {
		t.Fatalf("%v %q hashed to %q: %d names, want %d", typ, s, out, len(ns2), len(ns))
	}
	for i, n := range ns2 {
		if got, want := string(canon2[n.CStart:n.CEnd]), h.name(string(canon[ns[i].CStart:ns[i].CEnd])); got != want {
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
