package cof

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// addGoldenSeeds seeds a fuzz target with every line of the golden inputs.
func addGoldenSeeds(f *testing.F, add func(line []byte)) {
	files, _ := filepath.Glob("testdata/golden/*.ndjson")
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		for _, line := range bytes.Split(data, []byte{'\n'}) {
			add(line)
		}
	}
}

// FuzzParse checks that no line makes the parser panic, and that every
// accepted record encodes to a line that parses back to the same record
// and encodes to the same bytes again.
func FuzzParse(f *testing.F) {
	addGoldenSeeds(f, func(line []byte) { f.Add(line) })
	var p Parser
	f.Fuzz(func(t *testing.T, line []byte) {
		var r Record
		if err := p.Parse(line, &r); err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("error %T is not *cof.Error: %v", err, err)
			}
			return
		}
		enc := r.AppendJSON(nil)
		if err := checkPeerConstraints(enc); err != nil {
			t.Fatalf("output fails peer constraints: %v\ninput: %q", err, line)
		}
		var back Record
		if err := p.Parse(enc, &back); err != nil {
			t.Fatalf("re-parse of %s failed: %v\ninput: %q", enc, err, line)
		}
		if !back.Equal(&r) {
			t.Fatalf("round trip changed the record\ninput: %q\nfirst:  %+v\nsecond: %+v", line, r, back)
		}
		if enc2 := back.AppendJSON(nil); !bytes.Equal(enc, enc2) {
			t.Fatalf("encoding is not idempotent\nonce:  %s\ntwice: %s", enc, enc2)
		}
	})
}

// FuzzBatch feeds arbitrary payloads to the batch decoder under every
// encoding: it must fail cleanly or yield records that round-trip.
func FuzzBatch(f *testing.F) {
	c, err := NewCodec(WithMaxBatchBytes(1<<20), WithMaxRecords(1000))
	if err != nil {
		f.Fatal(err)
	}
	defer c.Close()
	body := realistic(20)
	for i, enc := range []Encoding{Identity, Zstd, S2} {
		p, _ := c.Compress(nil, body, enc)
		f.Add(p, byte(i))
	}
	addGoldenSeeds(f, func(line []byte) { f.Add(line, byte(0)) })
	encodings := []Encoding{Identity, Zstd, S2}
	br := c.NewBatchReader()
	f.Fuzz(func(t *testing.T, payload []byte, e byte) {
		enc := encodings[int(e)%len(encodings)]
		if err := br.Reset(payload, enc); err != nil {
			return
		}
		for br.Next() {
			r := br.Record()
			if r == nil {
				if br.LineErr() == nil {
					t.Fatal("nil record without an error")
				}
				continue
			}
			back, err := Parse(r.AppendJSON(nil))
			if err != nil || !back.Equal(r) {
				t.Fatalf("record from batch does not round-trip: %v", err)
			}
		}
	})
}
