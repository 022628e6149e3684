package cof

import (
	"encoding/json"
	"testing"
)

// stdRecord is a COF record as encoding/json reads and writes it: the
// fields of benchRecord, no validation, no normalisation, no unknown
// fields kept. What the standard library does here is less than what
// Parse and AppendLine do, so it bounds its cost from below.
type stdRecord struct {
	RRName    string   `json:"rrname"`
	RRType    string   `json:"rrtype"`
	RData     []string `json:"rdata"`
	TimeFirst int64    `json:"time_first"`
	TimeLast  int64    `json:"time_last"`
	Count     int64    `json:"count,omitempty"`
	Bailiwick string   `json:"bailiwick,omitempty"`
	SensorID  string   `json:"sensor_id,omitempty"`
}

// stdCodec is a standard-library JSON codec under comparison.
type stdCodec struct {
	name      string
	unmarshal func([]byte, any) error
	marshal   func(any) ([]byte, error)
}

// stdCodecs are encoding/json and, built with GOEXPERIMENT=jsonv2,
// encoding/json/v2 (bench_jsonv2_test.go).
var stdCodecs = []stdCodec{{"encoding-json", json.Unmarshal, json.Marshal}}

// BenchmarkAgainstStdlib runs the hand-written codec beside the standard
// library's in one run, on the same ~200-byte record: parse (with
// validation and normalisation for cof) and encode.
//
//	go test ./cof -run '^$' -bench AgainstStdlib
//	GOEXPERIMENT=jsonv2 go test ./cof -run '^$' -bench AgainstStdlib
func BenchmarkAgainstStdlib(b *testing.B) {
	b.Run("parse/cof", benchParse)
	for _, c := range stdCodecs {
		b.Run("parse/"+c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(benchRecord)))
			for b.Loop() {
				var r stdRecord
				if err := c.unmarshal(benchRecord, &r); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("encode/cof", benchEncode)
	var sr stdRecord
	if err := json.Unmarshal(benchRecord, &sr); err != nil {
		b.Fatal(err)
	}
	for _, c := range stdCodecs {
		b.Run("encode/"+c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.marshal(&sr); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
