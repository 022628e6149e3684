package main

import (
	"bytes"
	"context"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

var update = flag.Bool("update", false, "rewrite the golden files and docs/cli.md")

// The shared COF samples, and this package's golden file.
const (
	sampleFile  = "../../testdata/cof/sample.ndjson"
	invalidFile = "../../testdata/cof/invalid.ndjson"
	goldenFile  = "testdata/sample.normalized.golden"
)

// Lines for inline inputs.
const (
	validA   = `{"rrname": "ok.example", "rrtype": "A", "rdata": ["198.51.100.7"], "time_first": 1700000000, "time_last": 1700000001}`
	validB   = `{"rrname": "www.example.com.", "rrtype": "AAAA", "rdata": "2001:DB8::1", "time_first": 1.5, "time_last": 2, "count": 3}`
	noRData  = `{"rrname": "no-rdata.example", "rrtype": "A", "time_first": 1700000000, "time_last": 1700000001}`
	lateLine = `{"rrname": "late.example", "rrtype": "A", "rdata": ["198.51.100.7"], "time_first": 1700000009, "time_last": 1700000001}`
	dupKey   = `{"rrname": "dup.example", "rrname": "dup.example", "rrtype": "A", "rdata": ["198.51.100.7"], "time_first": 1, "time_last": 2}`
	badIPv4  = `{"rrname": "bad-ip.example", "rrtype": "A", "rdata": ["198.51.100"], "time_first": 1, "time_last": 2}`

	// The canonical forms of validA and validB.
	normA = `{"rrname":"ok.example","rrtype":"A","rdata":["198.51.100.7"],"time_first":1700000000,"time_last":1700000001}`
	normB = `{"rrname":"www.example.com","rrtype":"AAAA","rdata":["2001:db8::1"],"time_first":1,"time_last":2,"time_first_ms":1500,"count":3}`
)

// result is what one run of the command left behind.
type result struct {
	code           int
	stdout, stderr string
}

// runCLI runs the command line in-process with stdin as standard input.
func runCLI(t *testing.T, stdin io.Reader, args ...string) result {
	t.Helper()
	if stdin == nil {
		stdin = strings.NewReader("")
	}
	var stdout, stderr bytes.Buffer
	code := run(t.Context(), args, stdio{in: stdin, out: &stdout, err: &stderr})
	return result{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

// writeTemp writes data to a new file in a temporary directory and returns
// its path.
func writeTemp(t *testing.T, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func gzipBytes(t *testing.T, data []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func zstdBytes(t *testing.T, data []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	w, err := zstd.NewWriter(&b)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// splitHalves compresses the two halves of data (split at a line end)
// separately and concatenates them, as `cat a.gz b.gz` does.
func splitHalves(t *testing.T, data []byte, compress func(*testing.T, []byte) []byte) []byte {
	t.Helper()
	mid := bytes.IndexByte(data[len(data)/2:], '\n') + len(data)/2 + 1
	return append(compress(t, data[:mid]), compress(t, data[mid:])...)
}

func lines(s ...string) string {
	return strings.Join(s, "\n") + "\n"
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name       string
		input      string
		flags      []string
		wantCode   int
		wantStderr string
	}{
		{
			name:       "all valid",
			input:      lines(validA, validB),
			wantCode:   exitOK,
			wantStderr: "validated 2 records: 2 valid, 0 invalid\n",
		},
		{
			name:       "blank lines, CRLF and no final line end",
			input:      "\n" + validA + "\r\n\r\n \t\n" + validB,
			wantCode:   exitOK,
			wantStderr: "validated 2 records: 2 valid, 0 invalid\n",
		},
		{
			name:       "empty file",
			input:      "",
			wantCode:   exitOK,
			wantStderr: "validated 0 records: 0 valid, 0 invalid\n",
		},
		{
			name:       "missing rdata",
			input:      lines(validA, noRData),
			wantCode:   exitFailure,
			wantStderr: lines("2: rdata: missing", "validated 2 records: 1 valid, 1 invalid"),
		},
		{
			name:       "line numbers count blank lines",
			input:      "\n\r\n" + noRData + "\n",
			wantCode:   exitFailure,
			wantStderr: lines("3: rdata: missing", "validated 1 records: 0 valid, 1 invalid"),
		},
		{
			name:     "several invalid lines in order",
			input:    lines(lateLine, validA, badIPv4, dupKey, `[1, 2]`, validB),
			wantCode: exitFailure,
			wantStderr: lines(
				"1: time_first: 1700000009 is after time_last 1700000001",
				`3: rdata: "198.51.100" is not an IPv4 address`,
				"4: rrname: key appears more than once",
				"5: line holds a JSON array, not an object",
				"validated 6 records: 2 valid, 4 invalid",
			),
		},
		{
			name:       "line over --max-line-bytes",
			input:      lines(validA, `{"rrname": "`+strings.Repeat("a", 200)+`"}`),
			flags:      []string{"--max-line-bytes", "150"},
			wantCode:   exitFailure,
			wantStderr: lines("2: line of 214 bytes exceeds the limit of 150", "validated 2 records: 1 valid, 1 invalid"),
		},
		{
			name:       "-q keeps only the summary",
			input:      lines(validA, noRData, lateLine),
			flags:      []string{"-q"},
			wantCode:   exitFailure,
			wantStderr: "validated 3 records: 1 valid, 2 invalid\n",
		},
		{
			name:       "-q with all valid",
			input:      lines(validA),
			flags:      []string{"-q"},
			wantCode:   exitOK,
			wantStderr: "validated 1 records: 1 valid, 0 invalid\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeTemp(t, "in.ndjson", []byte(tt.input))
			args := append(append([]string{"cof", "validate"}, tt.flags...), path)
			got := runCLI(t, nil, args...)
			if got.code != tt.wantCode {
				t.Errorf("exit code = %d, want %d", got.code, tt.wantCode)
			}
			if got.stdout != "" {
				t.Errorf("stdout = %q, want nothing", got.stdout)
			}
			if got.stderr != tt.wantStderr {
				t.Errorf("stderr:\n%s\nwant:\n%s", got.stderr, tt.wantStderr)
			}
		})
	}
}

// TestValidateSharedSamples checks the shared samples, and the example the
// README gives for invalid.ndjson.
func TestValidateSharedSamples(t *testing.T) {
	tests := []struct {
		name      string
		file      string
		wantCode  int
		wantFirst []string // the first lines of stderr
		wantLast  string   // the summary
		wantLines int
	}{
		{
			name:      "sample.ndjson",
			file:      sampleFile,
			wantCode:  exitOK,
			wantLast:  "validated 9 records: 9 valid, 0 invalid",
			wantLines: 1,
		},
		{
			name:     "invalid.ndjson",
			file:     invalidFile,
			wantCode: exitFailure,
			wantFirst: []string{
				"2: rdata: missing",
				"3: time_first: 1700000009 is after time_last 1700000001",
			},
			wantLast:  "validated 8 records: 1 valid, 7 invalid",
			wantLines: 8,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := runCLI(t, nil, "cof", "validate", tt.file)
			if got.code != tt.wantCode {
				t.Errorf("exit code = %d, want %d", got.code, tt.wantCode)
			}
			if got.stdout != "" {
				t.Errorf("stdout = %q, want nothing", got.stdout)
			}
			ls := strings.Split(strings.TrimSuffix(got.stderr, "\n"), "\n")
			if len(ls) != tt.wantLines {
				t.Fatalf("stderr has %d lines, want %d:\n%s", len(ls), tt.wantLines, got.stderr)
			}
			for i, want := range tt.wantFirst {
				if ls[i] != want {
					t.Errorf("stderr line %d = %q, want %q", i+1, ls[i], want)
				}
			}
			if last := ls[len(ls)-1]; last != tt.wantLast {
				t.Errorf("summary = %q, want %q", last, tt.wantLast)
			}
			for _, l := range ls[:len(ls)-1] {
				if num, _, ok := strings.Cut(l, ": "); !ok || strings.Trim(num, "0123456789") != "" {
					t.Errorf("stderr line %q is not LINE: reason", l)
				}
			}
		})
	}
}

func TestUsageErrors(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		wantStderr string // a part of stderr
	}{
		{
			name:       "two files",
			args:       []string{"cof", "validate", sampleFile, sampleFile},
			wantStderr: "cofswitch: expected at most one FILE, got 2\n",
		},
		{
			name:       "two files to normalize",
			args:       []string{"cof", "normalize", sampleFile, "-"},
			wantStderr: "cofswitch: expected at most one FILE, got 2\n",
		},
		{
			name:       "unknown flag",
			args:       []string{"cof", "validate", "--frob", sampleFile},
			wantStderr: "flag provided but not defined: -frob\nUsage: cofswitch cof validate [FLAGS] [FILE|-]\n",
		},
		{
			name:       "flag of another command",
			args:       []string{"cof", "normalize", "-q", sampleFile},
			wantStderr: "flag provided but not defined: -q\nUsage: cofswitch cof normalize [FLAGS] [FILE|-]\n",
		},
		{
			name:       "bad flag value",
			args:       []string{"cof", "validate", "--max-line-bytes", "many", sampleFile},
			wantStderr: `invalid value "many" for flag -max-line-bytes`,
		},
		{
			name:       "invalid option value",
			args:       []string{"cof", "validate", "--max-line-bytes", "1", sampleFile},
			wantStderr: "cofswitch: cof: invalid option: max line bytes 1 not in 64..64MiB\n",
		},
		{
			name:       "invalid option value to normalize",
			args:       []string{"cof", "normalize", "--max-line-bytes=1", sampleFile},
			wantStderr: "max line bytes 1 not in 64..64MiB",
		},
		{
			name:       "unknown subcommand",
			args:       []string{"cof", "frob"},
			wantStderr: `cofswitch: unknown command "cof frob" (see 'cofswitch cof --help')` + "\n",
		},
		{
			name:       "unknown command",
			args:       []string{"frob"},
			wantStderr: `cofswitch: unknown command "frob" (see 'cofswitch --help')` + "\n",
		},
		{
			name:       "help on an unknown command",
			args:       []string{"help", "frob"},
			wantStderr: `cofswitch: unknown command "frob"`,
		},
		{
			name:       "cof without subcommand",
			args:       []string{"cof"},
			wantStderr: "Usage: cofswitch cof COMMAND [ARGS]\n",
		},
		{
			name:       "no command at all",
			args:       nil,
			wantStderr: "Usage: cofswitch COMMAND [ARGS]\n",
		},
		{
			name:       "version with an argument",
			args:       []string{"version", "extra"},
			wantStderr: "cofswitch: version takes no arguments\n",
		},
		{
			name:       "version with a flag",
			args:       []string{"version", "--short"},
			wantStderr: "flag provided but not defined: -short\nUsage: cofswitch version\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := runCLI(t, strings.NewReader(validA+"\n"), tt.args...)
			if got.code != exitUsage {
				t.Errorf("exit code = %d, want %d", got.code, exitUsage)
			}
			if got.stdout != "" {
				t.Errorf("stdout = %q, want nothing", got.stdout)
			}
			if !strings.Contains(got.stderr, tt.wantStderr) {
				t.Errorf("stderr:\n%s\nwant it to contain:\n%s", got.stderr, tt.wantStderr)
			}
		})
	}
}

func TestIOErrors(t *testing.T) {
	plain := readFile(t, sampleFile)
	gz := gzipBytes(t, plain)
	zst := zstdBytes(t, plain)
	badCRC := bytes.Clone(gz)
	badCRC[len(badCRC)-8] ^= 0xff // the CRC-32 of the gzip trailer
	badData := bytes.Clone(gz)
	for i := 20; i < 40; i++ { // deflate data, past the 10-byte header
		badData[i] ^= 0x55
	}

	tests := []struct {
		name       string
		data       []byte // the file content; nil for no file at all
		dir        bool   // FILE is a directory
		wantStderr string // a part of the last line of stderr
	}{
		{
			name:       "no such file",
			data:       nil,
			wantStderr: "no such file or directory",
		},
		{
			name:       "a directory",
			dir:        true,
			wantStderr: "is a directory",
		},
		{
			name:       "gzip magic only",
			data:       gz[:2],
			wantStderr: "cof: gzip: ",
		},
		{
			name:       "gzip header cut short",
			data:       gz[:6],
			wantStderr: "cof: gzip: ",
		},
		{
			name:       "gzip with a bad compression method",
			data:       append([]byte{0x1f, 0x8b, 0x07}, gz[3:]...),
			wantStderr: "cof: gzip: ",
		},
		{
			name:       "gzip cut mid-stream",
			data:       gz[:len(gz)/2],
			wantStderr: "cof: reading line ",
		},
		{
			name:       "gzip without its trailer",
			data:       gz[:len(gz)-8],
			wantStderr: "cof: reading line ",
		},
		{
			name:       "gzip with a bad checksum",
			data:       badCRC,
			wantStderr: "cof: reading line ",
		},
		{
			name:       "gzip with corrupt data",
			data:       badData,
			wantStderr: "cof: reading line ",
		},
		{
			name:       "zstd cut mid-stream",
			data:       zst[:len(zst)/2],
			wantStderr: "cof: reading line ",
		},
		{
			name:       "zstd magic only",
			data:       zst[:4],
			wantStderr: "cof: ",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "missing.ndjson")
			switch {
			case tt.dir:
				path = t.TempDir()
			case tt.data != nil:
				path = writeTemp(t, "in.ndjson", tt.data)
			}
			for _, cmd := range []string{"validate", "normalize"} {
				got := runCLI(t, nil, "cof", cmd, path)
				if got.code != exitUsage {
					t.Errorf("%s: exit code = %d, want %d; stderr:\n%s", cmd, got.code, exitUsage, got.stderr)
				}
				ls := strings.Split(strings.TrimSuffix(got.stderr, "\n"), "\n")
				last := ls[len(ls)-1]
				if !strings.HasPrefix(last, "cofswitch: ") || !strings.Contains(last, tt.wantStderr) {
					t.Errorf("%s: last line of stderr = %q, want \"cofswitch: ...%s...\"", cmd, last, tt.wantStderr)
				}
				if strings.Contains(got.stderr, " records: ") {
					t.Errorf("%s: stderr has a summary after an I/O error:\n%s", cmd, got.stderr)
				}
			}
		})
	}
}

