package policy

import (
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cofswitch/cofswitch/cof"
)

var testNow = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

const (
	keyA = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
	keyB = "ff0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1eff"
)

func testEnv() Env {
	files := map[string]string{"/keys/a": keyA + "\n", "/keys/b": keyB, "/keys/short": "0011", "/keys/text": "not hex at all"}
	return Env{
		Getenv: func(k string) string {
			if k == "KEY_A" {
				return keyA
			}
			return ""
		},
		ReadFile: func(p string) ([]byte, error) {
			if v, ok := files[p]; ok {
				return []byte(v), nil
			}
			return nil, &fs.PathError{Op: "open", Path: p, Err: fs.ErrNotExist}
		},
		Now: func() time.Time { return testNow },
	}
}

func mustCompile(t testing.TB, s *Spec) *Compiled {
	t.Helper()
	c, err := Compile("test", s, testEnv())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func rec(t testing.TB, line string) *cof.Record {
	t.Helper()
	r, err := cof.Parse([]byte(line))
	if err != nil {
		t.Fatalf("%s: %v", line, err)
	}
	return &r
}

func record(name, typ, rdata string) string {
	return fmt.Sprintf(`{"rrname":%q,"rrtype":%q,"rdata":[%q],"time_first":1700000000,"time_last":1704060000,"count":5,"sensor_id":"org-a-s1"}`, name, typ, rdata)
}

func i64(v int64) *int64 { return &v }

func TestFilters(t *testing.T) {
	tests := []struct {
		name   string
		filter FilterSpec
		line   string
		want   bool // the criterion holds
	}{
		{"sensor pattern", FilterSpec{Sensors: []string{"org-a-*"}}, record("a.example", "A", "8.8.8.8"), true},
		{"sensor pattern miss", FilterSpec{Sensors: []string{"org-b-*"}}, record("a.example", "A", "8.8.8.8"), false},
		{"rrtype set", FilterSpec{RRTypes: []string{"aaaa", "A"}}, record("a.example", "A", "8.8.8.8"), true},
		{"rrtype set miss", FilterSpec{RRTypes: []string{"MX", "TYPE65280"}}, record("a.example", "A", "8.8.8.8"), false},
		{"zone apex", FilterSpec{Zones: []string{"Example.COM."}}, record("example.com", "A", "8.8.8.8"), true},
		{"zone below", FilterSpec{Zones: []string{"example.com"}}, record("www.a.example.com", "A", "8.8.8.8"), true},
		{"zone label boundary", FilterSpec{Zones: []string{"example.com"}}, record("badexample.com", "A", "8.8.8.8"), false},
		{"zone root", FilterSpec{Zones: []string{"."}}, record("anything.example", "A", "8.8.8.8"), true},
		{"internal zones: home.arpa", FilterSpec{Zones: []string{InternalZones}}, record("printer.home.arpa", "A", "8.8.8.8"), true},
		{"internal zones: .corp", FilterSpec{Zones: []string{InternalZones}}, record("dc1.corp", "A", "8.8.8.8"), true},
		{"internal zones: private reverse", FilterSpec{Zones: []string{InternalZones}}, record("5.1.168.192.in-addr.arpa", "PTR", "printer.lan."), true},
		{"internal zones: ULA reverse", FilterSpec{Zones: []string{InternalZones}}, record("1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa", "PTR", "x.lan."), true},
		{"internal zones: public", FilterSpec{Zones: []string{InternalZones}}, record("www.example.com", "A", "8.8.8.8"), false},
		{"internal zones: public reverse", FilterSpec{Zones: []string{InternalZones}}, record("8.8.8.8.in-addr.arpa", "PTR", "dns.google."), false},
		{"regex", FilterSpec{Regex: []string{`^xn--`, `^mail\.`}}, record("mail.example", "A", "8.8.8.8"), true},
		{"regex miss", FilterSpec{Regex: []string{`^xn--`}}, record("mail.example", "A", "8.8.8.8"), false},
		{"cidr A", FilterSpec{RDataCIDRs: []string{"8.8.0.0/16"}}, record("a.example", "A", "8.8.8.8"), true},
		{"cidr single address", FilterSpec{RDataCIDRs: []string{"8.8.4.4"}}, record("a.example", "A", "8.8.4.4"), true},
		{"cidr A miss", FilterSpec{RDataCIDRs: []string{"8.8.0.0/16"}}, record("a.example", "A", "9.9.9.9"), false},
		{"cidr ignores other types", FilterSpec{RDataCIDRs: []string{"0.0.0.0/0"}}, record("a.example", "TXT", "\"8.8.8.8\""), false},
		{"special-purpose RFC 1918", FilterSpec{RDataCIDRs: []string{SpecialPurpose}}, record("a.example", "A", "10.1.2.3"), true},
		{"special-purpose RFC 6598", FilterSpec{RDataCIDRs: []string{SpecialPurpose}}, record("a.example", "A", "100.64.1.1"), true},
		{"special-purpose loopback", FilterSpec{RDataCIDRs: []string{SpecialPurpose}}, record("a.example", "A", "127.0.0.1"), true},
		{"special-purpose benchmarking", FilterSpec{RDataCIDRs: []string{SpecialPurpose}}, record("a.example", "A", "198.19.0.1"), true},
		{"special-purpose ULA", FilterSpec{RDataCIDRs: []string{SpecialPurpose}}, record("a.example", "AAAA", "fd12::1"), true},
		{"special-purpose link-local", FilterSpec{RDataCIDRs: []string{SpecialPurpose}}, record("a.example", "AAAA", "fe80::1"), true},
		{"special-purpose documentation v6", FilterSpec{RDataCIDRs: []string{SpecialPurpose}}, record("a.example", "AAAA", "2001:db8::1"), true},
		{"special-purpose public", FilterSpec{RDataCIDRs: []string{SpecialPurpose}}, record("a.example", "AAAA", "2606:4700::1111"), false},
		{"special-purpose PTR owner", FilterSpec{RDataCIDRs: []string{SpecialPurpose}}, record("7.2.0.10.in-addr.arpa", "PTR", "host."), true},
		{"special-purpose partial PTR owner", FilterSpec{RDataCIDRs: []string{SpecialPurpose}}, record("168.192.in-addr.arpa", "PTR", "host."), true},
		{"special-purpose public PTR", FilterSpec{RDataCIDRs: []string{SpecialPurpose}}, record("8.8.8.8.in-addr.arpa", "PTR", "dns.google."), false},
		{"bailiwick zone", FilterSpec{BailiwickZones: []string{"com"}}, `{"rrname":"a.example.com","rrtype":"A","rdata":"8.8.8.8","time_first":1,"time_last":2,"bailiwick":"example.com"}`, true},
		{"bailiwick absent", FilterSpec{BailiwickZones: []string{"com"}}, record("a.example.com", "A", "8.8.8.8"), false},
		{"min count", FilterSpec{MinCount: i64(5)}, record("a.example", "A", "8.8.8.8"), true},
		{"min count miss", FilterSpec{MinCount: i64(6)}, record("a.example", "A", "8.8.8.8"), false},
		{"max count", FilterSpec{MaxCount: i64(4)}, record("a.example", "A", "8.8.8.8"), false},
		{"absent count counts 1", FilterSpec{MaxCount: i64(1)}, `{"rrname":"a","rrtype":"A","rdata":"8.8.8.8","time_first":1,"time_last":2}`, true},
		{"max age", FilterSpec{MaxAge: "1d"}, record("a.example", "A", "8.8.8.8"), true}, // time_last is 2 h before testNow
		{"max age miss", FilterSpec{MaxAge: "1h"}, record("a.example", "A", "8.8.8.8"), false},
		{"has fields", FilterSpec{HasFields: []string{"count", "sensor_id"}}, record("a.example", "A", "8.8.8.8"), true},
		{"has fields miss", FilterSpec{HasFields: []string{"count", "bailiwick"}}, record("a.example", "A", "8.8.8.8"), false},
		{"has additional field", FilterSpec{HasFields: []string{"tlp"}}, `{"rrname":"a","rrtype":"A","rdata":"8.8.8.8","time_first":1,"time_last":2,"tlp":"x"}`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := tt.filter
			r := rec(t, tt.line)
			inc := mustCompile(t, &Spec{Include: &f})
			if _, kept := inc.Apply(r); kept != tt.want {
				t.Errorf("include: kept=%v, want %v", kept, tt.want)
			}
			exc := mustCompile(t, &Spec{Exclude: &f})
			if _, kept := exc.Apply(r); kept == tt.want {
				t.Errorf("exclude: kept=%v, want %v", kept, !tt.want)
			}
		})
	}
}

