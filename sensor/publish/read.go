package publish

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/cofswitch/cofswitch/cof"
)

// ReadFrom publishes the lines of one input (plain, gzip or zstd, told by
// its first bytes), named name in errors. open is called once, by the
// goroutine that reads and then closes the input, so that an interrupt
// never races with the decompressor and a quiet pipe still sees its
// partial batch sent after the linger time. It returns at the input's end,
// at its first error, or when ctx ends; the partial batch stays for the
// next input or Close. A line too long for a message is skipped, never
// held in memory whole, and listed in the Result (Skipped); the lines after
// it are sent.
func (p *Publisher) ReadFrom(ctx context.Context, name string, open func() (io.ReadCloser, error)) error {
	items := make(chan item, 1024)
	stop := make(chan struct{})
	defer close(stop)
	go p.readLines(name, open, items, stop)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	next := Position{Input: name, Line: 1} // the first line not handed on
	defer func() {
		if ctx.Err() != nil && p.unread.Input == "" {
			p.unread = next
		}
	}()
	for {
		select {
		case it, ok := <-items:
			switch {
			case !ok:
				return nil
			case it.err != nil:
				return it.err
			case it.size > 0:
				p.skip(it.at, it.size)
				next.Line = it.at.Line + 1
				continue
			}
			p.add(ctx, it.line, it.at)
			next.Line = it.at.Line + 1
			if p.lines == 1 {
				timer.Reset(p.o.Linger)
			}
		case <-timer.C:
			if len(items) > 0 {
				// Lines are waiting: the input is not idle, only slower
				// than the acks. Batches stay cut by size alone, so that
				// a file published again is cut the same way (and its
				// batches recognised as stored).
				timer.Reset(p.o.Linger)
				continue
			}
			p.flush(ctx)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// item is one line read, a line too long (size > 0), or the reading's
// error.
type item struct {
	line []byte
	at   Position
	size int
	err  error
}

// readLines reads the input into items, one line each, until its end, an
// error, or stop; it owns the input, which it opens and closes, so that an
// interrupt never races with the decompressor.
func (p *Publisher) readLines(name string, open func() (io.ReadCloser, error), items chan<- item, stop <-chan struct{}) {
	defer close(items)
	send := func(it item) bool {
		select {
		case items <- it:
			return true
		case <-stop:
			return false
		}
	}
	src, err := open()
	if err != nil {
		send(item{err: err})
		return
	}
	defer src.Close()
	dec, closeDec, err := cof.Decompressed(src)
	if err != nil {
		send(item{err: fmt.Errorf("%s: %w", name, err)})
		return
	}
	defer closeDec()
	br := bufio.NewReaderSize(dec, 1<<20)
	for n := 1; ; n++ {
		line, size, err := readLine(br, p.maxBody)
		at := Position{Input: name, Line: n}
		switch {
		case size > p.maxBody:
			if !send(item{at: at, size: size}) {
				return
			}
		case len(line) > 0 && !send(item{line: line, at: at}):
			return
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				send(item{err: fmt.Errorf("%s: %w", name, err)})
			}
			return
		}
	}
}

// readLine reads one line, holding at most max bytes of it: a longer line
// is read to its end and dropped, and only its size is returned.
func readLine(br *bufio.Reader, max int) (line []byte, size int, err error) {
	for {
		frag, err := br.ReadSlice('\n')
		size += len(frag)
		if size <= max {
			line = append(line, frag...)
		} else {
			line = nil
		}
		if !errors.Is(err, bufio.ErrBufferFull) {
			return line, size, err
		}
	}
}
