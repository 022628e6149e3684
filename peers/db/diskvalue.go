package db

import (
	"encoding/binary"
	"errors"
	"io"
	"sync"

	"github.com/cockroachdb/pebble/v2"
)

// An rrset's value on disk: a version byte, then varints and
// length-prefixed strings. The owner name and type are in the key. A
// merge operand has the same form; one without rdata (a later
// observation of a known rrset) leaves the rdata as it is.
const valueVersion = 1

const (
	flagZoneTimes = 1 << iota
)

var errBadValue = errors.New("pdnsdb: disk store: malformed value")

// appendValue encodes s, its rdata only when withRData.
func appendValue(dst []byte, s *RRset, withRData bool) []byte {
	dst = append(dst, valueVersion)
	var flags uint64
	if s.HasZoneTimes {
		flags |= flagZoneTimes
	}
	dst = binary.AppendUvarint(dst, flags)
	dst = binary.AppendVarint(dst, s.TimeFirst)
	dst = binary.AppendVarint(dst, s.TimeLast)
	if s.HasZoneTimes {
		dst = binary.AppendVarint(dst, s.ZoneTimeFirst)
		dst = binary.AppendVarint(dst, s.ZoneTimeLast)
	}
	dst = binary.AppendVarint(dst, s.Count)
	dst = appendString(dst, s.Bailiwick)
	dst = appendStrings(dst, s.Sensors)
	if !withRData {
		return appendStrings(dst, nil)
	}
	return appendStrings(dst, s.RData)
}

func appendString(dst []byte, s string) []byte {
	return append(binary.AppendUvarint(dst, uint64(len(s))), s...)
}

func appendStrings(dst []byte, list []string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(list)))
	for _, s := range list {
		dst = appendString(dst, s)
	}
	return dst
}

// valueReader reads a value; the first error sticks.
type valueReader struct {
	b   []byte
	err error
}

func (r *valueReader) uvarint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err, r.b = errBadValue, nil
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *valueReader) varint() int64 {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.err, r.b = errBadValue, nil
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *valueReader) str() string {
	n := r.uvarint()
	if n > uint64(len(r.b)) {
		r.err, r.b = errBadValue, nil
		return ""
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}

func (r *valueReader) strs() []string {
	n := r.uvarint()
	if n > uint64(len(r.b)) { // each string takes a byte at least
		r.err, r.b = errBadValue, nil
		return nil
	}
	var out []string
	for range n {
		out = append(out, r.str())
	}
	return out
}

// decodeValue reads a value into s (name and type come from the key).
func decodeValue(b []byte, s *RRset) error {
	if len(b) == 0 || b[0] != valueVersion {
		return errBadValue
	}
	r := &valueReader{b: b[1:]}
	flags := r.uvarint()
	s.TimeFirst, s.TimeLast = r.varint(), r.varint()
	if s.HasZoneTimes = flags&flagZoneTimes != 0; s.HasZoneTimes {
		s.ZoneTimeFirst, s.ZoneTimeLast = r.varint(), r.varint()
	}
	s.Count = r.varint()
	s.Bailiwick = r.str()
	s.Sensors = r.strs()
	s.RData = r.strs()
	if r.err == nil && len(r.b) != 0 {
		return errBadValue
	}
	return r.err
}

// mergeInto folds o into s as RRset.Merge does, and keeps rdata from
// whichever has it. Merge is commutative: the deeper bailiwick wins, and
// of two as deep the smaller, so the order in which the LSM meets
// operands changes nothing.
func mergeInto(s, o *RRset) {
	bail := s.Bailiwick
	if len(o.Bailiwick) == len(bail) && o.Bailiwick < bail {
		bail = o.Bailiwick
	}
	s.Merge(o)
	if len(s.Bailiwick) == len(bail) {
		s.Bailiwick = bail
	}
	if len(s.RData) == 0 {
		s.RData = o.RData
	}
}

// merger is the disk store's merge operator: rrsets merge by the rules of
// RRset.Merge, sketches by their registers' maximum. Its name is stored
// in the database, so it must never change for these semantics.
var merger = &pebble.Merger{
	Name: "cofswitch.pdnsdb.v1",
	Merge: func(key, value []byte) (pebble.ValueMerger, error) {
		if len(key) > 0 && key[0] == spaceSketch {
			m := &sketchMerger{}
			return m, m.MergeNewer(value)
		}
		m := mergers.Get().(*rrsetMerger)
		m.raw, m.out, m.s, m.have, m.one = m.raw[:0], m.out[:0], RRset{}, false, false
		return m, m.add(value)
	},
}

// rrsetMerger decodes only when there is something to merge: a key with
// one operand (an rrset observed once since its last compaction; Pebble
// keeps a lone operand as one) is answered as it is. Mergers are pooled
// and their buffers reused, handed back when Pebble closes the value, so
// that walking rrsets allocates nothing.
type rrsetMerger struct {
	raw, out []byte // the only operand so far; the merged value
	s        RRset
	one      bool // raw holds the only operand
	have     bool // s holds the merge of the operands
}

var mergers = sync.Pool{New: func() any { return &rrsetMerger{} }}

func (m *rrsetMerger) add(value []byte) error {
	if !m.have && !m.one {
		m.raw, m.one = append(m.raw[:0], value...), true
		return nil
	}
	if !m.have {
		if err := decodeValue(m.raw, &m.s); err != nil {
			return err
		}
		m.have, m.one = true, false
	}
	var o RRset
	if err := decodeValue(value, &o); err != nil {
		return err
	}
	mergeInto(&m.s, &o)
	return nil
}

// Close returns the merger to the pool once Pebble is done with its value.
func (m *rrsetMerger) Close() error {
	mergers.Put(m)
	return nil
}

func (m *rrsetMerger) MergeNewer(value []byte) error { return m.add(value) }
func (m *rrsetMerger) MergeOlder(value []byte) error { return m.add(value) }

func (m *rrsetMerger) Finish(bool) ([]byte, io.Closer, error) {
	if !m.have {
		return m.raw, m, nil
	}
	m.out = appendValue(m.out[:0], &m.s, len(m.s.RData) > 0)
	return m.out, m, nil
}

func (m *sketchMerger) Finish(bool) ([]byte, io.Closer, error) {
	if m.err != nil || m.s == nil {
		return nil, nil, errBadValue
	}
	return m.finish(), nil, nil
}
