package sink

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/klauspost/compress/zstd"
)

// FileOptions configure the rotating file sink.
type FileOptions struct {
	MaxBytes int64         // rotate when a file reaches this size (default 64 MiB)
	MaxAge   time.Duration // rotate when a file is this old (default 1h)
	Now      func() time.Time
	Metrics  *Metrics // times each write and fsync (nil: none)
}

// Files are written as NDJSON compressed with zstd, one zstd frame per
// batch, each preceded by a zstd skippable frame holding the length of the
// frame that follows. Standard tools (zstdcat) read the files as they are
// and skip the length frames; the sink uses them after a crash to cut a
// file back to its last whole batch.
const (
	partialSuffix = ".ndjson.zst.partial"
	finalSuffix   = ".ndjson.zst"
	skippableID   = 0x184D2A50
	headerLen     = 16
)

// The sink's directory and files are its owner's alone: a feed may be
// TLP:RED, which no other local account may read.
const (
	dirMode  os.FileMode = 0o700
	fileMode os.FileMode = 0o600
)

type fileSink struct {
	lock *os.File // holds DIR/.lock: one sink per directory
	dir  string
	o    FileOptions
	enc  *zstd.Encoder
	mu   sync.Mutex
	cur  *os.File
	name string
	size int64
	born time.Time
	n    int
}

// NewFiles returns a Sink writing rotating files in dir, made with mode
// 0700 when it does not exist (an existing directory keeps its mode); the
// files are 0600. Files left unfinished by a crash are repaired and closed
// first.
func NewFiles(dir string, o FileOptions) (Sink, error) {
	if o.MaxBytes == 0 {
		o.MaxBytes = 64 << 20
	}
	if o.MaxAge == 0 {
		o.MaxAge = time.Hour
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if err := os.MkdirAll(dir, dirMode); err != nil {
		return nil, fmt.Errorf("sink: %w", err)
	}
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedDefault))
	if err != nil {
		return nil, err
	}
	lock, err := lockDir(dir)
	if err != nil {
		enc.Close()
		return nil, err
	}
	s := &fileSink{dir: dir, o: o, enc: enc, lock: lock}
	if err := s.recover(); err != nil {
		lock.Close()
		return nil, err
	}
	return s, nil
}

// recover cuts every unfinished file back to its last whole batch and
// gives it its final name. Those batches were acked; what follows was not
// and will be delivered again.
func (s *fileSink) recover() error {
	partials, err := filepath.Glob(filepath.Join(s.dir, "*"+partialSuffix))
	if err != nil {
		return err
	}
	for _, p := range partials {
		if err := repair(p); err != nil {
			return fmt.Errorf("sink: repairing %s: %w", p, err)
		}
		if err := finish(p); err != nil {
			return err
		}
	}
	return nil
}

// repair truncates a file after its last complete (length, frame) pair.
func repair(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	var good int64
	hdr := make([]byte, headerLen)
	for {
		if _, err := f.ReadAt(hdr, good); err != nil {
			break
		}
		if binary.LittleEndian.Uint32(hdr) != skippableID || binary.LittleEndian.Uint32(hdr[4:]) != 8 {
			break
		}
		n := int64(binary.LittleEndian.Uint64(hdr[8:]))
		if n <= 0 || good+headerLen+n > st.Size() {
			break
		}
		good += headerLen + n
	}
	if good == st.Size() {
		return nil
	}
	if err := f.Truncate(good); err != nil {
		return err
	}
	return f.Sync()
}

// finish renames a file to its final name, or removes it when empty.
func finish(partial string) error {
	st, err := os.Stat(partial)
	if err != nil {
		return err
	}
	if st.Size() == 0 {
		return os.Remove(partial)
	}
	base := strings.TrimSuffix(partial, partialSuffix)
	final := base + finalSuffix
	// Never replace a finished file: its batches were acked.
	for i := 1; exists(final); i++ {
		final = fmt.Sprintf("%s.%d%s", base, i, finalSuffix)
	}
	if err := os.Rename(partial, final); err != nil {
		return fmt.Errorf("sink: %w", err)
	}
	return syncDir(filepath.Dir(partial))
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, syscall.EINVAL) {
		return err
	}
	return nil
}

// Deliver appends the batch and fsyncs before returning.
func (s *fileSink) Deliver(_ context.Context, b Batch) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	start := time.Now()
	err := s.deliver(b)
	s.o.Metrics.attempt(start, outcomeOf(err))
	return err
}

