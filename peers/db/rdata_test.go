package db

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/cofswitch/cofswitch/cof"
)

func TestIndexedOf(t *testing.T) {
	tests := []struct {
		typ, rdata    string
		names, values string
	}{
		{"CNAME", `["WWW.Example.COM."]`, "www.example.com", ""},
		{"NS", `["ns1.example.net.","NS2.example.net"]`, "ns1.example.net ns2.example.net", ""},
		{"MX", `["10 mx1.example.org.","20 mx1.example.org."]`, "mx1.example.org", "10 mx1.example.org.|20 mx1.example.org."},
		{"SRV", `["0 5 5060 sip.example.org."]`, "sip.example.org", "0 5 5060 sip.example.org."},
		{"SOA", `["ns.example.org. hostmaster.example.org. 1 2 3 4 5"]`, "hostmaster.example.org ns.example.org", "ns.example.org. hostmaster.example.org. 1 2 3 4 5"},
		{"HTTPS", `["1 cdn.example.net. alpn=h2"]`, "cdn.example.net", "1 cdn.example.net. alpn=h2"},
		{"HTTPS", `["1 . alpn=h2"]`, "", "1 . alpn=h2"},
		{"TXT", `["\"v=spf1 -all\""]`, "", `"v=spf1 -all"`},
		{"A", `["192.0.2.1"]`, "", ""},
	}
	for _, tt := range tests {
		r := mustRecord(t, fmt.Sprintf(`{"rrname":"x.example","rrtype":%q,"rdata":%s,"time_first":1,"time_last":2}`, tt.typ, tt.rdata))
		ix := IndexedOf(FromRecord(r))
		slices.Sort(ix.Names)
		if got := strings.Join(ix.Names, " "); got != tt.names {
			t.Errorf("%s %s: names %q, want %q", tt.typ, tt.rdata, got, tt.names)
		}
		slices.Sort(ix.Values)
		if got := strings.Join(ix.Values, "|"); got != tt.values {
			t.Errorf("%s %s: values %q, want %q", tt.typ, tt.rdata, got, tt.values)
		}
	}
}

func TestParseRDataQuery(t *testing.T) {
	tests := []struct {
		in   string
		want RDataQuery
	}{
		{"192.0.2.1", RDataQuery{Addr: netip.MustParseAddr("192.0.2.1")}},
		{"::ffff:192.0.2.1", RDataQuery{Addr: netip.MustParseAddr("192.0.2.1")}},
		{"WWW.Example.com.", RDataQuery{Name: "www.example.com", Value: "WWW.Example.com."}},
		{"*.Example.com", RDataQuery{Name: "example.com", NameKind: 'L'}},
		{"mx1.example.*", RDataQuery{Name: "mx1.example", NameKind: 'R'}},
		{"10 mx1.example.org.", RDataQuery{Value: "10 mx1.example.org."}},
		{`"v=spf1 -all"`, RDataQuery{Value: `"v=spf1 -all"`}},
		{".", RDataQuery{Value: "."}},
	}
	for _, tt := range tests {
		if got := ParseRDataQuery(tt.in); got != tt.want {
			t.Errorf("%q: %+v, want %+v", tt.in, got, tt.want)
		}
	}
}

