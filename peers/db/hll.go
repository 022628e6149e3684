package db

import (
	"encoding/binary"
	"math"
	"math/bits"
)

// sketch counts distinct rrsets without reading the store: a HyperLogLog
// (Flajolet et al. 2007) of 2^p one-byte registers, with linear counting
// for small numbers. The disk store writes rrsets blindly (merge operands
// and index entries, never a read before a write), so it cannot know
// whether an rrset is new; the sketch estimates how many there are
// (standard error 1.04/sqrt(2^p): 0.8% at p 14), of keys hashed with
// the store's secret (keyedHash), and is itself merged in
// the LSM as registers that only grow, so that replaying a batch after a
// crash counts nothing twice.
type sketch struct {
	reg []uint8
}

// Precisions of the sketches: the store's rrsets, and each sensor's (for
// its quota; 1.6%).
const (
	storeSketchP  = 14
	sensorSketchP = 12
)

func newSketch(p uint8) *sketch { return &sketch{reg: make([]uint8, 1<<p)} }

// raise appends to delta the register h would raise (a sparse operand:
// uvarint index, byte value), leaving s as it is: the store applies the
// delta once the write that carries it is committed.
func (s *sketch) raise(h uint64, delta []byte) []byte {
	p := uint(bits.Len(uint(len(s.reg))) - 1)
	i := h >> (64 - p)
	rho := uint8(bits.LeadingZeros64(h<<p|1<<(p-1)) + 1)
	if rho > s.reg[i] {
		delta = binary.AppendUvarint(delta, i)
		delta = append(delta, rho)
	}
	return delta
}

// estimate returns the number of distinct items added.
func (s *sketch) estimate() float64 {
	m := float64(len(s.reg))
	var sum float64
	zeros := 0
	for _, r := range s.reg {
		sum += math.Ldexp(1, -int(r))
		if r == 0 {
			zeros++
		}
	}
	alpha := 0.7213 / (1 + 1.079/m)
	e := alpha * m * m / sum
	if e <= 2.5*m && zeros > 0 {
		return m * math.Log(m/float64(zeros)) // linear counting
	}
	return e
}

// count is the estimate rounded.
func (s *sketch) count() int64 { return int64(math.Round(s.estimate())) }

// applyDelta raises the registers a sparse operand names.
func (s *sketch) applyDelta(delta []byte) error {
	for len(delta) > 0 {
		i, n := binary.Uvarint(delta)
		if n <= 0 || n >= len(delta) || i >= uint64(len(s.reg)) {
			return errBadValue
		}
		s.reg[i] = max(s.reg[i], delta[n])
		delta = delta[n+1:]
	}
	return nil
}

// A sketch on disk is a merge of operands: a full one (sketchFull, then
// the registers) or a sparse one (sketchSparse, p, then pairs).
const (
	sketchFull   = 'F'
	sketchSparse = 'S'
)

func sparseOperand(p uint8, delta []byte) []byte {
	return append([]byte{sketchSparse, p}, delta...)
}

// readSketch folds one operand into s (made of the operand's precision
// when nil).
func readSketch(s *sketch, v []byte) (*sketch, error) {
	if len(v) < 2 {
		return s, errBadValue
	}
	switch v[0] {
	case sketchFull:
		if s == nil {
			s = &sketch{reg: make([]uint8, len(v)-1)}
		}
		if len(v)-1 != len(s.reg) {
			return s, errBadValue
		}
		for i, r := range v[1:] {
			s.reg[i] = max(s.reg[i], r)
		}
		return s, nil
	case sketchSparse:
		if v[1] > 18 {
			return s, errBadValue
		}
		if s == nil {
			s = newSketch(v[1])
		}
		if len(s.reg) != 1<<v[1] {
			return s, errBadValue
		}
		return s, s.applyDelta(v[2:])
	}
	return s, errBadValue
}

// sketchMerger merges sketch operands: registers only grow, so the
// order of operands does not matter.
type sketchMerger struct {
	s   *sketch
	err error
}

func (m *sketchMerger) MergeNewer(v []byte) error {
	m.s, m.err = readSketch(m.s, v)
	return m.err
}

func (m *sketchMerger) MergeOlder(v []byte) error { return m.MergeNewer(v) }

func (m *sketchMerger) finish() []byte {
	return append([]byte{sketchFull}, m.s.reg...)
}
