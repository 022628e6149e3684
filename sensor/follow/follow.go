// Package follow reads a log file line by line as a sensor's log grows,
// like tail -F: it waits for more, goes on in the new file when the log is
// rotated (renamed or removed and created again, after finishing the old
// one), starts again from the top when it is truncated (copytruncate), and
// says where it is, so that a restarted sensor resumes at the line after
// the last one it handled.
//
// It polls (every 250 ms by default): no file-system notification, which
// misses renames on some file systems and needs a dependency.
package follow

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
	"time"
)

// DefaultMaxLine bounds a line; longer ones are skipped and counted.
const DefaultMaxLine = 1 << 20

// Position is where a follower is: the file's identity and the offset of
// the first byte not yet returned as part of a line.
type Position struct {
	Path   string `json:"path"`
	Device uint64 `json:"dev"`
	Inode  uint64 `json:"inode"`
	Offset int64  `json:"offset"`
}

// Options tune a Follower.
type Options struct {
	// Poll is how often to look for more (250 ms when zero).
	Poll time.Duration
	// MaxLine bounds a line (DefaultMaxLine when zero).
	MaxLine int
}

// Stats count what a follower did.
type Stats struct {
	Lines, Bytes      int64
	Rotations, Truncs int64
	LongLinesSkipped  int64
	LastRotation      time.Time
	WaitingForTheFile bool // the path does not exist (yet)
}

// Follower follows one path.
type Follower struct {
	path string
	o    Options

	f      *os.File
	r      *bufio.Reader
	dev    uint64
	inode  uint64
	off    int64 // offset of the first byte not returned in a line
	read   int64 // offset of the first byte not read from the file
	line   []byte
	skip   bool // inside a line too long, until its end
	stats  Stats
	resume Position
}

// Open follows path from pos when pos names the file now at path (same
// device and inode, offset within its size), else from the start of the
// file found there. A missing file is waited for.
func Open(path string, pos Position, o Options) *Follower {
	if o.Poll <= 0 {
		o.Poll = 250 * time.Millisecond
	}
	if o.MaxLine <= 0 {
		o.MaxLine = DefaultMaxLine
	}
	return &Follower{path: path, o: o, resume: pos}
}

// Position says where the follower is: a restart at it reads the line
// after the last one Next returned.
func (f *Follower) Position() Position {
	return Position{Path: f.path, Device: f.dev, Inode: f.inode, Offset: f.off}
}

// Stats returns the counters.
func (f *Follower) Stats() Stats { return f.stats }

// Close closes the file followed.
func (f *Follower) Close() error {
	if f.f == nil {
		return nil
	}
	err := f.f.Close()
	f.f = nil
	return err
}

// Next returns the next whole line, without its newline, waiting for it
// until ctx ends. The line is valid until the next call.
func (f *Follower) Next(ctx context.Context) ([]byte, error) {
	for {
		if f.f == nil {
			if err := f.open(); err != nil {
				if !errors.Is(err, os.ErrNotExist) {
					return nil, err
				}
				f.stats.WaitingForTheFile = true
				if err := sleep(ctx, f.o.Poll); err != nil {
					return nil, err
				}
				continue
			}
		}
		line, ok, err := f.readLine()
		if err != nil {
			return nil, err
		}
		if ok {
			return line, nil
		}
		// At the end of what is written: rotated, truncated, or wait.
		switch changed, err := f.check(); {
		case err != nil:
			return nil, err
		case changed:
			continue
		}
		if err := sleep(ctx, f.o.Poll); err != nil {
			return nil, err
		}
	}
}

// readLine reads one whole line of the current file; false at its end
// (a partial last line stays buffered until its newline comes).
func (f *Follower) readLine() ([]byte, bool, error) {
	for {
		chunk, err := f.r.ReadSlice('\n')
		f.read += int64(len(chunk))
		complete := err == nil
		if !f.skip {
			f.line = append(f.line, chunk...)
		}
		if !f.skip && len(f.line) > f.o.MaxLine {
			f.skip, f.line = true, f.line[:0]
		}
		switch {
		case complete && f.skip:
			f.skip = false
			f.stats.LongLinesSkipped++
			f.off = f.read
			continue
		case complete:
			f.off = f.read
			f.stats.Lines++
			f.stats.Bytes += int64(len(f.line))
			line := bytes.TrimRight(f.line, "\r\n")
			f.line = f.line[:0]
			return line, true, nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF):
			return nil, false, nil
		default:
			return nil, false, fmt.Errorf("follow %s: %w", f.path, err)
		}
	}
}

// open opens the file at path, at the resume position if it is that file.
func (f *Follower) open() error {
	file, err := os.Open(f.path)
	if err != nil {
		return err
	}
	dev, ino, size, err := identity(file)
	if err != nil {
		file.Close()
		return fmt.Errorf("follow %s: %w", f.path, err)
	}
	var at int64
	if r := f.resume; r.Inode == ino && r.Device == dev && r.Offset <= size {
		at = r.Offset
	}
	f.resume = Position{}
	if _, err := file.Seek(at, io.SeekStart); err != nil {
		file.Close()
		return fmt.Errorf("follow %s: %w", f.path, err)
	}
	f.f, f.dev, f.inode, f.off, f.read = file, dev, ino, at, at
	f.r = bufio.NewReaderSize(file, 64<<10)
	f.line, f.skip = f.line[:0], false
	f.stats.WaitingForTheFile = false
	return nil
}

// check looks, at the end of the current file, whether it was truncated
// (start again at its top) or the path now names another file (go on
// there; the old one has been read to its end).
func (f *Follower) check() (bool, error) {
	_, _, size, err := identity(f.f)
	if err != nil {
		return false, fmt.Errorf("follow %s: %w", f.path, err)
	}
	if size < f.read {
		f.stats.Truncs++
		if _, err := f.f.Seek(0, io.SeekStart); err != nil {
			return false, fmt.Errorf("follow %s: %w", f.path, err)
		}
		f.r.Reset(f.f)
		f.off, f.read, f.line, f.skip = 0, 0, f.line[:0], false
		return true, nil
	}
	st, err := os.Stat(f.path)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil // removed; wait for the new one, keep the old
	}
	if err != nil {
		return false, fmt.Errorf("follow %s: %w", f.path, err)
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok || (sys.Ino == f.inode && uint64(sys.Dev) == f.dev) {
		return false, nil
	}
	if len(f.line) > 0 && !f.skip {
		// The old file ended without a newline: its last line is whole.
		return false, f.finishPartial()
	}
	f.stats.Rotations++
	f.stats.LastRotation = time.Now()
	f.f.Close()
	f.f = nil
	return true, f.open()
}

// finishPartial turns the old file's unterminated last line into a line
// by pretending the newline: the next readLine returns it.
func (f *Follower) finishPartial() error {
	rest := append(f.line, '\n')
	f.line = f.line[:0]
	f.r = bufio.NewReaderSize(io.MultiReader(bytes.NewReader(rest), f.f), 64<<10)
	f.read -= int64(len(rest)) // read again from the reader above
	return nil
}

func identity(file *os.File) (dev, ino uint64, size int64, err error) {
	st, err := file.Stat()
	if err != nil {
		return 0, 0, 0, err
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, 0, st.Size(), nil
	}
	return uint64(sys.Dev), sys.Ino, st.Size(), nil
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
