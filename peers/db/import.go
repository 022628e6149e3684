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

// importBatch is how many records an import merges at once through
// Store.Apply.
const importBatch = 1000

// bulkBatch is how many records an import gives BulkLoader.LoadBatch at
// once: enough that a load's fixed cost (a transaction, a few statements)
// disappears, few enough that a batch's rrsets stay a few tens of MB.
const bulkBatch = 20000

// BulkLoader is what a Store may offer to load large batches of records
// faster than Apply can, for imports: ImportFile uses it when the store
// offers it. A load belongs to no stream, so nothing of it is recorded for exactly-once
// delivery (as Apply's sequence 0); it merges by the rules of Apply
// (earliest first seen, latest last seen, counts added, the deeper
// bailiwick, sensors united, zone times likewise), and each call is
// atomic: it merges all of recs or none.
type BulkLoader interface {
	// LoadBatch merges recs.
	LoadBatch(ctx context.Context, recs []*cof.Record) error
}

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
// zstd) into store, in batches, by the rules of the feed: with LoadBatch
// when store is a BulkLoader, else with Apply. It returns how many
// records it merged and how many lines were invalid. An import is not a
// transaction: what was merged before an error stays.
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
	size, load := importBatch, func(recs []*cof.Record) error {
		// Imports are not a stream: sequence 0 is never skipped.
		_, err := store.Apply(ctx, "import:"+filepath.Base(name), 0, recs)
		return err
	}
	if bl, ok := store.(BulkLoader); ok {
		size, load = bulkBatch, func(recs []*cof.Record) error { return bl.LoadBatch(ctx, recs) }
	}
	// Reading (decompressing, parsing) runs beside the loading, one batch
	// ahead: each takes about half of an import's time.
	type parsed struct {
		recs []*cof.Record
		line int
	}
	batches := make(chan parsed, 1)
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var readErr error
	go func() {
		defer close(batches)
		batch := make([]*cof.Record, 0, size)
		send := func() bool {
			select {
			case batches <- parsed{batch, rd.LineNumber()}:
				batch = make([]*cof.Record, 0, size)
				return true
			case <-rctx.Done():
				return false
			}
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
			if batch = append(batch, &c); len(batch) == size && !send() {
				return
			}
		}
		if len(batch) > 0 && !send() {
			return
		}
		readErr = rd.Err()
	}()
	for p := range batches {
		if err := load(p.recs); err != nil {
			cancel()
			for range batches { // the reader stops; invalid is then its last
			}
			return n, invalid, fmt.Errorf("db: %s: storing records before line %d: %w", name, p.line, err)
		}
		n += len(p.recs)
		if o.Progress != nil {
			o.Progress(n, counted.n.Load())
		}
	}
	if readErr != nil {
		return n, invalid, fmt.Errorf("db: %s: %w", name, readErr)
	}
	return n, invalid, nil
}
