// Package spool keeps a sensor's batches on disk until the exchange has
// stored them: a directory of files, one per batch, written before the
// batch is sent and removed once its ack came, so that an exchange out of
// reach, a sensor restart or a kill -9 loses nothing that was spooled.
// Replayed batches keep their message ids, so the exchange stores each
// once.
//
// The spool is bounded in bytes: when a new batch would pass the bound,
// the oldest batches are dropped and counted (the newest data is the most
// useful to a pDNS database, and the sensor must keep reading its
// resolver). One process uses a spool at a time (an advisory lock).
//
// It imports nothing of cofswitch and nothing of NATS.
package spool

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// Errors.
var (
	// ErrLocked reports a spool another process holds.
	ErrLocked = errors.New("spool: in use by another process")
	// ErrTooBig reports a batch larger than the spool's bound.
	ErrTooBig = errors.New("spool: batch larger than the spool")
	// ErrClosed reports a use after Close.
	ErrClosed = errors.New("spool: closed")
	// ErrOtherOwner reports a spool that holds another owner's batches.
	ErrOtherOwner = errors.New("spool: kept by another owner")
)

// DefaultMaxBytes bounds a spool when Options.MaxBytes is zero.
const DefaultMaxBytes = 1 << 30

// Options tune a spool.
type Options struct {
	// MaxBytes bounds the batches kept, file headers included.
	MaxBytes int64
	// NoSync skips fsync (tests and benchmarks only: a power cut may then
	// lose spooled batches).
	NoSync bool
	// Owner names whose batches the spool keeps (a sensor id): written
	// into the directory the first time, and a spool written by another
	// owner is refused, so that its batches are never sent as this one's.
	// Empty: not checked.
	Owner string
}

// Entry is one spooled batch.
type Entry struct {
	Seq uint64 // order of Put, from 1; kept across restarts
	// ID is the batch's message id; Meta what the caller stored with it
	// (its encoding, say).
	ID, Meta string
	Data     []byte
	size     int64
}

// Stats count what a spool holds and what it dropped.
type Stats struct {
	Entries, Bytes int64
	// Dropped and DroppedBytes count batches dropped to make room, and
	// Corrupt the files found unreadable at Open (set aside as *.bad).
	Dropped, DroppedBytes, Corrupt int64
}

// Spool is an open spool directory. Its methods are safe for concurrent
// use.
type Spool struct {
	dir  string
	o    Options
	lock *os.File

	mu      sync.Mutex
	next    uint64
	entries []meta // in Seq order
	stats   Stats
	closed  bool
}

type meta struct {
	seq  uint64
	size int64
}

const (
	suffix = ".batch"
	magic  = "cofspool1\n"
)

// Open opens (creating it, 0700) the spool in dir and reads what it holds.
func Open(dir string, o Options) (*Spool, error) {
	if o.MaxBytes <= 0 {
		o.MaxBytes = DefaultMaxBytes
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("spool %s: %w", dir, err)
	}
	lock, err := lockDir(dir)
	if err != nil {
		return nil, err
	}
	if err := checkOwner(dir, o.Owner); err != nil {
		_ = unlock(lock)
		return nil, err
	}
	s := &Spool{dir: dir, o: o, lock: lock, next: 1}
	if err := s.scan(); err != nil {
		_ = unlock(lock)
		return nil, err
	}
	return s, nil
}

// ownerFile names whose batches a spool directory keeps.
const ownerFile = "OWNER"

// checkOwner writes owner into dir, or refuses a dir written by another.
func checkOwner(dir, owner string) error {
	if owner == "" {
		return nil
	}
	path := filepath.Join(dir, ownerFile)
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		if err := os.WriteFile(path, []byte(owner+"\n"), 0o600); err != nil {
			return fmt.Errorf("spool %s: %w", dir, err)
		}
		return nil
	case err != nil:
		return fmt.Errorf("spool %s: %w", dir, err)
	}
	if got := strings.TrimSuffix(string(b), "\n"); got != owner {
		return fmt.Errorf("%w: %s keeps the batches of %q, not %q", ErrOtherOwner, dir, got, owner)
	}
	return nil
}