// rdataStore holds the rdata shapes real clients look up by name.
func rdataStore(t *testing.T, newStore func(*testing.T) Store) Store {
	t.Helper()
	m := newStore(t)
	recs := records(t,
		`{"rrname":"www.example.org","rrtype":"CNAME","rdata":["Agg.Example.COM."],"time_first":10,"time_last":20}`,
		`{"rrname":"alias.example.org","rrtype":"CNAME","rdata":["agg.example.com"],"time_first":10,"time_last":20}`,
		`{"rrname":"example.org","rrtype":"MX","rdata":["10 mx1.example.org.","20 mx2.example.org."],"time_first":10,"time_last":20}`,
		`{"rrname":"_sip._udp.example.org","rrtype":"SRV","rdata":["0 5 5060 sip.example.org."],"time_first":10,"time_last":20}`,
		`{"rrname":"example.org","rrtype":"SOA","rdata":["ns.example.net. hostmaster.example.org. 1 7200 3600 1209600 300"],"time_first":10,"time_last":20}`,
		`{"rrname":"example.org","rrtype":"HTTPS","rdata":["1 cdn.example.net. alpn=h2"],"time_first":10,"time_last":20}`,
		`{"rrname":"svc.example.org","rrtype":"SVCB","rdata":["1 svc1.example.net. port=8443"],"time_first":10,"time_last":20}`,
		`{"rrname":"example.org","rrtype":"NAPTR","rdata":["100 10 \"S\" \"SIP+D2U\" \"\" _sip._udp.example.org."],"time_first":10,"time_last":20}`,
		`{"rrname":"example.org","rrtype":"NS","rdata":["ns1.example.net.","ns2.example.net."],"time_first":10,"time_last":20}`,
		`{"rrname":"example.org","rrtype":"TXT","rdata":["\"v=spf1 -all\""],"time_first":10,"time_last":20}`,
		`{"rrname":"txt.example.org","rrtype":"TXT","rdata":["mx1.example.org"],"time_first":10,"time_last":20}`,
	)
	if _, err := m.Apply(t.Context(), "PEER_p", 1, recs); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestRDataLookups(t *testing.T) { forEachStore(t, testRDataLookups) }

func testRDataLookups(t *testing.T, newStore func(*testing.T) Store) {
	m := rdataStore(t, newStore)
	tests := []struct {
		name, rdata string
		typ         cof.Type
		want        string
	}{
		{"without the trailing dot", "agg.example.com", 0, "alias.example.org/CNAME www.example.org/CNAME"},
		{"with it", "agg.example.com.", 0, "alias.example.org/CNAME www.example.org/CNAME"},
		{"in another case", "AGG.example.Com", 0, "alias.example.org/CNAME www.example.org/CNAME"},
		{"MX exchanger", "mx1.example.org", 0, "example.org/MX txt.example.org/TXT"},
		{"MX exchanger, MX only", "mx2.example.org.", cof.TypeMX, "example.org/MX"},
		{"MX as stored", "10 mx1.example.org.", 0, "example.org/MX"},
		{"SRV target", "sip.example.org", 0, "_sip._udp.example.org/SRV"},
		{"SOA mname", "ns.example.net", 0, "example.org/SOA"},
		{"SOA rname", "hostmaster.example.org", 0, "example.org/SOA"},
		{"HTTPS target", "cdn.example.net", 0, "example.org/HTTPS"},
		{"SVCB target", "svc1.example.net", 0, "svc.example.org/SVCB"},
		{"NAPTR replacement", "_sip._udp.example.org", 0, "example.org/NAPTR"},
		{"NS", "NS2.example.net.", 0, "example.org/NS"},
		{"TXT verbatim", `"v=spf1 -all"`, 0, "example.org/TXT"},
		{"left-hand wildcard", "*.example.net", 0, "example.org/HTTPS example.org/NS example.org/SOA svc.example.org/SVCB"},
		{"left-hand wildcard is below only", "*.mx1.example.org", 0, ""},
		{"left-hand wildcard with type", "*.example.org", cof.TypeMX, "example.org/MX"},
		{"left-hand wildcard, several names once", "*.example.org", 0, "_sip._udp.example.org/SRV example.org/MX example.org/NAPTR example.org/SOA"},
		{"right-hand wildcard", "mx2.example.*", 0, "example.org/MX"},
		{"right-hand wildcard on a prefix", "ns1.*", 0, "example.org/NS"},
		{"no such name", "nope.example.org", 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := m.Lookup(t.Context(), Query{RData: tt.rdata, Type: tt.typ})
			if err != nil {
				t.Fatal(err)
			}
			if names(got) != tt.want {
				t.Errorf("RData %q: got %q, want %q", tt.rdata, names(got), tt.want)
			}
		})
	}
	for _, owner := range []string{"WWW.Example.ORG.", "www.example.org."} {
		got, err := m.Lookup(t.Context(), Query{Name: owner})
		if err != nil || names(got) != "www.example.org/CNAME" {
			t.Errorf("Name %q: %q %v", owner, names(got), err)
		}
	}
}

