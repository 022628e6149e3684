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

// ErrLineTooLong reports an input line that cannot fit in a message.
var ErrLineTooLong = errors.New("publish: line does not fit in a message")

// ReadFrom publishes the lines of one input (plain, gzip or zstd, told by
// its first bytes), named name in errors. open is called once, by the
// goroutine that reads and then closes the input, so that an interrupt
// never races with the decompressor and a quiet pipe still sees its
// partial batch sent after the linger time. It returns at the input's end,
// at its first error, or when ctx ends; the partial batch stays for the
// next input or Close.
func (p *Publisher) ReadFrom(ctx context.Context, name string, open func() (io.ReadCloser, error)) error {
	type item struct {
		line []byte
		err  error
	}
	items := make(chan item, 1024)
	stop := make(chan struct{})
	defer close(stop)
	go func() {
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
			line, err := br.ReadBytes('\n')
			if len(line) > p.maxBody {
				send(item{err: fmt.Errorf("%w: %s: line %d: %d bytes", ErrLineTooLong, name, n, len(line))})
				return
			}
			if len(line) > 0 && !send(item{line: line}) {
				return
			}
			if err != nil {
				if !errors.Is(err, io.EOF) {
					send(item{err: fmt.Errorf("%s: %w", name, err)})
				}
				return
			}
		}
	}()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		select {
		case it, ok := <-items:
			switch {
			case !ok:
				return nil
			case it.err != nil:
				return it.err
			}
			p.Add(it.line)
			if p.lines == 1 {
				timer.Reset(p.o.Linger)
			}
		case <-timer.C:
			p.Flush()
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
