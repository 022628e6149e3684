package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/cofswitch/cofswitch/sensor/deadletters"
)

type dlqShowFlags struct {
	conn dlqConn
	json bool
}

func dlqShowCommand() *command {
	return &command{
		name:    "show",
		args:    "SEQ",
		summary: "show one dead letter by its DLQ sequence, with the reasons and raw lines",
		doc: `Print the dead letter stored at sequence SEQ of COF_DLQ (the dlq_seq of
'dlq list'): the sensor, when it was stored, the input batch it came from,
and for each rejected record its line, kind, field and reason, then the
original line; for a batch rejected whole its reason and its bytes
(base64 when compressed or not UTF-8). Lines holding control characters
are printed quoted, so that none reaches the terminal. --json prints the
entries as 'dlq list' does. A sensor sees only its own: another sensor's
sequence is not found for it.`,
		flags: func(fs *flag.FlagSet) any {
			f := &dlqShowFlags{}
			addDLQConnFlags(fs, &f.conn, "the sensor `id` (a sensor's seed: its own id, required)", false)
			fs.BoolVar(&f.json, "json", false, "print the entries as NDJSON")
			return f
		},
		run: func(ctx context.Context, io stdio, opts any, args []string) error {
			if len(args) != 1 {
				return usageErrorf("dlq show takes one DLQ sequence")
			}
			seq, err := strconv.ParseUint(args[0], 10, 64)
			if err != nil || seq == 0 {
				return usageErrorf("dlq show: %q is not a DLQ sequence", args[0])
			}
			f := opts.(*dlqShowFlags)
			nc, c, err := f.conn.open(ctx, false)
			if err != nil {
				return err
			}
			defer nc.Close()
			l, err := c.Show(ctx, f.conn.sensor, seq)
			if err != nil {
				return &exitError{code: exitFailure, msg: err.Error()}
			}
			if f.json {
				enc := json.NewEncoder(io.out)
				enc.SetEscapeHTML(false)
				for i := range l.Entries {
					if err := enc.Encode(&l.Entries[i]); err != nil {
						return err
					}
				}
				return nil
			}
			return writeLetter(io.out, l)
		},
	}
}

// writeLetter prints a dead letter for a person.
func writeLetter(w io.Writer, l *deadletters.Letter) error {
	b := &strings.Builder{}
	fmt.Fprintf(b, "dead letter %d of sensor %s, stored %s", l.Seq, printable(l.Sensor), l.Stored.Format(time.RFC3339Nano))
	if len(l.Entries) > 0 && l.Entries[0].InputSeq != 0 {
		fmt.Fprintf(b, ", from input batch %d", l.Entries[0].InputSeq)
	}
	b.WriteString("\n")
	for i, e := range l.Entries {
		if e.WholeBatch {
			fmt.Fprintf(b, "the whole batch was rejected: %s: %s\n", e.Kind, printable(e.Error))
			enc := e.Encoding
			if enc == "" {
				enc = "identity"
			}
			fmt.Fprintf(b, "  %d bytes, encoding %s", e.RawBytes, printable(enc))
			if e.RawTruncated {
				b.WriteString(", only the beginning kept")
			}
			b.WriteString("\n")
		} else {
			fmt.Fprintf(b, "entry %d: line %d, %s", i+1, e.Line, e.Kind)
			if e.Field != "" {
				fmt.Fprintf(b, " (field %s)", printable(e.Field))
			}
			fmt.Fprintf(b, ": %s\n", printable(e.Error))
		}
		switch {
		case e.RawBase64 != "":
			fmt.Fprintf(b, "  raw (base64): %s\n", e.RawBase64)
		case e.Raw != "":
			fmt.Fprintf(b, "  raw: %s\n", printable(e.Raw))
		}
		if e.RawTruncated && !e.WholeBatch {
			fmt.Fprintf(b, "  (the line had %d bytes; only the beginning is kept)\n", e.RawBytes)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// printable is s as it is when every rune prints, else quoted: what a
// sensor sent must not drive the reader's terminal.
func printable(s string) string {
	for _, r := range s {
		if !unicode.IsPrint(r) && r != '\t' {
			return strconv.Quote(s)
		}
	}
	return s
}
