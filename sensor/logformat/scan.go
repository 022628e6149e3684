package logformat

import (
	"bufio"
	"errors"
	"io"

	"github.com/cofswitch/cofswitch/cof"
)

// ParseAll reads r to its end, one line at a time (LF or CRLF line ends),
// and gives each line to p. It calls emit for every record and, when
// lineErr is not nil, lineErr for every line in error, as an *Error with
// its 1-based Line set. A line longer than MaxLineBytes is reported
// (ErrLineTooLong) without being held whole. ParseAll returns the first
// error of reading r, never a line's error.
func ParseAll(r io.Reader, p Parser, emit func(*cof.Record), lineErr func(error)) error {
	br := bufio.NewReaderSize(r, MaxLineBytes+2)
	for n := 1; ; n++ {
		line, err := br.ReadSlice('\n')
		long := errors.Is(err, bufio.ErrBufferFull)
		if long {
			err = discardLine(br)
		}
		if len(line) > 0 || long {
			if !long {
				line = trimEOL(line)
			}
			if perr := p.Parse(line, emit); perr != nil && lineErr != nil {
				var e *Error
				if errors.As(perr, &e) {
					e.Line = n
				}
				lineErr(perr)
			}
		}
		switch {
		case err == io.EOF:
			return nil
		case err != nil:
			return err
		}
	}
}

// discardLine reads up to the end of the line.
func discardLine(br *bufio.Reader) error {
	for {
		_, err := br.ReadSlice('\n')
		if !errors.Is(err, bufio.ErrBufferFull) {
			return err
		}
	}
}

func trimEOL(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\n' {
		b = b[:n-1]
		if n := len(b); n > 0 && b[n-1] == '\r' {
			b = b[:n-1]
		}
	}
	return b
}
