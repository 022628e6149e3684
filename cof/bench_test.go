package cof

import (
	"runtime"
	"testing"
)

// benchRecord is a realistic passive DNS record of about 200 bytes.
var benchRecord = []byte(`{"rrname":"www.example-shop.co.uk","rrtype":"A","rdata":["203.0.113.17"],"time_first":1700000000,"time_last":1700086400,"count":42,"bailiwick":"example-shop.co.uk","sensor_id":"cert-xy-resolver-1"}`)

// BenchmarkParse measures parse + validate + normalise of one record.
func BenchmarkParse(b *testing.B) { benchParse(b) }

func benchParse(b *testing.B) {
	var p Parser
	var r Record
	b.ReportAllocs()
	b.SetBytes(int64(len(benchRecord)))
	for b.Loop() {
		if err := p.Parse(benchRecord, &r); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseSeed measures the seed example: fractional times, AAAA.
func BenchmarkParseSeed(b *testing.B) {
	line := []byte(`{"time_first": 1625639658.6788542, "time_last": 1625639658.6788542, "rrtype": "AAAA", "rrname": "storyportal.ch", "rdata": "2a00:d70:0:b:2002:0:d91a:3dc6", "sensor_id": "circl-feed-ipv6-ct-newlyseen-aaaa"}`)
	var p Parser
	var r Record
	b.ReportAllocs()
	b.SetBytes(int64(len(line)))
	for b.Loop() {
		if err := p.Parse(line, &r); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEncode measures writing one record as canonical NDJSON.
func BenchmarkEncode(b *testing.B) { benchEncode(b) }

func benchEncode(b *testing.B) {
	r, err := Parse(benchRecord)
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 0, 512)
	b.ReportAllocs()
	b.SetBytes(int64(len(r.AppendLine(nil))))
	for b.Loop() {
		buf = r.AppendLine(buf[:0])
	}
}

// BenchmarkBatchZstd decodes and parses a 500-record zstd batch, as the
// switch does for each input message, and reports per-record figures.
func BenchmarkBatchZstd(b *testing.B) {
	const n = 500
	c, err := NewCodec()
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	var body []byte
	for range n {
		body = append(body, benchRecord...)
		body = append(body, '\n')
	}
	payload, err := c.Compress(nil, body, Zstd)
	if err != nil {
		b.Fatal(err)
	}
	br := c.NewBatchReader()
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for b.Loop() {
		if err := br.Reset(payload, Zstd); err != nil {
			b.Fatal(err)
		}
		for br.Next() {
			if br.LineErr() != nil {
				b.Fatal(br.LineErr())
			}
		}
	}
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/float64(b.N*n), "allocs/record")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/record")
}