// TestStdin checks that - and no FILE read standard input, with the same
// result as reading the file.
func TestStdin(t *testing.T) {
	tests := []struct {
		name string
		args []string // the command line without FILE
		file string
	}{
		{name: "validate", args: []string{"cof", "validate"}, file: invalidFile},
		{name: "validate -q", args: []string{"cof", "validate", "-q"}, file: invalidFile},
		{name: "validate valid", args: []string{"cof", "validate"}, file: sampleFile},
		{name: "normalize", args: []string{"cof", "normalize"}, file: sampleFile},
		{name: "normalize invalid", args: []string{"cof", "normalize"}, file: invalidFile},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := readFile(t, tt.file)
			want := runCLI(t, nil, append(tt.args, tt.file)...)
			for _, file := range [][]string{{"-"}, nil} {
				got := runCLI(t, bytes.NewReader(data), append(tt.args, file...)...)
				if got != want {
					t.Errorf("%q on stdin = %+v, want %+v as from the file", append(tt.args, file...), got, want)
				}
			}
		})
	}
}

// TestCompressedInput checks that gzip and zstd input, from a file or from
// stdin, gives the output the plain file gives.
func TestCompressedInput(t *testing.T) {
	encodings := []struct {
		name     string
		compress func(*testing.T, []byte) []byte
	}{
		{name: "gzip", compress: gzipBytes},
		{name: "zstd", compress: zstdBytes},
		{name: "gzip members", compress: func(t *testing.T, b []byte) []byte { return splitHalves(t, b, gzipBytes) }},
		{name: "zstd frames", compress: func(t *testing.T, b []byte) []byte { return splitHalves(t, b, zstdBytes) }},
	}
	commands := []struct {
		name string
		args []string
		file string
	}{
		{name: "validate", args: []string{"cof", "validate"}, file: invalidFile},
		{name: "normalize", args: []string{"cof", "normalize"}, file: sampleFile},
		{name: "normalize invalid", args: []string{"cof", "normalize"}, file: invalidFile},
	}
	for _, enc := range encodings {
		for _, cmd := range commands {
			t.Run(enc.name+"/"+cmd.name, func(t *testing.T) {
				want := runCLI(t, nil, append(cmd.args, cmd.file)...)
				data := enc.compress(t, readFile(t, cmd.file))
				path := writeTemp(t, "in.ndjson", data) // the name does not say
				got := runCLI(t, nil, append(cmd.args, path)...)
				if got != want {
					t.Errorf("from the file: %+v\nwant %+v", got, want)
				}
				got = runCLI(t, bytes.NewReader(data), cmd.args...)
				if got != want {
					t.Errorf("from stdin: %+v\nwant %+v", got, want)
				}
			})
		}
	}
}

