package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"

	"github.com/cofswitch/cofswitch/cof"
	"github.com/cofswitch/cofswitch/peers/db"
)

func dbImportCommand() *command {
	return &command{
		name:    "import",
		args:    "FILE...",
		summary: "load COF files into the store",
		doc: `Load COF records (NDJSON, plain, gzip or zstd) into the disk store under
--store, or into PostgreSQL with --postgres, merged by the same rules as
the feed; 'db serve --offline' then answers from it without an exchange. Invalid lines are reported as "FILE:LINE: reason" and skipped;
the exit code is then 1. Progress (records, rate, share of the input read,
time left) is shown on a terminal, and logged every 10 s otherwise.

The disk store is made durable at the end: run the import while 'db serve'
is stopped (the store's lock refuses otherwise). PostgreSQL takes imports
while 'db serve' runs.`,
		flags: func(fs *flag.FlagSet) any {
			f := &dbFlags{}
			addStoreFlags(fs, f)
			return f
		},
		run: func(ctx context.Context, io stdio, opts any, args []string) error {
			return dbImport(ctx, io, opts.(*dbFlags), args)
		},
	}
}

func dbImport(ctx context.Context, io stdio, f *dbFlags, args []string) error {
	if len(args) == 0 {
		return usageErrorf("db import takes one or more FILEs")
	}
	st, err := openStore(ctx, f, slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	defer st.Close()
	save := st.Save
	if save == nil {
		save = func() error { return nil }
	}
	prog := newImportProgress(io.err, args)
	total, invalid := 0, 0
	for _, name := range args {
		n, bad, err := db.ImportFile(ctx, st.Store, name, db.ImportOptions{
			Invalid:  func(line int, e *cof.Error) { fmt.Fprintf(io.err, "%s:%d: %s\n", name, line, e.Detail()) },
			Progress: func(done int, read int64) { prog.update(total+done, read) },
		})
		if fi, serr := os.Stat(name); serr == nil {
			prog.fileDone(fi.Size())
		}
		total += n
		invalid += bad
		if err != nil {
			prog.done()
			// What the earlier files and batches merged stays: an import
			// is not a transaction, and running it again merges the same
			// records twice only in the counts.
			code := exitFailure
			if errors.Is(err, db.ErrInput) {
				code = exitUsage
			}
			if serr := save(); serr != nil {
				return &exitError{code: exitFailure, msg: fmt.Sprintf("%v (and saving what was imported: %v)", err, serr)}
			}
			return &exitError{code: code, msg: err.Error()}
		}
	}
	prog.done()
	if err := save(); err != nil {
		return &exitError{code: exitFailure, msg: err.Error()}
	}
	fmt.Fprintf(io.out, "imported %d records from %d files (%d invalid lines skipped)\n", total, len(args), invalid)
	if invalid > 0 {
		return &exitError{code: exitFailure}
	}
	return nil
}
