package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/cofswitch/cofswitch/cof"
)

func cofCommand() *command {
	return &command{
		name:    "cof",
		summary: "check and normalise COF files",
		doc:     "Tools for files of COF records (NDJSON, plain, gzip or zstd).",
		subs:    []*command{cofValidateCommand(), cofNormalizeCommand()},
	}
}

type cofFlags struct {
	maxLine int
	quiet   bool
}

func addCOFFlags(fs *flag.FlagSet, quiet bool) *cofFlags {
	f := &cofFlags{}
	fs.IntVar(&f.maxLine, "max-line-bytes", cof.DefaultMaxLineBytes, "reject lines longer than this many `bytes`")
	if quiet {
		fs.BoolVar(&f.quiet, "q", false, "print only the summary, not each invalid line")
	}
	return f
}

func cofValidateCommand() *command {
	return &command{
		name:    "validate",
		args:    "[FILE|-]",
		summary: "report every invalid record in a file",
		doc: `Read COF records from FILE (or standard input when FILE is - or absent) and
check each line against the COF rules. Each invalid line is reported on
standard error as "LINE: reason", followed by a summary.

Exit status: 0 when every line is valid, 1 when any line is invalid,
2 on a usage or I/O error.`,
		flags: func(fs *flag.FlagSet) any { return addCOFFlags(fs, true) },
		run: func(_ context.Context, io stdio, opts any, args []string) error {
			return cofValidate(io, opts.(*cofFlags), args)
		},
	}
}

func cofNormalizeCommand() *command {
	return &command{
		name:    "normalize",
		args:    "[FILE|-]",
		summary: "rewrite records in canonical COF",
		doc: `Read COF records from FILE (or standard input when FILE is - or absent) and
write each valid one to standard output in canonical form: integer times
(sub-second precision in time_*_ms), rdata as an array, rrtype as a
string, rrname in lower case without trailing dot, IDN as A-labels.
Invalid lines are reported on standard error as "LINE: reason".

Exit status: 0 when every line is valid, 1 when any line is invalid,
2 on a usage or I/O error.`,
		flags: func(fs *flag.FlagSet) any { return addCOFFlags(fs, false) },
		run: func(_ context.Context, io stdio, opts any, args []string) error {
			return cofNormalize(io, opts.(*cofFlags), args)
		},
	}
}

// openInput opens the one optional FILE argument, "-" meaning stdin.
func openInput(io stdio, args []string, f *cofFlags) (*cof.Reader, func(), error) {
	if len(args) > 1 {
		return nil, nil, usageErrorf("expected at most one FILE, got %d", len(args))
	}
	var src = io.in
	closeFile := func() {}
	if len(args) == 1 && args[0] != "-" {
		fh, err := os.Open(args[0])
		if err != nil {
			return nil, nil, &exitError{code: exitUsage, msg: err.Error()}
		}
		src, closeFile = fh, func() { _ = fh.Close() }
	}
	rd, err := cof.NewReader(src, cof.WithMaxLineBytes(f.maxLine))
	if err != nil {
		closeFile()
		return nil, nil, &exitError{code: exitUsage, msg: err.Error()}
	}
	return rd, func() { _ = rd.Close(); closeFile() }, nil
}

// tally counts lines for the summary.
type tally struct{ valid, invalid int }

func (t tally) summary(w io.Writer, verb string) {
	fmt.Fprintf(w, "%s %d records: %d valid, %d invalid\n", verb, t.valid+t.invalid, t.valid, t.invalid)
}

func (t tally) exit() error {
	if t.invalid > 0 {
		return &exitError{code: exitFailure}
	}
	return nil
}

func reportLine(w io.Writer, rd *cof.Reader) {
	err := rd.LineErr().(*cof.Error)
	fmt.Fprintf(w, "%d: %s\n", rd.LineNumber(), err.Detail())
}

func cofValidate(io stdio, f *cofFlags, args []string) error {
	rd, done, err := openInput(io, args, f)
	if err != nil {
		return err
	}
	defer done()
	stderr := bufio.NewWriter(io.err)
	defer stderr.Flush()
	var t tally
	for rd.Next() {
		if rd.LineErr() != nil {
			t.invalid++
			if !f.quiet {
				reportLine(stderr, rd)
			}
			continue
		}
		t.valid++
	}
	if err := rd.Err(); err != nil {
		return &exitError{code: exitUsage, msg: err.Error()}
	}
	t.summary(stderr, "validated")
	return t.exit()
}

func cofNormalize(io stdio, f *cofFlags, args []string) error {
	rd, done, err := openInput(io, args, f)
	if err != nil {
		return err
	}
	defer done()
	out := bufio.NewWriterSize(io.out, 64<<10)
	stderr := bufio.NewWriter(io.err)
	defer stderr.Flush()
	var t tally
	var line []byte
	for rd.Next() {
		if rd.LineErr() != nil {
			t.invalid++
			reportLine(stderr, rd)
			continue
		}
		t.valid++
		line = rd.Record().AppendLine(line[:0])
		if _, err := out.Write(line); err != nil {
			return &exitError{code: exitUsage, msg: "writing output: " + err.Error()}
		}
	}
	if err := out.Flush(); err != nil {
		return &exitError{code: exitUsage, msg: "writing output: " + err.Error()}
	}
	if err := rd.Err(); err != nil {
		return &exitError{code: exitUsage, msg: err.Error()}
	}
	if t.invalid > 0 {
		t.summary(stderr, "normalized")
	}
	return t.exit()
}
