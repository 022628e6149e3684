package dnstap

import (
	"runtime"
	"testing"

	"github.com/miekg/dns"

	"github.com/cofswitch/cofswitch/cof"
)

// benchFrames are resolver responses as a busy resolver logs them: plain
// addresses, a CNAME chain to a CDN, an MX answer, with EDNS.
func benchFrames(b *testing.B) [][]byte {
	edns := []string{". 0 CLASS1232 OPT"}
	answers := []struct {
		name   string
		qtype  uint16
		zone   string
		answer []string
	}{
		{name: "www.example.com.", qtype: dns.TypeA, zone: "example.com", answer: []string{
			"www.example.com. 300 IN A 192.0.2.1", "www.example.com. 300 IN A 192.0.2.2"}},
		{name: "static.example.com.", qtype: dns.TypeAAAA, zone: "example.com", answer: []string{
			"static.example.com. 300 IN AAAA 2001:db8::1"}},
		{name: "shop.example.org.", qtype: dns.TypeA, answer: []string{
			"shop.example.org. 300 IN CNAME shop.example.org.cdn.example.net.",
			"shop.example.org.cdn.example.net. 60 IN CNAME e123.a.example-cdn.net.",
			"e123.a.example-cdn.net. 20 IN A 198.51.100.10", "e123.a.example-cdn.net. 20 IN A 198.51.100.11"}},
		{name: "example.com.", qtype: dns.TypeMX, zone: "example.com", answer: []string{
			"example.com. 3600 IN MX 10 mx1.example.com.", "example.com. 3600 IN MX 20 mx2.example.com."}},
	}
	var frames [][]byte
	for _, a := range answers {
		frames = append(frames, frame(b, msg(resolverResponse, wire(b, a.name, a.qtype, a.answer, nil, edns), a.zone)))
	}
	return frames
}

// BenchmarkFrameToLines measures dnstap frames (protobuf bytes) to COF
// lines on one core: unmarshal, DNS parsing, grouping, AppendLine.
func BenchmarkFrameToLines(b *testing.B) {
	frames := benchFrames(b)
	c, err := NewConverter(quiet)
	if err != nil {
		b.Fatal(err)
	}
	var out []byte
	records := 0
	emit := func(r *cof.Record) {
		out = r.AppendLine(out[:0])
		records++
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if err := c.ConvertFrame(frames[i%len(frames)], emit); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "frames/s")
	b.ReportMetric(float64(records)/float64(b.N), "records/frame")
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/float64(records), "allocs/record")
}