// scan lists the batches in dir, sets aside those that cannot be read and
// removes temporary files a crash left.
func (s *Spool) scan() error {
	des, err := os.ReadDir(s.dir)
	if err != nil {
		return fmt.Errorf("spool %s: %w", s.dir, err)
	}
	for _, de := range des {
		name := de.Name()
		if strings.HasPrefix(name, ".tmp-") {
			_ = os.Remove(filepath.Join(s.dir, name)) // a Put that did not finish
			continue
		}
		seq, ok := parseName(name)
		if !ok {
			continue
		}
		path := filepath.Join(s.dir, name)
		if _, err := readEntry(path); err != nil {
			s.stats.Corrupt++
			_ = os.Rename(path, path+".bad")
			continue
		}
		info, err := de.Info()
		if err != nil {
			return fmt.Errorf("spool %s: %w", s.dir, err)
		}
		s.entries = append(s.entries, meta{seq: seq, size: info.Size()})
		s.stats.Entries++
		s.stats.Bytes += info.Size()
		s.next = max(s.next, seq+1)
	}
	slices.SortFunc(s.entries, func(a, b meta) int { return cmpU64(a.seq, b.seq) })
	return nil
}

func cmpU64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func parseName(name string) (uint64, bool) {
	digits, ok := strings.CutSuffix(name, suffix)
	if !ok || len(digits) != 20 {
		return 0, false
	}
	seq, err := strconv.ParseUint(digits, 10, 64)
	return seq, err == nil && seq > 0
}

func (s *Spool) path(seq uint64) string {
	return filepath.Join(s.dir, fmt.Sprintf("%020d%s", seq, suffix))
}

// Put writes a batch durably (unless NoSync) and returns its sequence.
// When the spool would pass its bound, the oldest batches are dropped
// first; their count is in Stats and returned as dropped.
func (s *Spool) Put(id, metaStr string, data []byte) (seq uint64, dropped []Entry, err error) {
	buf := encode(id, metaStr, data)
	size := int64(len(buf))
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, nil, ErrClosed
	}
	if size > s.o.MaxBytes {
		return 0, nil, fmt.Errorf("%w: %d bytes, bound %d", ErrTooBig, size, s.o.MaxBytes)
	}
	for len(s.entries) > 0 && s.stats.Bytes+size > s.o.MaxBytes {
		old := s.entries[0]
		e := Entry{Seq: old.seq, size: old.size}
		if got, err := readEntry(s.path(old.seq)); err == nil {
			e.ID, e.Meta = got.ID, got.Meta
		}
		if err := os.Remove(s.path(old.seq)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return 0, dropped, fmt.Errorf("spool: dropping batch %d: %w", old.seq, err)
		}
		s.forget(0)
		s.stats.Dropped++
		s.stats.DroppedBytes += old.size
		dropped = append(dropped, e)
	}
	seq = s.next
	if err := s.write(seq, buf); err != nil {
		return 0, dropped, err
	}
	s.next++
	s.entries = append(s.entries, meta{seq: seq, size: size})
	s.stats.Entries++
	s.stats.Bytes += size
	return seq, dropped, nil
}

// write puts buf in place under seq's name: a temporary file, synced,
// renamed, and the directory synced, so a crash leaves the whole batch or
// nothing.
func (s *Spool) write(seq uint64, buf []byte) error {
	f, err := os.CreateTemp(s.dir, ".tmp-*")
	if err != nil {
		return fmt.Errorf("spool: batch %d: %w", seq, err)
	}
	tmp := f.Name()
	_, err = f.Write(buf)
	if err == nil && !s.o.NoSync {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, s.path(seq))
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("spool: batch %d: %w", seq, err)
	}
	if !s.o.NoSync {
		if d, err := os.Open(s.dir); err == nil {
			_ = d.Sync()
			_ = d.Close()
		}
	}
	return nil
}

