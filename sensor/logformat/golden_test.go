package logformat

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cofswitch/cofswitch/cof"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

// goldenCase is one sample file read as one format.
type goldenCase struct {
	input  string
	golden string
	format string
	opts   []Option
}

var goldenCases = []goldenCase{
	{input: "passivedns.log", golden: "passivedns.golden", format: "passivedns"},
	{input: "passivedns-custom.log", golden: "passivedns-custom.golden", format: "passivedns",
		opts: []Option{WithFields("HhpQTAltn"), WithLocation(time.UTC)}},
	{input: "passivedns.json", golden: "passivedns-json.golden", format: "passivedns-json", opts: []Option{WithLocation(time.UTC)}},
	{input: "gopassivedns.json", golden: "gopassivedns.golden", format: "gopassivedns"},
	{input: "eve.json", golden: "eve.golden", format: "eve"},
	{input: "eve.json", golden: "eve-error-responses.golden", format: "eve", opts: []Option{WithErrorResponses()}},
	{input: "zeek-dns.log", golden: "zeek.golden", format: "zeek"},
	{input: "zeek-dns.log", golden: "zeek-error-responses.golden", format: "zeek", opts: []Option{WithErrorResponses()}},
	{input: "zeek-dns.json", golden: "zeek-json.golden", format: "zeek-json"},
	{input: "cof.ndjson", golden: "cof.golden", format: "cof"},
}

// render reads a sample and writes what came of it: one COF line per
// record, "# line N: error [sentinel]" per line in error, and the stats.
func render(t testing.TB, c goldenCase, src []byte) []byte {
	p, err := ByName(c.format, c.opts...)
	if err != nil {
		t.Fatal(err)
	}
	var out []byte
	err = ParseAll(bytes.NewReader(src), p, func(r *cof.Record) {
		out = r.AppendLine(out)
	}, func(err error) {
		out = fmt.Appendf(out, "# %v [%s]\n", err, sentinelName(err))
	})
	if err != nil {
		t.Fatal(err)
	}
	st := p.Stats()
	out = fmt.Appendf(out, "# lines %d, records %d, errors %d, skipped", st.Lines, st.Records, st.Errors)
	for s := Skip(0); s < NumSkips; s++ {
		if st.Skipped[s] > 0 {
			out = fmt.Appendf(out, " %s %d", s, st.Skipped[s])
		}
	}
	return append(out, '\n')
}

var sentinels = []error{ErrSyntax, ErrMissingField, ErrBadTime, ErrBadName, ErrBadRRType,
	ErrBadRData, ErrBadCount, ErrBadField, ErrLineTooLong}

func sentinelName(err error) string {
	for _, s := range sentinels {
		if errors.Is(err, s) {
			return strings.TrimPrefix(s.Error(), "logformat: ")
		}
	}
	return "NO SENTINEL"
}

func TestGolden(t *testing.T) {
	for _, c := range goldenCases {
		t.Run(c.golden, func(t *testing.T) {
			src, err := os.ReadFile(filepath.Join("testdata", c.input))
			if err != nil {
				t.Fatal(err)
			}
			got := render(t, c, src)
			golden := filepath.Join("testdata", c.golden)
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./sensor/logformat -update)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("output differs from %s (run go test -update and review the diff)\n got:\n%s\nwant:\n%s", golden, got, want)
			}
			checkRoundTrip(t, got)
		})
	}
}

// checkRoundTrip checks that every record line is one cof.Parse accepts
// and writes back byte for byte.
func checkRoundTrip(t *testing.T, out []byte) {
	t.Helper()
	for _, line := range bytes.Split(out, []byte{'\n'}) {
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		r, err := cof.Parse(line)
		if err != nil {
			t.Errorf("cof.Parse(%s): %v", line, err)
			continue
		}
		if again := r.AppendJSON(nil); !bytes.Equal(again, line) {
			t.Errorf("round trip changed\n%s\n%s", line, again)
		}
	}
}
