package policy

import (
	"net/netip"
	"testing"
)

// The key and pairs published with the reference implementation
// (Crypto-PAn 1.0, sample_trace_raw.txt / sample_trace_sanitized.txt).
var cryptoPAnKey = []byte{21, 34, 23, 141, 51, 164, 207, 128, 19, 10, 91, 22, 73, 144, 125, 16,
	216, 152, 143, 131, 121, 121, 101, 39, 98, 87, 76, 45, 42, 132, 34, 2}

func TestCryptoPAnReferenceVector(t *testing.T) {
	c, err := NewCryptoPAn(cryptoPAnKey, 1024)
	if err != nil {
		t.Fatal(err)
	}
	vectors := []struct{ in, out string }{
		{"128.11.68.132", "135.242.180.132"},
		{"129.118.74.4", "134.136.186.123"},
		{"130.132.252.244", "133.68.164.234"},
		{"141.223.7.43", "141.167.8.160"},
		{"141.233.145.108", "141.129.237.235"},
		{"152.163.225.39", "151.140.114.167"},
		{"156.29.3.236", "147.225.12.42"},
		{"165.247.96.84", "162.9.99.234"},
		{"166.107.77.190", "160.132.178.185"},
		{"192.102.249.13", "252.138.62.131"},
	}
	for _, v := range vectors {
		for round := 0; round < 2; round++ { // computed, then cached
			got := c.Anonymize(netip.MustParseAddr(v.in))
			if got.String() != v.out {
				t.Errorf("round %d: %s -> %s, want %s", round, v.in, got, v.out)
			}
		}
	}
}

func TestCryptoPAnPreservesPrefixes(t *testing.T) {
	c, _ := NewCryptoPAn(cryptoPAnKey, 1024)
	pairs := []struct {
		a, b   string
		common int
	}{
		{"10.1.2.3", "10.1.2.200", 24},
		{"10.1.2.3", "10.1.130.3", 16},
		{"2001:db8:1:2::1", "2001:db8:1:2::ffff", 112},
		{"2001:db8:1:2::1", "2001:db8:1:3::1", 63},
	}
	for _, p := range pairs {
		a, b := c.Anonymize(netip.MustParseAddr(p.a)), c.Anonymize(netip.MustParseAddr(p.b))
		if got := commonPrefix(a, b); got != p.common {
			t.Errorf("%s, %s -> %s, %s: common prefix %d bits, want %d", p.a, p.b, a, b, got, p.common)
		}
	}
	if _, err := NewCryptoPAn(make([]byte, 16), 10); err == nil {
		t.Error("16-byte key accepted")
	}
}

func commonPrefix(a, b netip.Addr) int {
	x, y := a.As16(), b.As16()
	n := 0
	for i := range x {
		for bit := 7; bit >= 0; bit-- {
			if (x[i]>>bit)&1 != (y[i]>>bit)&1 {
				return n - 96*btoi(a.Is4())
			}
			n++
		}
	}
	return n
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func BenchmarkCryptoPAnCached(b *testing.B) {
	c, _ := NewCryptoPAn(cryptoPAnKey, 1<<16)
	a := netip.MustParseAddr("128.11.68.132")
	c.Anonymize(a)
	b.ReportAllocs()
	for b.Loop() {
		c.Anonymize(a)
	}
}

func BenchmarkCryptoPAnUncachedIPv4(b *testing.B) {
	c, _ := NewCryptoPAn(cryptoPAnKey, 1<<16)
	a := netip.MustParseAddr("128.11.68.132")
	b.ReportAllocs()
	for b.Loop() {
		c.compute(a)
	}
}