// forget drops entries[i] from the index.
func (s *Spool) forget(i int) {
	s.stats.Entries--
	s.stats.Bytes -= s.entries[i].size
	s.entries = slices.Delete(s.entries, i, i+1)
}

// Done removes a batch the exchange stored. A batch already dropped or
// removed is no error.
func (s *Spool) Done(seq uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	i, found := slices.BinarySearchFunc(s.entries, seq, func(m meta, seq uint64) int { return cmpU64(m.seq, seq) })
	if !found {
		return nil
	}
	if err := os.Remove(s.path(seq)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("spool: removing batch %d: %w", seq, err)
	}
	s.forget(i)
	return nil
}

// After returns up to n batches with a sequence above seq, in order: the
// sender's next batches to send (After(0, n) after a restart replays the
// spool from its oldest batch).
func (s *Spool) After(seq uint64, n int) ([]Entry, error) {
	s.mu.Lock()
	var seqs []uint64
	for _, m := range s.entries {
		if m.seq > seq && len(seqs) < n {
			seqs = append(seqs, m.seq)
		}
	}
	s.mu.Unlock()
	var out []Entry
	for _, q := range seqs {
		e, err := readEntry(s.path(q))
		if errors.Is(err, os.ErrNotExist) {
			continue // dropped or done meanwhile
		}
		if err != nil {
			return out, fmt.Errorf("spool: batch %d: %w", q, err)
		}
		e.Seq = q
		out = append(out, e)
	}
	return out, nil
}

// Stats returns the counters.
func (s *Spool) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// Close releases the spool; what it holds stays for the next Open.
func (s *Spool) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	return unlock(s.lock)
}

// A batch file: magic, then uvarint lengths of id, meta and data, the
// three, and the CRC-32C of everything before it.
var crcTable = crc32.MakeTable(crc32.Castagnoli)

func encode(id, metaStr string, data []byte) []byte {
	buf := make([]byte, 0, len(magic)+3*binary.MaxVarintLen64+len(id)+len(metaStr)+len(data)+4)
	buf = append(buf, magic...)
	buf = binary.AppendUvarint(buf, uint64(len(id)))
	buf = binary.AppendUvarint(buf, uint64(len(metaStr)))
	buf = binary.AppendUvarint(buf, uint64(len(data)))
	buf = append(buf, id...)
	buf = append(buf, metaStr...)
	buf = append(buf, data...)
	return binary.BigEndian.AppendUint32(buf, crc32.Checksum(buf, crcTable))
}

// errCorrupt reports a batch file that is not whole.
var errCorrupt = errors.New("corrupt batch file")

func readEntry(path string) (Entry, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Entry{}, err
	}
	if len(b) < len(magic)+4 || !bytes.HasPrefix(b, []byte(magic)) {
		return Entry{}, errCorrupt
	}
	body, sum := b[:len(b)-4], binary.BigEndian.Uint32(b[len(b)-4:])
	if crc32.Checksum(body, crcTable) != sum {
		return Entry{}, errCorrupt
	}
	r := bytes.NewReader(body[len(magic):])
	var lens [3]uint64
	for i := range lens {
		if lens[i], err = binary.ReadUvarint(r); err != nil {
			return Entry{}, errCorrupt
		}
	}
	rest := body[len(body)-r.Len():]
	n := uint64(len(rest))
	// Each length is checked alone first: a sum that overflows must not
	// pass for the right one.
	if lens[0] > n || lens[1] > n || lens[2] > n || n != lens[0]+lens[1]+lens[2] {
		return Entry{}, errCorrupt
	}
	e := Entry{ID: string(rest[:lens[0]]), Meta: string(rest[lens[0] : lens[0]+lens[1]]), size: int64(len(b))}
	e.Data = rest[lens[0]+lens[1]:]
	return e, nil
}
