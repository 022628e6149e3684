package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// cof normalize: the canonical form, its golden file, and that it is a
// fixed point.

func TestNormalize(t *testing.T) {
	tests := []struct {
		name       string
		input      string
		wantCode   int
		wantStdout string
		wantStderr string
	}{
		{
			name:       "canonical form",
			input:      lines(validA, validB),
			wantCode:   exitOK,
			wantStdout: lines(normA, normB),
		},
		{
			name:       "canonical input is kept",
			input:      lines(normA, normB),
			wantCode:   exitOK,
			wantStdout: lines(normA, normB),
		},
		{
			name:  "empty input",
			input: "",
		},
		{
			name:       "blank lines and CRLF",
			input:      "\r\n" + validA + "\r\n\n" + validB,
			wantCode:   exitOK,
			wantStdout: lines(normA, normB),
		},
		{
			name:       "invalid lines are reported and left out",
			input:      lines(validA, noRData, validB, lateLine),
			wantCode:   exitFailure,
			wantStdout: lines(normA, normB),
			wantStderr: lines(
				"2: rdata: missing",
				"4: time_first: 1700000009 is after time_last 1700000001",
				"normalized 4 records: 2 valid, 2 invalid",
			),
		},
		{
			name:       "only invalid lines",
			input:      lines(dupKey),
			wantCode:   exitFailure,
			wantStderr: lines("1: rrname: key appears more than once", "normalized 1 records: 0 valid, 1 invalid"),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeTemp(t, "in.ndjson", []byte(tt.input))
			got := runCLI(t, nil, "cof", "normalize", path)
			if got.code != tt.wantCode {
				t.Errorf("exit code = %d, want %d", got.code, tt.wantCode)
			}
			if got.stdout != tt.wantStdout {
				t.Errorf("stdout:\n%s\nwant:\n%s", got.stdout, tt.wantStdout)
			}
			if got.stderr != tt.wantStderr {
				t.Errorf("stderr:\n%s\nwant:\n%s", got.stderr, tt.wantStderr)
			}
		})
	}
}

// TestNormalizeWriteError checks that a failure to write the output is
// an I/O error, reported after the invalid lines.
func TestNormalizeWriteError(t *testing.T) {
	out, err := os.Create(filepath.Join(t.TempDir(), "out.ndjson"))
	if err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	code := run(t.Context(), []string{"cof", "normalize", invalidFile}, stdio{in: strings.NewReader(""), out: out, err: &stderr})
	if code != exitUsage {
		t.Errorf("exit code = %d, want %d", code, exitUsage)
	}
	ls := strings.Split(strings.TrimSuffix(stderr.String(), "\n"), "\n")
	if last := ls[len(ls)-1]; !strings.HasPrefix(last, "cofswitch: writing output: ") {
		t.Errorf("last line of stderr = %q, want \"cofswitch: writing output: ...\"", last)
	}
	if ls[0] != "2: rdata: missing" {
		t.Errorf("first line of stderr = %q, want the first invalid line", ls[0])
	}
}

// TestNormalizeGolden normalises the shared sample and compares the result
// with the golden file, which -update rewrites.
func TestNormalizeGolden(t *testing.T) {
	got := runCLI(t, nil, "cof", "normalize", sampleFile)
	if got.code != exitOK || got.stderr != "" {
		t.Fatalf("exit code %d, stderr:\n%s", got.code, got.stderr)
	}
	if *update {
		if err := os.MkdirAll(filepath.Dir(goldenFile), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(goldenFile, []byte(got.stdout), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want := string(readFile(t, goldenFile))
	if got.stdout != want {
		t.Errorf("normalize %s differs from %s (run go test ./cmd/cofswitch -update if the change is intended)\ngot:\n%s\nwant:\n%s",
			sampleFile, goldenFile, got.stdout, want)
	}
}

// TestNormalizeIdempotent checks that normalising canonical output again,
// from a file or from stdin, gives the same bytes.
func TestNormalizeIdempotent(t *testing.T) {
	tests := []struct {
		name string
		file string
	}{
		{name: "sample", file: sampleFile},
		{name: "valid part of invalid", file: invalidFile},
		{name: "golden", file: goldenFile},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			first := runCLI(t, nil, "cof", "normalize", tt.file)
			if first.stdout == "" {
				t.Fatalf("normalize %s wrote nothing; stderr:\n%s", tt.file, first.stderr)
			}
			path := writeTemp(t, "normalized.ndjson", []byte(first.stdout))
			want := result{code: exitOK, stdout: first.stdout}
			if got := runCLI(t, nil, "cof", "normalize", path); got != want {
				t.Errorf("normalize again from the file = %+v\nwant %+v", got, want)
			}
			if got := runCLI(t, strings.NewReader(first.stdout), "cof", "normalize"); got != want {
				t.Errorf("normalize again from stdin = %+v\nwant %+v", got, want)
			}
			if got := runCLI(t, nil, "cof", "validate", path); got.code != exitOK {
				t.Errorf("validate the output: exit code %d, stderr:\n%s", got.code, got.stderr)
			}
		})
	}
}
