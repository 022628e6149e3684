package db

// recent is a bounded set of primary keys: the rrsets whose index entries
// this process wrote lately. Two generations: when the current one is
// full it becomes the old one and the older is dropped, so the set holds
// between max/2 and max keys and the hot rrsets stay in it. It is exact
// (no false positive), so an rrset it does not hold only costs its index
// entries written again, never an entry missing.
type recent struct {
	cur, old map[string]struct{}
	half     int
}

func newRecent(size int) *recent {
	half := max(1, size/2)
	return &recent{cur: make(map[string]struct{}, half), old: map[string]struct{}{}, half: half}
}

func (r *recent) has(k []byte) bool {
	if _, ok := r.cur[string(k)]; ok {
		return true
	}
	if _, ok := r.old[string(k)]; ok {
		r.add(k) // still hot: keep it past the next turn
		return true
	}
	return false
}

func (r *recent) add(k []byte) {
	if len(r.cur) >= r.half {
		r.old, r.cur = r.cur, make(map[string]struct{}, r.half)
	}
	r.cur[string(k)] = struct{}{}
}