// TestRDataPaging: pages of a wildcard rdata query add up to the whole
// answer, each rrset once, whatever the page size.
func TestRDataPaging(t *testing.T) { forEachStore(t, testRDataPaging) }

func testRDataPaging(t *testing.T, newStore func(*testing.T) Store) {
	m := newStore(t)
	var recs []*cof.Record
	for i := range 60 {
		recs = append(recs, mustRecord(t, fmt.Sprintf(
			`{"rrname":"d%d.example.org","rrtype":"NS","rdata":["a%d.ns.example.net.","b%d.ns.example.net.","c.ns.example.net."],"time_first":1,"time_last":2}`, i, i, i)))
	}
	if _, err := m.Apply(t.Context(), "PEER_p", 1, recs); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"*.ns.example.net", "*.example.net", "c.ns.example.net"} {
		all, err := m.Lookup(t.Context(), Query{RData: q})
		if err != nil || len(all) != 60 {
			t.Fatalf("%s: %d rrsets, %v", q, len(all), err)
		}
		for _, size := range []int{1, 7, 60} {
			var got []string
			for off := 0; ; off += size {
				page, err := m.Lookup(t.Context(), Query{RData: q, Offset: off, Limit: size})
				if err != nil {
					t.Fatal(err)
				}
				for _, s := range page {
					got = append(got, s.RRName)
				}
				if len(page) < size {
					break
				}
			}
			slices.Sort(got)
			if len(got) != 60 || len(slices.Compact(got)) != 60 {
				t.Errorf("%s in pages of %d: %d rrsets, %d distinct", q, size, len(got), len(slices.Compact(slices.Clone(got))))
			}
		}
	}
}

// TestEscapedDotIsNoLabel: a\.b.victim.example is one label "a.b" under
// victim.example, so no wildcard on b.victim.example finds it, as owner
// or in rdata (it let a sensor's record pass for one under another zone).
func TestEscapedDotIsNoLabel(t *testing.T) { forEachStore(t, testEscapedDot) }

func testEscapedDot(t *testing.T, newStore func(*testing.T) Store) {
	m := newStore(t)
	recs := records(t,
		`{"rrname":"a\\.b.victim.example","rrtype":"A","rdata":["192.0.2.1"],"time_first":1,"time_last":2}`,
		`{"rrname":"c.b.victim.example","rrtype":"A","rdata":["192.0.2.2"],"time_first":1,"time_last":2}`,
		`{"rrname":"alias.other.example","rrtype":"CNAME","rdata":["x\\.www.victim.example."],"time_first":1,"time_last":2}`,
	)
	if _, err := m.Apply(t.Context(), "s", 1, recs); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		q    Query
		want string
	}{
		{Query{Name: "*.b.victim.example"}, "c.b.victim.example/A"},
		{Query{Name: "*.victim.example"}, `a\.b.victim.example/A c.b.victim.example/A`},
		{Query{Name: `a\.b.victim.example`}, `a\.b.victim.example/A`},
		{Query{Name: "a.*"}, ""},
		{Query{RData: "*.www.victim.example"}, ""},
		{Query{RData: "*.victim.example"}, "alias.other.example/CNAME"},
	} {
		got, err := m.Lookup(t.Context(), tt.q)
		if err != nil || names(got) != tt.want {
			t.Errorf("%+v: %q %v, want %q", tt.q, names(got), err, tt.want)
		}
	}
}