func TestExplainNamesTheRule(t *testing.T) {
	c := mustCompile(t, &Spec{
		Include: &FilterSpec{RRTypes: []string{"A", "AAAA", "PTR"}},
		Exclude: &FilterSpec{Zones: []string{InternalZones}, RDataCIDRs: []string{SpecialPurpose}},
		Transforms: TransformSpec{
			TruncateIP:  &TruncateSpec{IPv4: 24, IPv6: 48},
			CoarsenTime: "1h",
		},
	})
	tests := []struct {
		line, rule string
		transforms string
	}{
		{record("a.example", "MX", "10 mx.example."), "include.rrtypes", ""},
		{record("nas.lan", "A", "8.8.8.8"), "exclude.zones", ""},
		{record("a.example", "A", "192.168.1.1"), "exclude.rdata_cidrs", ""},
		{record("a.example", "A", "8.8.8.8"), "", "truncate_ip coarsen_time"},
		{`{"rrname":"a.example","rrtype":"A","rdata":"8.8.8.0","time_first":3600,"time_last":7200}`, "", "coarsen_time"}, // 8.8.8.0 is already a /24
	}
	for _, tt := range tests {
		e := c.Explain(rec(t, tt.line))
		if e.Rule != tt.rule || e.Kept != (tt.rule == "") || strings.Join(e.Transforms, " ") != tt.transforms {
			t.Errorf("%s: %+v, want rule %q transforms %q", tt.line, e, tt.rule, tt.transforms)
		}
	}
	if got := strings.Join(c.Rules(), " "); got != "include.rrtypes exclude.zones exclude.rdata_cidrs transforms.truncate_ip.embedded_address" {
		t.Errorf("Rules() = %q", got)
	}
}

