package db

import (
	"bytes"
	"strings"
	"testing"
)

// FuzzDiskValue: whatever bytes a value holds (a damaged file, a future
// format), decoding and merging them never panic, and what encodes
// decodes back to itself.
func FuzzDiskValue(f *testing.F) {
	s := &RRset{RData: []string{"192.0.2.1", "x"}, TimeFirst: 1, TimeLast: 2, Count: 3, Bailiwick: "example", Sensors: []string{"s1"},
		HasZoneTimes: true, ZoneTimeFirst: 4, ZoneTimeLast: 5}
	f.Add(appendValue(nil, s, true), appendValue(nil, s, false))
	f.Add([]byte{valueVersion}, []byte{valueVersion, 0})
	f.Add([]byte{valueVersion, 0, 2, 4, 6, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f}, []byte{})
	f.Fuzz(func(t *testing.T, a, b []byte) {
		var x RRset
		if decodeValue(a, &x) == nil {
			again := appendValue(nil, &x, len(x.RData) > 0)
			var y RRset
			if err := decodeValue(again, &y); err != nil || !bytes.Equal(appendValue(nil, &y, len(y.RData) > 0), again) {
				t.Fatalf("%x decodes to %+v, which does not round-trip: %v", a, x, err)
			}
		}
		m, err := merger.Merge(rrsetsKeyForFuzz, a)
		if err != nil {
			return
		}
		if m.MergeNewer(b) == nil {
			if _, c, err := m.Finish(true); err == nil && c != nil {
				c.Close()
			}
		}
		if _, err := merger.Merge([]byte{spaceSketch, 'r'}, a); err == nil {
			return
		}
	})
}

var rrsetsKeyForFuzz = []byte{spaceRRset, 'x'}

// FuzzQueries: any query value reads without a panic, and what it reads
// as a name is canonical.
func FuzzQueries(f *testing.F) {
	for _, s := range []string{"www.example.com.", "*.Example.COM", "www.example.*", "192.0.2.1", "2001:db8::1", "10 mx.example.",
		`"v=spf1 -all"`, "*.", ".*", "*", ".", "a\\.b.example", "a\\000b", "bücher.example", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		q := ParseRDataQuery(v)
		// A name whose first label is a literal "*" (a DNS wildcard
		// record, written \* in the query) reads back as a wildcard: the
		// query syntax cannot tell them apart, as DNSDB's cannot.
		if q.Name != "" && !strings.HasPrefix(q.Name, "*.") && !strings.HasSuffix(q.Name, ".*") {
			if kind, lit, ok := ParseNameQuery(q.Name); !ok || kind != 0 || lit != q.Name {
				t.Fatalf("%q: name %q reads back as %q (%v)", v, q.Name, lit, ok)
			}
		}
		_, _, _ = ParseNameQuery(v)
		if got, want := appendReversed(nil, v), appendEscaped(nil, reverseName(v)); !bytes.Equal(got, want) {
			t.Fatalf("%q: appendReversed %q, want %q", v, got, want)
		}
		k := appendEscaped(nil, v)
		got, rest, ok := readEscaped(appendTerm(k))
		if !ok || string(got) != v || len(rest) != 0 {
			t.Fatalf("%q escapes to %x, reads back %q %x %v", v, k, got, rest, ok)
		}
	})
}
