package db

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync/atomic"

	"github.com/cofswitch/cofswitch/cof"
)

// ErrInput reports an import file that cannot be opened or read.
var ErrInput = errors.New("db: import input")

// importBatch is how many records an import merges at once.
const importBatch = 1000

// ImportOptions report an import's progress.
type ImportOptions struct {
	// Invalid is told of each invalid line, which is skipped.
	Invalid func(line int, err *cof.Error)
	// Progress is told how many records of the file were merged so far,
	// and how many bytes of the file (as stored: compressed if it is) were
	// read.
	Progress func(merged int, read int64)
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// ImportFile merges the valid records of one COF file (plain, gzip or
// zstd) into store, in batches, by the rules of the feed. It returns how
// many records it merged and how many lines were invalid. An import is
// not a transaction: what was merged before an error stays.
func ImportFile(ctx context.Context, store Store, name string, o ImportOptions) (n, invalid int, err error) {
	fh, err := os.Open(name)
	if err != nil {
		return 0, 0, fmt.Errorf("%w: %w", ErrInput, err)
	}
	defer fh.Close()
	counted := &countingReader{r: fh}
	rd, err := cof.NewReader(counted)
	if err != nil {
		return 0, 0, fmt.Errorf("%w: %s: %w", ErrInput, name, err)
	}
	defer rd.Close()
	var batch []*cof.Record
	flush := func() error {
		// Imports are not a stream: sequence 0 is never skipped.
		if _, err := store.Apply(ctx, "import:"+filepath.Base(name), 0, batch); err != nil {
			return fmt.Errorf("db: %s: storing records before line %d: %w", name, rd.LineNumber(), err)
		}
		n += len(batch)
		if o.Progress != nil {
			o.Progress(n, counted.n.Load())
		}
		batch = batch[:0]
		return nil
	}
	for rd.Next() {
		if err := rd.LineErr(); err != nil {
			invalid++
			if o.Invalid != nil {
				o.Invalid(rd.LineNumber(), err.(*cof.Error))
			}
			continue
		}
		c := *rd.Record()
		batch = append(batch, &c)
		if len(batch) == importBatch {
			if err := flush(); err != nil {
				return n, invalid, err
			}
		}
	}
	if err := flush(); err != nil {
		return n, invalid, err
	}
	if err := rd.Err(); err != nil {
		return n, invalid, fmt.Errorf("db: %s: %w", name, err)
	}
	return n, invalid, nil
}
