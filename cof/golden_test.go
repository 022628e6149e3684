package cof

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files")

// normaliseFile renders what a reader makes of in: one canonical record
// per valid line, "# line N: reason" per invalid line.
func normaliseFile(t *testing.T, in []byte) []byte {
	t.Helper()
	rd, err := NewReader(bytes.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	var out []byte
	for rd.Next() {
		if err := rd.LineErr(); err != nil {
			out = append(out, "# "+err.Error()+"\n"...)
			continue
		}
		out = rd.Record().AppendLine(out)
	}
	if err := rd.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestGolden(t *testing.T) {
	inputs, err := filepath.Glob("testdata/golden/*.ndjson")
	if err != nil || len(inputs) == 0 {
		t.Fatalf("no golden inputs: %v", err)
	}
	for _, in := range inputs {
		t.Run(filepath.Base(in), func(t *testing.T) {
			src, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			got := normaliseFile(t, src)
			golden := strings.TrimSuffix(in, ".ndjson") + ".golden"
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./cof -update)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("output differs from %s (run go test ./cof -update and review the diff)\n got:\n%s\nwant:\n%s", golden, got, want)
			}

			// Idempotence: the canonical lines normalise to themselves.
			var canon []byte
			for _, l := range bytes.SplitAfter(got, []byte{'\n'}) {
				if len(l) > 0 && l[0] != '#' {
					canon = append(canon, l...)
				}
			}
			if again := normaliseFile(t, canon); !bytes.Equal(again, canon) {
				t.Errorf("normalising twice changed the bytes\nonce:  %s\ntwice: %s", canon, again)
			}
		})
	}
}
