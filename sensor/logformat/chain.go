package logformat

// chainSlots is how many recent responses a chainRing remembers. The
// answers of one response are logged together, so a few suffice even
// when the lines of concurrent responses interleave.
const chainSlots = 16

// chainRing remembers, for the last responses seen, the owner that the
// next answer of each has: the target of its last CNAME.
type chainRing struct {
	keys   [chainSlots]uint64
	owners [chainSlots][]byte
	used   [chainSlots]bool
	next   int
}

// get returns the owner recorded for a response.
func (c *chainRing) get(key uint64) ([]byte, bool) {
	for i := range c.keys {
		if c.used[i] && c.keys[i] == key {
			return c.owners[i], true
		}
	}
	return nil, false
}

// set records the owner of a response's next answers, in place when the
// response is known, else over the oldest slot.
func (c *chainRing) set(key uint64, owner []byte) {
	i := -1
	for j := range c.keys {
		if c.used[j] && c.keys[j] == key {
			i = j
			break
		}
	}
	if i < 0 {
		i = c.next
		c.next = (c.next + 1) % chainSlots
	}
	c.keys[i], c.used[i] = key, true
	c.owners[i] = append(c.owners[i][:0], owner...)
}

// hashFields is FNV-1a over fields, each followed by a separator byte
// that no field of a log line holds as such, so that ("ab","c") and
// ("a","bc") differ.
func hashFields(fields ...[]byte) uint64 {
	const offset, prime = 14695981039346656037, 1099511628211
	h := uint64(offset)
	for _, f := range fields {
		for _, c := range f {
			h = (h ^ uint64(c)) * prime
		}
		h = (h ^ 0xff) * prime
	}
	return h
}