func TestTransforms(t *testing.T) {
	tests := []struct {
		name string
		spec TransformSpec
		in   string
		want string
	}{
		{
			name: "truncate A and AAAA",
			spec: TransformSpec{TruncateIP: &TruncateSpec{IPv4: 24, IPv6: 48}},
			in:   `{"rrname":"a.example","rrtype":"A","rdata":["8.8.8.8","1.2.3.4"],"time_first":1,"time_last":2}`,
			want: `{"rrname":"a.example","rrtype":"A","rdata":["8.8.8.0","1.2.3.0"],"time_first":1,"time_last":2}`,
		},
		{
			name: "keep_fields keeps the draft's fields and the listed ones",
			spec: TransformSpec{KeepFields: &[]string{"seen_by"}},
			in:   `{"rrname":"a.example","rrtype":"A","rdata":"192.0.2.1","time_first":1,"time_last":2,"sensor_id":"s","origin":"o","client_ip":"10.1.2.3","seen_by":"x","nested":{"ip":"10.0.0.1"}}`,
			want: `{"rrname":"a.example","rrtype":"A","rdata":["192.0.2.1"],"time_first":1,"time_last":2,"sensor_id":"s","origin":"o","seen_by":"x"}`,
		},
		{
			name: "keep_fields: [] keeps the draft's fields only",
			spec: TransformSpec{KeepFields: &[]string{}},
			in:   `{"rrname":"a.example","rrtype":"A","rdata":"192.0.2.1","time_first":1,"time_last":2,"count":3,"bailiwick":"example","client_ip":"10.1.2.3"}`,
			want: `{"rrname":"a.example","rrtype":"A","rdata":["192.0.2.1"],"time_first":1,"time_last":2,"count":3,"bailiwick":"example"}`,
		},
		{
			// A set stays a set: the duplicates truncation makes are
			// dropped (they would also count the hosts behind the prefix).
			name: "truncation keeps an rdata set",
			spec: TransformSpec{TruncateIP: &TruncateSpec{IPv4: 24, IPv6: 48}},
			in:   `{"rrname":"a.example","rrtype":"A","rdata":["93.184.216.34","93.184.216.35","1.2.3.4","93.184.216.1"],"time_first":1,"time_last":2}`,
			want: `{"rrname":"a.example","rrtype":"A","rdata":["93.184.216.0","1.2.3.0"],"time_first":1,"time_last":2}`,
		},
		{
			name: "truncation keeps an AAAA set",
			spec: TransformSpec{TruncateIP: &TruncateSpec{IPv4: 24, IPv6: 48}},
			in:   `{"rrname":"a.example","rrtype":"AAAA","rdata":["2606:4700:1234:5678::1","2606:4700:1234:9999::2"],"time_first":1,"time_last":2}`,
			want: `{"rrname":"a.example","rrtype":"AAAA","rdata":["2606:4700:1234::"],"time_first":1,"time_last":2}`,
		},
		{
			name: "truncate AAAA",
			spec: TransformSpec{TruncateIP: &TruncateSpec{IPv4: 24, IPv6: 48}},
			in:   `{"rrname":"a.example","rrtype":"AAAA","rdata":"2606:4700:1234:5678::1","time_first":1,"time_last":2}`,
			want: `{"rrname":"a.example","rrtype":"AAAA","rdata":["2606:4700:1234::"],"time_first":1,"time_last":2}`,
		},
		{
			name: "truncate PTR owner name",
			spec: TransformSpec{TruncateIP: &TruncateSpec{IPv4: 24, IPv6: 48}},
			in:   `{"rrname":"8.8.8.8.in-addr.arpa","rrtype":"PTR","rdata":"dns.google.","time_first":1,"time_last":2}`,
			want: `{"rrname":"0.8.8.8.in-addr.arpa","rrtype":"PTR","rdata":["dns.google."],"time_first":1,"time_last":2}`,
		},
		{
			name: "truncate ip6.arpa owner name",
			spec: TransformSpec{TruncateIP: &TruncateSpec{IPv6: 48}},
			in:   `{"rrname":"1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.7.6.5.4.3.2.1.0.0.7.4.6.0.6.2.ip6.arpa","rrtype":"PTR","rdata":"h.","time_first":1,"time_last":2}`,
			want: `{"rrname":"0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.4.3.2.1.0.0.7.4.6.0.6.2.ip6.arpa","rrtype":"PTR","rdata":["h."],"time_first":1,"time_last":2}`,
		},
		{
			name: "cryptopan A (reference vector)",
			spec: TransformSpec{CryptoPAn: &KeySpec{KeyEnv: "CRYPTOPAN"}},
			in:   `{"rrname":"a.example","rrtype":"A","rdata":"128.11.68.132","time_first":1,"time_last":2}`,
			want: `{"rrname":"a.example","rrtype":"A","rdata":["135.242.180.132"],"time_first":1,"time_last":2}`,
		},
		{
			name: "cryptopan PTR owner",
			spec: TransformSpec{CryptoPAn: &KeySpec{KeyEnv: "CRYPTOPAN"}},
			in:   `{"rrname":"132.68.11.128.in-addr.arpa","rrtype":"PTR","rdata":"h.","time_first":1,"time_last":2}`,
			want: `{"rrname":"132.180.242.135.in-addr.arpa","rrtype":"PTR","rdata":["h."],"time_first":1,"time_last":2}`,
		},
		{
			name: "coarsen: floor first, ceil last, drop ms",
			spec: TransformSpec{CoarsenTime: "1h"},
			in:   `{"rrname":"a","rrtype":"A","rdata":"8.8.8.8","time_first":1700000123.5,"time_last":1700003601,"zone_time_first":7201,"zone_time_last":7201}`,
			want: `{"rrname":"a","rrtype":"A","rdata":["8.8.8.8"],"time_first":1699999200,"time_last":1700006400,"zone_time_first":7200,"zone_time_last":10800}`,
		},
		{
			name: "coarsen widens a last time on a boundary to its whole bucket",
			spec: TransformSpec{CoarsenTime: "1h"},
			in:   `{"rrname":"a","rrtype":"A","rdata":"8.8.8.8","time_first":3600,"time_last":7200}`,
			want: `{"rrname":"a","rrtype":"A","rdata":["8.8.8.8"],"time_first":3600,"time_last":10800}`,
		},
		{
			name: "coarsen widens a record seen once on a boundary",
			spec: TransformSpec{CoarsenTime: "1h"},
			in:   `{"rrname":"a","rrtype":"A","rdata":"8.8.8.8","time_first":7200,"time_last":7200}`,
			want: `{"rrname":"a","rrtype":"A","rdata":["8.8.8.8"],"time_first":7200,"time_last":10800}`,
		},
		{
			name: "coarsen drops time-like additional fields",
			spec: TransformSpec{CoarsenTime: "1h"},
			in:   `{"rrname":"a","rrtype":"A","rdata":"8.8.8.8","time_first":1,"time_last":2,"seen_at":"2026-11-30T10:11:12Z","event_ts":1764497472,"queryTime":5,"Timestamp":1,"rcode":"NOERROR"}`,
			want: `{"rrname":"a","rrtype":"A","rdata":["8.8.8.8"],"time_first":0,"time_last":3600,"rcode":"NOERROR"}`,
		},
		{
			name: "coarsen keeps a time-like field keep_fields names",
			spec: TransformSpec{CoarsenTime: "1h", KeepFields: &[]string{"seen_at"}},
			in:   `{"rrname":"a","rrtype":"A","rdata":"8.8.8.8","time_first":1,"time_last":2,"seen_at":"x","event_ts":1}`,
			want: `{"rrname":"a","rrtype":"A","rdata":["8.8.8.8"],"time_first":0,"time_last":3600,"seen_at":"x"}`,
		},
		{
			name: "bucket count",
			spec: TransformSpec{BucketCount: []int64{1, 10, 100, 1000}},
			in:   `{"rrname":"a","rrtype":"A","rdata":"8.8.8.8","time_first":1,"time_last":2,"count":457}`,
			want: `{"rrname":"a","rrtype":"A","rdata":["8.8.8.8"],"time_first":1,"time_last":2,"count":100}`,
		},
		{
			name: "bucket count below the first",
			spec: TransformSpec{BucketCount: []int64{10, 100}},
			in:   `{"rrname":"a","rrtype":"A","rdata":"8.8.8.8","time_first":1,"time_last":2,"count":3}`,
			want: `{"rrname":"a","rrtype":"A","rdata":["8.8.8.8"],"time_first":1,"time_last":2,"count":0}`,
		},
		{
			name: "drop fields",
			spec: TransformSpec{DropFields: []string{"origin", "count", "futureField", "zone_time_first", "time_first_ms"}},
			in:   `{"rrname":"a","rrtype":"A","rdata":"8.8.8.8","time_first":1.5,"time_last":2,"count":3,"origin":"x","zone_time_first":1,"zone_time_last":1,"futureField":[1],"keep":true}`,
			want: `{"rrname":"a","rrtype":"A","rdata":["8.8.8.8"],"time_first":1,"time_last":2,"keep":true}`,
		},
		{
			name: "set fields",
			spec: TransformSpec{SetFields: map[string]string{"origin": "https://exchange.example/", "shared_by": "exchange \"x\"", "bailiwick": "Example."}},
			in:   `{"rrname":"a.example","rrtype":"A","rdata":"8.8.8.8","time_first":1,"time_last":2,"origin":"https://sensor/","shared_by":"old"}`,
			want: `{"rrname":"a.example","rrtype":"A","rdata":["8.8.8.8"],"time_first":1,"time_last":2,"bailiwick":"example","origin":"https://exchange.example/","shared_by":"exchange \"x\""}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := testEnv()
			env.Getenv = func(k string) string {
				if k == "CRYPTOPAN" {
					return fmt.Sprintf("%x", cryptoPAnKey)
				}
				return ""
			}
			c, err := Compile("t", &Spec{Transforms: tt.spec}, env)
			if err != nil {
				t.Fatal(err)
			}
			in := rec(t, tt.in)
			before := string(in.AppendJSON(nil))
			out, kept := c.Apply(in)
			if !kept {
				t.Fatal("withheld")
			}
			if got := string(out.AppendJSON(nil)); got != tt.want {
				t.Errorf("\n got: %s\nwant: %s", got, tt.want)
			}
			if after := string(in.AppendJSON(nil)); after != before {
				t.Errorf("the input record was modified:\n%s\n%s", before, after)
			}
			// The output is a valid record: it survives a round trip.
			if _, err := cof.Parse(out.AppendJSON(nil)); err != nil {
				t.Errorf("output does not parse: %v", err)
			}
		})
	}
}

func TestPseudonyms(t *testing.T) {
	compile := func(keyFile string) *Compiled {
		return mustCompile(t, &Spec{Transforms: TransformSpec{PseudonymiseSensor: &PseudonymSpec{KeyFile: keyFile}}})
	}
	a1, a2, b := compile("/keys/a"), compile("/keys/a"), compile("/keys/b")
	sensor := func(c *Compiled, id string) string {
		r := rec(t, `{"rrname":"a","rrtype":"A","rdata":"8.8.8.8","time_first":1,"time_last":2,"sensor_id":"`+id+`"}`)
		out, _ := c.Apply(r)
		return out.SensorID
	}
	p := sensor(a1, "org-a-s1")
	if !strings.HasPrefix(p, "pseudo-") || len(p) != len("pseudo-")+16 || strings.Contains(p, "org-a") {
		t.Errorf("pseudonym %q", p)
	}
	if sensor(a1, "org-a-s1") != p || sensor(a2, "org-a-s1") != p {
		t.Error("pseudonyms are not stable under one key")
	}
	if sensor(b, "org-a-s1") == p {
		t.Error("two keys give the same pseudonym: peers could link their views")
	}
	if sensor(a1, "org-a-s2") == p {
		t.Error("two sensors share a pseudonym")
	}
	custom := mustCompile(t, &Spec{Transforms: TransformSpec{PseudonymiseSensor: &PseudonymSpec{KeyEnv: "KEY_A", Prefix: "anon:", Length: 8}}})
	if got := sensor(custom, "org-a-s1"); !strings.HasPrefix(got, "anon:") || len(got) != 13 || got[5:] != p[7:15] {
		t.Errorf("custom pseudonym %q (from the same key as %q)", got, p)
	}
}

func TestHashLabels(t *testing.T) {
	c := mustCompile(t, &Spec{Transforms: TransformSpec{HashLabels: &KeySpec{KeyFile: "/keys/a"}}})
	c2 := mustCompile(t, &Spec{Transforms: TransformSpec{HashLabels: &KeySpec{KeyFile: "/keys/b"}}})
	name := func(c *Compiled, n string) string {
		out, _ := c.Apply(rec(t, record(n, "A", "8.8.8.8")))
		return out.RRName
	}
	got := name(c, "secret-host.internal-dept.example.co.uk")
	labels := strings.Split(got, ".")
	if len(labels) != 5 || !strings.HasSuffix(got, ".example.co.uk") || strings.Contains(got, "secret") || len(labels[0]) != 13 {
		t.Errorf("hashed name %q", got)
	}
	if name(c, "www.example.co.uk") != name(c, "www.example.co.uk") || name(c2, "www.example.co.uk") == name(c, "www.example.co.uk") {
		t.Error("label hashes are not stable under a key, or equal across keys")
	}
	for _, n := range []string{"example.co.uk", "co.uk", "8.8.8.8.in-addr.arpa"} {
		if got := name(c, n); got != n {
			t.Errorf("%s hashed to %s; the registered domain and reverse names stay", n, got)
		}
	}
	// The bailiwick is hashed as a name would be, whether or not it is
	// above the hashed labels.
	for _, tc := range []struct{ name, bailiwick string }{
		{"www.shop.example.co.uk", "example.co.uk"},
		{"www.shop.example.co.uk", "shop.example.co.uk"},
		{"www.shop.example.co.uk", "co.uk"},
		{"www.shop.example.co.uk", "www.shop.example.co.uk"},
		{"www.shop.example.co.uk", "other.example.org"},
		{"example.co.uk", "xample.co.uk"},
	} {
		line := fmt.Sprintf(`{"rrname":%q,"rrtype":"A","rdata":["8.8.8.8"],"time_first":1,"time_last":2,"bailiwick":%q}`, tc.name, tc.bailiwick)
		out, _ := c.Apply(rec(t, line))
		if want := name(c, tc.bailiwick); out.Bailiwick != want {
			t.Errorf("%s under %s: bailiwick %s, want %s", tc.name, tc.bailiwick, out.Bailiwick, want)
		}
	}
	// The name cache answers as the computation does, under its own key,
	// and holds no more names than its size.
	h := &labelHasher{key: []byte("k"), cache: newStringCache(labelCacheSize), names: newStringCache(nameCacheSize)}
	for i := range 3 * nameCacheSize / 2 {
		n := fmt.Sprintf("h%d.b.example.org", i%(nameCacheSize+7))
		if got, want := h.name(n), h.hashName(n); got != want {
			t.Fatalf("%s: cached %s, computed %s", n, got, want)
		}
	}
	if entries := h.names.len(); entries > nameCacheSize || entries < nameCacheSize/2 {
		t.Errorf("name cache holds %d entries, limit %d", entries, nameCacheSize)
	}
}

// TestAddressTransformsKeepAddrs: a transform that rewrites addresses
// rewrites the parsed copies with them, so that nothing later reads a
// stale address, and builds them in the scratch space, never in the
// input's.
func TestAddressTransformsKeepAddrs(t *testing.T) {
	c := mustCompile(t, &Spec{Transforms: TransformSpec{TruncateIP: &TruncateSpec{IPv4: 24, IPv6: 48}}})
	var scratch Scratch // shared by the records, as a worker does
	for _, line := range []string{
		`{"rrname":"a.example","rrtype":"A","rdata":["192.0.2.77","198.51.100.200"],"time_first":1,"time_last":2}`,
		`{"rrname":"a.example","rrtype":"AAAA","rdata":["2001:db8:1:2::1"],"time_first":1,"time_last":2}`,
	} {
		in := rec(t, line)
		if len(in.Addrs) != len(in.RData) {
			t.Fatalf("parsed %s without its addresses: %v", in.RData, in.Addrs)
		}
		before := slices.Clone(in.RData)
		out, _ := c.ApplyTo(&scratch, in)
		for i, v := range out.RData {
			a, ok := out.Addr(i)
			if !ok || a.String() != v || len(out.Addrs) != len(out.RData) {
				t.Errorf("rdata %s but address %v (%v)", v, a, out.Addrs)
			}
		}
		if !slices.Equal(in.RData, before) || slices.Equal(out.RData, before) {
			t.Errorf("input %v -> %v, output %v", before, in.RData, out.RData)
		}
	}
}

func TestTimeOrderHoldsAfterCoarsening(t *testing.T) {
	for _, bucket := range []string{"1s", "8s", "1h", "1d", "30d"} {
		c := mustCompile(t, &Spec{Transforms: TransformSpec{CoarsenTime: bucket}})
		for _, pair := range [][2]int64{{0, 0}, {1, 1}, {59, 61}, {1700000000, 1700000000}, {1700000001, 1700000002}, {cof.MaxTime - 5, cof.MaxTime}} {
			r := rec(t, fmt.Sprintf(`{"rrname":"a","rrtype":"A","rdata":"8.8.8.8","time_first":%d,"time_last":%d}`, pair[0], pair[1]))
			out, _ := c.Apply(r)
			if out.TimeFirst > out.TimeLast || out.TimeFirst > pair[0] || out.TimeLast < pair[1] || out.TimeLast > cof.MaxTime {
				t.Errorf("%s on %v: %d..%d", bucket, pair, out.TimeFirst, out.TimeLast)
			}
			if _, err := cof.Parse(out.AppendJSON(nil)); err != nil {
				t.Errorf("%s on %v: output invalid: %v", bucket, pair, err)
			}
		}
	}
}

func TestCompileErrors(t *testing.T) {
	tests := []struct {
		name string
		spec Spec
		want []string
	}{
		{"bad rrtype", Spec{Include: &FilterSpec{RRTypes: []string{"BOGUS"}}}, []string{`policies.p.include.rrtypes[0]: unknown rrtype "BOGUS"`}},
		{"bad zone", Spec{Exclude: &FilterSpec{Zones: []string{"a..b"}}}, []string{"policies.p.exclude.zones[0]", "empty label"}},
		{"bad regex", Spec{Include: &FilterSpec{Regex: []string{"("}}}, []string{"policies.p.include.regex[0]", "missing closing )"}},
		{"bad cidr", Spec{Exclude: &FilterSpec{RDataCIDRs: []string{"10.0.0.0/33"}}}, []string{"policies.p.exclude.rdata_cidrs[0]"}},
		{"bad age", Spec{Include: &FilterSpec{MaxAge: "ages"}}, []string{"policies.p.include.max_age: bad duration"}},
		{"min above max", Spec{Include: &FilterSpec{MinCount: i64(5), MaxCount: i64(2)}}, []string{"min_count: 5 is above max_count 2"}},
		{"mandatory has_fields", Spec{Include: &FilterSpec{HasFields: []string{"rrname"}}}, []string{"rrname is mandatory"}},
		{"bad tlp", Spec{TLP: "WHITE"}, []string{"policies.p.tlp", "TLP 2.0 calls it CLEAR"}},
		{"no key", Spec{Transforms: TransformSpec{PseudonymiseSensor: &PseudonymSpec{}}}, []string{"pseudonymise_sensor: needs a key"}},
		{"both keys", Spec{Transforms: TransformSpec{HashLabels: &KeySpec{KeyFile: "/keys/a", KeyEnv: "KEY_A"}}}, []string{"not both"}},
		{"missing key file", Spec{Transforms: TransformSpec{HashLabels: &KeySpec{KeyFile: "/keys/none"}}}, []string{"hash_labels.key_file", "does not exist"}},
		{"unset key env", Spec{Transforms: TransformSpec{HashLabels: &KeySpec{KeyEnv: "NOPE"}}}, []string{"NOPE is empty or unset"}},
		{"short key", Spec{Transforms: TransformSpec{HashLabels: &KeySpec{KeyFile: "/keys/short"}}}, []string{"the key has 2 bytes, want at least 16"}},
		{"text key", Spec{Transforms: TransformSpec{HashLabels: &KeySpec{KeyFile: "/keys/text"}}}, []string{"not hexadecimal"}},
		{"cryptopan key length", Spec{Transforms: TransformSpec{CryptoPAn: &KeySpec{KeyEnv: "KEY_A"}, TruncateIP: &TruncateSpec{IPv4: 24}}}, []string{"exclude each other"}},
		{"truncate range", Spec{Transforms: TransformSpec{TruncateIP: &TruncateSpec{IPv4: 33, IPv6: -1}}}, []string{"ipv4: 33 is not in 0..32", "ipv6: -1"}},
		{"truncate nothing", Spec{Transforms: TransformSpec{TruncateIP: &TruncateSpec{}}}, []string{"give ipv4 and/or ipv6"}},
		{"coarsen", Spec{Transforms: TransformSpec{CoarsenTime: "1.5s"}}, []string{"coarsen_time: bad duration"}},
		{"buckets", Spec{Transforms: TransformSpec{BucketCount: []int64{10, 1}}}, []string{"strictly increasing"}},
		{"drop mandatory", Spec{Transforms: TransformSpec{DropFields: []string{"rdata"}}}, []string{"drop_fields[0]: rdata is mandatory"}},
		{"set numeric", Spec{Transforms: TransformSpec{SetFields: map[string]string{"count": "5"}}}, []string{"set_fields.count: only string fields"}},
		{"pseudonym length", Spec{Transforms: TransformSpec{PseudonymiseSensor: &PseudonymSpec{KeyEnv: "KEY_A", Length: 4}}}, []string{"4 hex digits"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Compile("p", &tt.spec, testEnv())
			if err == nil {
				t.Fatal("compiled")
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error does not wrap ErrInvalid: %v", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if strings.Contains(err.Error(), keyA) || strings.Contains(err.Error(), "not hex at all") {
				t.Errorf("error leaks key material: %v", err)
			}
		})
	}
}

func TestSetAndTLP(t *testing.T) {
	s, err := CompileSet("v7", map[string]*Spec{"share": {TLP: "amber+strict"}}, testEnv())
	if err != nil {
		t.Fatal(err)
	}
	if s.Version() != "v7" || strings.Join(s.Names(), ",") != "pass,share" {
		t.Errorf("set %q %v", s.Version(), s.Names())
	}
	p, _ := s.Lookup("share")
	if p.TLP() != TLPAmberStrict || p.TLP().Header() != "TLP:AMBER+STRICT" {
		t.Errorf("TLP %q", p.TLP())
	}
	if _, err := CompileSet("v8", map[string]*Spec{"pass": {}, "x": {TLP: "puce"}}, testEnv()); err == nil ||
		!strings.Contains(err.Error(), `reserved`) || !strings.Contains(err.Error(), "puce") {
		t.Errorf("every error of every policy is reported: %v", err)
	}
	for in, want := range map[string]TLP{"TLP:RED": TLPRed, "clear": TLPClear, " Green ": TLPGreen, "": ""} {
		if got, err := ParseTLP(in); err != nil || got != want {
			t.Errorf("ParseTLP(%q) = %q, %v", in, got, err)
		}
	}
}