func (s *fileSink) deliver(b Batch) error {
	now := s.o.Now()
	if s.cur != nil && (s.size >= s.o.MaxBytes || now.Sub(s.born) >= s.o.MaxAge) {
		if err := s.rotate(); err != nil {
			return err
		}
	}
	if s.cur == nil {
		if err := s.open(now); err != nil {
			return err
		}
	}
	frame := s.enc.EncodeAll(b.Body, make([]byte, headerLen, headerLen+len(b.Body)/4))
	binary.LittleEndian.PutUint32(frame, skippableID)
	binary.LittleEndian.PutUint32(frame[4:], 8)
	binary.LittleEndian.PutUint64(frame[8:], uint64(len(frame)-headerLen))
	if _, err := s.cur.Write(frame); err != nil {
		return s.fail(err)
	}
	if err := s.cur.Sync(); err != nil {
		return s.fail(err)
	}
	s.size += int64(len(frame))
	s.n++
	return nil
}

// open starts a new file named for its first batch's time, with a counter
// when that name (finished or not) is taken.
func (s *fileSink) open(now time.Time) error {
	stamp := fmt.Sprintf("cof-%s-%09d", now.UTC().Format("20060102T150405Z"), now.Nanosecond())
	for i := 0; ; i++ {
		base := filepath.Join(s.dir, stamp)
		if i > 0 {
			base += fmt.Sprintf(".%d", i)
		}
		if exists(base + finalSuffix) {
			continue
		}
		f, err := os.OpenFile(base+partialSuffix, os.O_WRONLY|os.O_CREATE|os.O_EXCL, fileMode)
		if errors.Is(err, os.ErrExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("%w: %v", ErrPermanent, err)
		}
		// The new name must be durable before a batch in it is acked.
		if err := syncDir(s.dir); err != nil {
			f.Close()
			return err
		}
		s.cur, s.name, s.size, s.born, s.n = f, base+partialSuffix, 0, now, 0
		return nil
	}
}

// fail closes a file a write failed on; the next Deliver starts a new one
// (the failed batch was not acked, so it comes again).
func (s *fileSink) fail(err error) error {
	_ = s.cur.Close()
	_ = repair(s.name)
	_ = finish(s.name)
	s.cur = nil
	if errors.Is(err, syscall.ENOSPC) {
		return fmt.Errorf("%w: %v", ErrPermanent, err)
	}
	return err
}

func (s *fileSink) rotate() error {
	if s.cur == nil {
		return nil
	}
	if err := s.cur.Sync(); err != nil {
		return err
	}
	if err := s.cur.Close(); err != nil {
		return err
	}
	s.cur = nil
	return finish(s.name)
}

// check writes a byte to a temporary file in the directory: it fails when
// the directory is gone, read-only or full.
func (s *fileSink) check(context.Context) error {
	f, err := os.CreateTemp(s.dir, ".ready-*")
	if err != nil {
		return fmt.Errorf("sink: directory not writable: %w", err)
	}
	defer os.Remove(f.Name())
	_, err = f.Write([]byte{'\n'})
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sink: directory not writable: %w", err)
	}
	return nil
}

func (s *fileSink) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	err := s.rotate()
	_ = s.enc.Close()
	_ = s.lock.Close() // releases the lock
	return err
}

// lockDir takes an exclusive lock on DIR/.lock for the sink's lifetime: a
// second sink on the same directory would "repair" the first one's open
// file, which holds acked batches, away.
func lockDir(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_RDWR|os.O_CREATE, fileMode)
	if err != nil {
		return nil, fmt.Errorf("sink: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("sink: %s is in use by another sink (%v)", dir, err)
	}
	return f, nil
}

// ReadFile returns the NDJSON of a file written by the file sink, finished
// or not: a torn last batch is ignored.
func ReadFile(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	dec, err := zstd.NewReader(nil)
	if err != nil {
		return nil, err
	}
	defer dec.Close()
	var out []byte
	for off := 0; off+headerLen <= len(data); {
		if binary.LittleEndian.Uint32(data[off:]) != skippableID {
			return out, fmt.Errorf("sink: %s: no batch header at offset %d", path, off)
		}
		n := int(binary.LittleEndian.Uint64(data[off+8:]))
		if off+headerLen+n > len(data) {
			break
		}
		out, err = dec.DecodeAll(data[off+headerLen:off+headerLen+n], out)
		if err != nil {
			return out, err
		}
		off += headerLen + n
	}
	return out, nil
}
