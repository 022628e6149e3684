package db

// recent is a bounded set of rrsets, by the keyed hash of their primary
// keys (16 bytes: no two rrsets share one short of breaking AES): the
// rrsets whose index entries this process wrote lately. Two generations: when the current one is
// full it becomes the old one and the older is dropped, so the set holds
// between max/2 and max keys and the hot rrsets stay in it. It is exact
// (no false positive short of a 128-bit collision), so an rrset it does
// not hold only costs its index entries written again, never an entry
// missing.
type recent struct {
	cur, old map[[16]byte]struct{}
	half     int
}

func newRecent(size int) *recent {
	half := max(1, size/2)
	return &recent{cur: make(map[[16]byte]struct{}, half), old: map[[16]byte]struct{}{}, half: half}
}

func (r *recent) has(k [16]byte) bool {
	if _, ok := r.cur[k]; ok {
		return true
	}
	if _, ok := r.old[k]; ok {
		r.add(k) // still hot: keep it past the next turn
		return true
	}
	return false
}

func (r *recent) add(k [16]byte) {
	if len(r.cur) >= r.half {
		r.old, r.cur = r.cur, make(map[[16]byte]struct{}, r.half)
	}
	r.cur[k] = struct{}{}
}