func TestVersion(t *testing.T) {
	got := runCLI(t, nil, "version")
	if got.code != exitOK {
		t.Errorf("exit code = %d, want %d", got.code, exitOK)
	}
	if !strings.HasPrefix(got.stdout, "cofswitch ") || strings.Count(got.stdout, "\n") != 1 || !strings.HasSuffix(got.stdout, "\n") {
		t.Errorf("stdout = %q, want one line starting with \"cofswitch \"", got.stdout)
	}
	if got.stderr != "" {
		t.Errorf("stderr = %q, want nothing", got.stderr)
	}
}

func TestHelp(t *testing.T) {
	tests := []struct {
		name      string
		args      []string
		wantFirst string // the first line of stdout
	}{
		{name: "--help", args: []string{"--help"}, wantFirst: "Usage: cofswitch COMMAND [ARGS]"},
		{name: "-h", args: []string{"-h"}, wantFirst: "Usage: cofswitch COMMAND [ARGS]"},
		{name: "help", args: []string{"help"}, wantFirst: "Usage: cofswitch COMMAND [ARGS]"},
		{name: "help cof", args: []string{"help", "cof"}, wantFirst: "Usage: cofswitch cof COMMAND [ARGS]"},
		{name: "cof --help", args: []string{"cof", "--help"}, wantFirst: "Usage: cofswitch cof COMMAND [ARGS]"},
		{name: "cof help", args: []string{"cof", "help"}, wantFirst: "Usage: cofswitch cof COMMAND [ARGS]"},
		{name: "help cof validate", args: []string{"help", "cof", "validate"}, wantFirst: "Usage: cofswitch cof validate [FLAGS] [FILE|-]"},
		{name: "help cof validate FILE", args: []string{"help", "cof", "validate", "x.ndjson"}, wantFirst: "Usage: cofswitch cof validate [FLAGS] [FILE|-]"},
		{name: "cof help validate", args: []string{"cof", "help", "validate"}, wantFirst: "Usage: cofswitch cof validate [FLAGS] [FILE|-]"},
		{name: "cof validate --help", args: []string{"cof", "validate", "--help"}, wantFirst: "Usage: cofswitch cof validate [FLAGS] [FILE|-]"},
		{name: "cof validate -h", args: []string{"cof", "validate", "-h"}, wantFirst: "Usage: cofswitch cof validate [FLAGS] [FILE|-]"},
		{name: "cof validate -q --help FILE", args: []string{"cof", "validate", "-q", "--help", "nonexistent"}, wantFirst: "Usage: cofswitch cof validate [FLAGS] [FILE|-]"},
		{name: "cof normalize --help", args: []string{"cof", "normalize", "--help"}, wantFirst: "Usage: cofswitch cof normalize [FLAGS] [FILE|-]"},
		{name: "version --help", args: []string{"version", "--help"}, wantFirst: "Usage: cofswitch version"},
		{name: "help version", args: []string{"help", "version"}, wantFirst: "Usage: cofswitch version"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := runCLI(t, nil, tt.args...)
			if got.code != exitOK {
				t.Errorf("exit code = %d, want %d", got.code, exitOK)
			}
			if first, _, _ := strings.Cut(got.stdout, "\n"); first != tt.wantFirst {
				t.Errorf("first line of stdout = %q, want %q", first, tt.wantFirst)
			}
			if got.stderr != "" {
				t.Errorf("stderr = %q, want nothing", got.stderr)
			}
		})
	}
}

