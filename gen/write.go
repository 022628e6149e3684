package gen

import (
	"bufio"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"os"
	"strings"
	"time"

	"github.com/klauspost/compress/zstd"
)

// Limits say how much Write makes and how fast.
type Limits struct {
	N        int           // records to make when Duration is 0
	Duration time.Duration // make records for this long instead of N
	Rate     float64       // records a second; 0 is flat out
}

// Write writes records from g to w as NDJSON until the count or the
// duration is reached or ctx ends (a normal stop), paced at l.Rate when it
// is set. It returns the number of records written.
func Write(ctx context.Context, g *Generator, w io.Writer, l Limits) (int, error) {
	const chunk = 100
	start := time.Now()
	var buf []byte
	n := 0
	for {
		if ctx.Err() != nil {
			return n, nil
		}
		k := chunk
		if l.Duration > 0 {
			if time.Since(start) >= l.Duration {
				return n, nil
			}
		} else {
			if n >= l.N {
				return n, nil
			}
			k = min(k, l.N-n)
		}
		if l.Rate > 0 {
			due := start.Add(time.Duration(float64(n) / l.Rate * float64(time.Second)))
			if d := time.Until(due); d > 0 {
				select {
				case <-time.After(d):
				case <-ctx.Done():
					return n, nil
				}
			}
			k = min(k, max(1, int(l.Rate/100)))
		}
		buf = g.AppendLines(buf[:0], k)
		if _, err := w.Write(buf); err != nil {
			return n, err
		}
		n += k
	}
}

// Create creates the file name for records, compressed by its extension
// (.zst, .gz, else plain). The returned close flushes, syncs a regular
// file (so that a benchmark's input is whole on disk) and closes it.
func Create(name string) (io.Writer, func() error, error) {
	fh, err := os.OpenFile(name, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, nil, err
	}
	bw := bufio.NewWriterSize(fh, 1<<20)
	var w io.Writer = bw
	closeEnc := func() error { return nil }
	switch {
	case strings.HasSuffix(name, ".zst"):
		zw, err := zstd.NewWriter(bw)
		if err != nil {
			fh.Close()
			return nil, nil, err
		}
		w, closeEnc = zw, zw.Close
	case strings.HasSuffix(name, ".gz"):
		gw := gzip.NewWriter(bw)
		w, closeEnc = gw, gw.Close
	}
	return w, func() error {
		err := errors.Join(closeEnc(), bw.Flush())
		// /dev/null and pipes cannot be synced.
		if st, serr := fh.Stat(); err == nil && serr == nil && st.Mode().IsRegular() {
			err = fh.Sync()
		}
		return errors.Join(err, fh.Close())
	}, nil
}
