package policy

import (
	"testing"
)

// benchLine is a realistic record that passes the typical policy.
const benchLine = `{"rrname":"www.example-shop.co.uk","rrtype":"A","rdata":["203.0.114.17"],"time_first":1700000000,"time_last":1700086400,"count":42,"bailiwick":"example-shop.co.uk","sensor_id":"cert-xy-resolver-1"}`

var typicalFilters = FilterSpec{RRTypes: []string{"A", "AAAA", "CNAME", "NS", "MX", "TXT", "PTR", "SRV", "SOA"}}
var typicalExcludes = FilterSpec{Zones: []string{InternalZones}, RDataCIDRs: []string{SpecialPurpose}}

// BenchmarkFilters: rrtype set + internal zones + special-purpose
// exclusion, on a record that passes them all (the most work).
func BenchmarkFilters(b *testing.B) {
	c := mustCompile(b, &Spec{Include: &typicalFilters, Exclude: &typicalExcludes})
	r := rec(b, benchLine)
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := c.Apply(r); !ok {
			b.Fatal("withheld")
		}
	}
}

// typicalSpec is the typical policy: rrtype set, internal zones,
// special-purpose exclusion, sensor pseudonym, /24 and /48, 1 h.
func typicalSpec() *Spec {
	return &Spec{
		Include: &typicalFilters,
		Exclude: &typicalExcludes,
		Transforms: TransformSpec{
			PseudonymiseSensor: &PseudonymSpec{KeyFile: "/keys/a"},
			TruncateIP:         &TruncateSpec{IPv4: 24, IPv6: 48},
			CoarsenTime:        "1h",
		},
	}
}

// BenchmarkTypicalPolicy: the filters above, then a sensor pseudonym, /24
// and /48 truncation and 1 h coarsening.
func BenchmarkTypicalPolicy(b *testing.B) {
	c := mustCompile(b, typicalSpec())
	r := rec(b, benchLine)
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := c.Apply(r); !ok {
			b.Fatal("withheld")
		}
	}
}

// BenchmarkTypicalPolicyEncoded adds writing the result, as the switch does.
func BenchmarkTypicalPolicyEncoded(b *testing.B) {
	c := mustCompile(b, typicalSpec())
	r := rec(b, benchLine)
	buf := make([]byte, 0, 512)
	b.ReportAllocs()
	for b.Loop() {
		out, _ := c.Apply(r)
		buf = out.AppendLine(buf[:0])
	}
}

// BenchmarkFiltersRDataNames: the filters above on an MX record, whose
// exchanger's name is read and looked up in the internal zones too.
func BenchmarkFiltersRDataNames(b *testing.B) {
	c := mustCompile(b, &Spec{Include: &typicalFilters, Exclude: &typicalExcludes})
	r := rec(b, `{"rrname":"example-shop.co.uk","rrtype":"MX","rdata":["10 Mail.Example-Shop.co.uk."],"time_first":1700000000,"time_last":1700086400,"bailiwick":"example-shop.co.uk"}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := c.Apply(r); !ok {
			b.Fatal("withheld")
		}
	}
}

// BenchmarkHashLabels: hash_labels on an MX record whose owner and
// exchanger are both hashed (memoised after the first round).
func BenchmarkHashLabels(b *testing.B) {
	c := mustCompile(b, &Spec{Transforms: TransformSpec{HashLabels: &KeySpec{KeyFile: "/keys/a"}}})
	r := rec(b, `{"rrname":"shop.example-shop.co.uk","rrtype":"MX","rdata":["10 mail.example-shop.co.uk."],"time_first":1700000000,"time_last":1700086400,"bailiwick":"example-shop.co.uk"}`)
	var s Scratch
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := c.ApplyTo(&s, r); !ok {
			b.Fatal("withheld")
		}
	}
}

// BenchmarkEmbeddedAddresses: exclude.embedded_cidrs [special-purpose] on
// records that pass it, from names without digits (the common case) to
// names and text that must be read.
func BenchmarkEmbeddedAddresses(b *testing.B) {
	c := mustCompile(b, &Spec{Exclude: &FilterSpec{EmbeddedCIDRs: []string{SpecialPurpose}}})
	for _, bc := range []struct{ name, line string }{
		{"no-digits", benchLine},
		{"digits", record("web01.cdn-3.example.com", "CNAME", "edge-2.example.net.")},
		{"public-dashed", record("host-93-184-216-34.example.com", "A", "93.184.216.34")},
		{"public-IPv6-dashed", record("2606-4700--1111.sslip.io", "AAAA", "2606:4700::1111")},
		{"TXT-SPF", record("example.com", "TXT", `"v=spf1 ip4:93.184.216.0/24 ip6:2606:4700::/32 include:_spf.example.com ~all"`)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			r := rec(b, bc.line)
			b.ReportAllocs()
			for b.Loop() {
				if _, ok := c.Apply(r); !ok {
					b.Fatal("withheld")
				}
			}
		})
	}
}