// TestHelpForms checks that the ways of asking for one command's help give
// the same text.
func TestHelpForms(t *testing.T) {
	tests := []struct {
		name  string
		forms [][]string
	}{
		{name: "root", forms: [][]string{{"--help"}, {"-h"}, {"-help"}, {"help"}}},
		{name: "cof", forms: [][]string{{"cof", "--help"}, {"help", "cof"}, {"cof", "help"}}},
		{name: "cof validate", forms: [][]string{{"cof", "validate", "--help"}, {"help", "cof", "validate"}, {"cof", "help", "validate"}}},
		{name: "version", forms: [][]string{{"version", "--help"}, {"help", "version"}}},
		// "db FLAGS" runs "db serve FLAGS": the same errors, the same usage.
		{name: "db default", forms: [][]string{{"db", "serve", "--peer", "x"}, {"db", "--peer", "x"}}},
		{name: "db default bad flag", forms: [][]string{{"db", "serve", "--frob"}, {"db", "--frob"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := runCLI(t, nil, tt.forms[0]...)
			for _, args := range tt.forms[1:] {
				if got := runCLI(t, nil, args...); got != want {
					t.Errorf("%q = %+v\nwant %+v as from %q", args, got, want, tt.forms[0])
				}
			}
		})
	}
}

// runInBackground runs the command line until ctx ends; the exit code
// comes on the channel, and stderr may be read once it has.
func runInBackground(ctx context.Context, args ...string) (<-chan int, *bytes.Buffer) {
	var stdout, stderr bytes.Buffer
	exited := make(chan int, 1)
	go func() { exited <- run(ctx, args, stdio{in: strings.NewReader(""), out: &stdout, err: &stderr}) }()
	return exited, &stderr
}
