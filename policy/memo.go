package policy

import (
	"math/bits"
	"sync/atomic"
)

// memo is a fixed-size, direct-mapped, lock-free cache of a pure
// function's results: each key hashes to one slot, which holds the last
// entry stored there. Readers take no lock (a slot is an atomic pointer to
// an immutable entry), so the switch's workers never contend on it, and
// its memory is bounded by its size. A collision only costs a
// recomputation.
type memo[K comparable, V any] struct {
	slots []atomic.Pointer[memoEntry[K, V]]
	mask  uint64
	hash  func(K) uint64
}

type memoEntry[K comparable, V any] struct {
	k K
	v V
}

// newMemo returns a memo of size slots, rounded up to a power of two.
func newMemo[K comparable, V any](size int, hash func(K) uint64) *memo[K, V] {
	n := uint64(1) << bits.Len64(uint64(max(size, 16)-1))
	return &memo[K, V]{slots: make([]atomic.Pointer[memoEntry[K, V]], n), mask: n - 1, hash: hash}
}

func (m *memo[K, V]) get(k K) (V, bool) {
	if e := m.slots[m.hash(k)&m.mask].Load(); e != nil && e.k == k {
		return e.v, true
	}
	var zero V
	return zero, false
}

func (m *memo[K, V]) put(k K, v V) {
	m.slots[m.hash(k)&m.mask].Store(&memoEntry[K, V]{k: k, v: v})
}

// len counts the filled slots, for tests.
func (m *memo[K, V]) len() int {
	n := 0
	for i := range m.slots {
		if m.slots[i].Load() != nil {
			n++
		}
	}
	return n
}
