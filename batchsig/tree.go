package batchsig

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"math/bits"
	"slices"
	"sync"
	"time"
)

// Signatures in groups. An ed25519 signature costs about 15 µs here,
// which is most of what the switch spends on a batch of one record sent
// to four peers. A Group therefore signs the outputs of concurrent
// batches to one peer together: one signature over the root of a Merkle
// tree whose leaves are their canonical messages, each output carrying,
// besides the signature, the path from its leaf to the root
// (HeaderExchangeProof). Outputs to different subjects never share a
// tree: a signature two peers both held would join their views (which
// batch of one came from the same input as which of the other), as an
// id shared between peers would.
//
//	leaf:  SHA-256(0x00, salt, canonical output message under "cofswitch-batch-out/v2")
//	node:  SHA-256(0x01, left, right); a leaf the tree lacks is 32 zero bytes
//	root:  0xFF, "cofswitch-batch-root/v1", the root, signed
//	proof: base64url(salt (16 bytes), leaf index (1 byte), the sibling hashes, leaf upwards)
//
// A tree of n outputs has ceil(log2 n) levels (none for one output, at
// most TreeDepth). A peer sees the hashes of its own outputs only, and
// each leaf is salted with 16 random bytes that only its own output
// carries, so that an output the peer's stream refused (over its limits)
// cannot be confirmed by hashing a guess.

// HeaderExchangeProof is the path from an output's leaf to the root the
// exchange signed (see Group). An output without it carries a signature
// of its own canonical message.
const HeaderExchangeProof = "Cofswitch-Exchange-Proof"

// TreeDepth is the greatest depth of a signed tree: 2^TreeDepth outputs
// at most share a signature.
const TreeDepth = 5

const (
	treeWidth   = 1 << TreeDepth
	roundMax    = 8 * treeWidth // outputs a leader takes at once, in trees by subject
	saltSize    = 16
	proofMin    = saltSize + 1
	leafLabel   = "cofswitch-batch-out/v2"
	rootLabel   = "cofswitch-batch-root/v1"
	leafPrefix  = 0x00
	nodePrefix  = 0x01
	leafMaxHint = 192
)

// Signed is one output's signature and proof, as header values.
type Signed struct {
	Signature string // HeaderExchangeSignature
	Proof     string // HeaderExchangeProof
}

// leaf is an output's salted leaf hash, with its salt, and the subject
// whose tree it joins.
type leaf struct {
	salt    [saltSize]byte
	hash    [sha256.Size]byte
	subject string
}

// newLeaf hashes an output under its salt: the caller's work, done
// before it joins a group, so that concurrent callers hash their payloads
// in parallel.
func newLeaf(salt []byte, o Output, payload []byte) leaf {
	var l leaf
	copy(l.salt[:], salt)
	l.hash = leafHash(l.salt[:], o, payload)
	l.subject = o.Subject
	return l
}

func leafHash(salt []byte, o Output, payload []byte) [sha256.Size]byte {
	m := make([]byte, 0, leafMaxHint+len(o.Subject)+len(o.PolicyVersion)+len(o.MsgID))
	m = append(m, leafPrefix)
	m = append(m, salt...)
	m = append(m, canonicalOutput(leafLabel, o, payload)...)
	return sha256.Sum256(m)
}

func nodeHash(l, r []byte) [sha256.Size]byte {
	var b [1 + 2*sha256.Size]byte
	b[0] = nodePrefix
	copy(b[1:], l)
	copy(b[1+sha256.Size:], r)
	return sha256.Sum256(b[:])
}

func rootMessage(root []byte) []byte {
	m := make([]byte, 0, 32+len(rootLabel)+sha256.Size)
	m = append(m, notText)
	m = appendField(m, rootLabel)
	return append(m, root...)
}

// Group signs the outputs of concurrent callers to one subject under one
// signature (a group commit): a caller that finds no signature under way
// signs what is queued, its own outputs and those of the callers that
// queued meanwhile, in one tree per subject of up to 2^TreeDepth
// outputs, then hands on to the oldest caller still waiting. A lone
// caller waits for nothing but its own signatures. It is safe for
// concurrent use.
type Group struct {
	s    *Signer
	wait time.Duration // SetWait

	mu       sync.Mutex
	busy     bool // a caller is signing
	queue    []item
	lastLead time.Time // when the last caller to lead began
}

type item struct {
	c *call
	i int
}

// call is one caller's outputs: its results, how many are left to sign,
// and where it is told it is done (true) or must sign (false).
type call struct {
	leaves []leaf
	out    []Signed
	left   int
	wake   chan bool
}

// Group makes a group signer of s.
func (s *Signer) Group() *Group { return &Group{s: s} }

// SetWait makes a caller that finds no signature under way wait d before
// it signs, for others to queue, when the last one to lead began less
// than 4d before: a group commit's delay (a linger), paid only while
// callers come faster than that, which lets callers that arrive one after
// the other share a signature. It is set before the group is used.
func (g *Group) SetWait(d time.Duration) { g.wait = d }

// SignOutputs signs outputs (with their payloads, index by index) in the
// tree form, together with the outputs of concurrent callers, and returns
// each one's header values.
func (g *Group) SignOutputs(outs []Output, payloads [][]byte) []Signed {
	if len(outs) != len(payloads) {
		panic(fmt.Sprintf("batchsig: %d outputs and %d payloads", len(outs), len(payloads)))
	}
	if len(outs) == 0 {
		return nil
	}
	c := &call{leaves: make([]leaf, len(outs)), out: make([]Signed, len(outs)), left: len(outs), wake: make(chan bool, 1)}
	salts := make([]byte, saltSize*len(outs))
	_, _ = rand.Read(salts) // never fails (crypto/rand)
	for i := range outs {
		c.leaves[i] = newLeaf(salts[i*saltSize:(i+1)*saltSize], outs[i], payloads[i])
	}
	g.mu.Lock()
	for i := range c.leaves {
		g.queue = append(g.queue, item{c, i})
	}
	lead := !g.busy
	g.busy = true
	linger := false
	if lead && g.wait > 0 {
		now := time.Now()
		linger = now.Sub(g.lastLead) < 4*g.wait
		g.lastLead = now
	}
	g.mu.Unlock()
	if !lead && <-c.wake {
		return c.out
	}
	if linger {
		time.Sleep(g.wait)
	}
	g.lead(c)
	return c.out
}

// lead signs rounds until c's outputs are all signed, then hands the lead
// to the oldest caller still queued (or leaves none).
func (g *Group) lead(c *call) {
	round := make([]item, 0, roundMax)
	for {
		g.mu.Lock()
		if c.left == 0 {
			if len(g.queue) == 0 {
				g.busy = false
				g.mu.Unlock()
				return
			}
			next := g.queue[0].c
			g.mu.Unlock()
			next.wake <- false
			return
		}
		n := min(len(g.queue), roundMax)
		round = append(round[:0], g.queue[:n]...)
		g.queue = append(g.queue[:0], g.queue[n:]...)
		g.mu.Unlock()
		for tree := range bySubject(round) {
			g.signTree(tree)
		}
		for _, it := range round {
			it.c.left--
			if it.c.left == 0 && it.c != c {
				it.c.wake <- true
			}
		}
	}
}

// bySubject yields the round's outputs in trees: by subject, in the
// order they were queued, at most treeWidth a tree.
func bySubject(round []item) func(yield func([]item) bool) {
	return func(yield func([]item) bool) {
		var order []string
		trees := map[string][]item{}
		for _, it := range round {
			subj := it.c.leaves[it.i].subject
			if _, ok := trees[subj]; !ok {
				order = append(order, subj)
			}
			trees[subj] = append(trees[subj], it)
		}
		for _, subj := range order {
			for t := range slices.Chunk(trees[subj], treeWidth) {
				if !yield(t) {
					return
				}
			}
		}
	}
}

// signTree signs one tree of outputs to one subject and writes each
// one's signature and proof.
func (g *Group) signTree(items []item) {
	depth := bits.Len(uint(len(items) - 1))
	width := 1 << depth
	var tree [2 * treeWidth][sha256.Size]byte // heap order: 1 is the root, leaves from width on
	for k, it := range items {
		tree[width+k] = it.c.leaves[it.i].hash
	}
	for n := width - 1; n >= 1; n-- {
		tree[n] = nodeHash(tree[2*n][:], tree[2*n+1][:])
	}
	sig := encode(ed25519.Sign(g.s.priv, rootMessage(tree[1][:])))
	var proof [proofMin + TreeDepth*sha256.Size]byte
	for k, it := range items {
		l := it.c.leaves[it.i]
		copy(proof[:saltSize], l.salt[:])
		proof[saltSize] = byte(k)
		p := proof[proofMin:]
		for n := width + k; n > 1; n /= 2 {
			copy(p, tree[n^1][:])
			p = p[sha256.Size:]
		}
		it.c.out[it.i] = Signed{Signature: sig, Proof: base64.RawURLEncoding.EncodeToString(proof[:proofMin+depth*sha256.Size])}
	}
}

// treeRoot recomputes the root an output's proof leads to.
func treeRoot(o Output, payload []byte, proof string) ([]byte, error) {
	if len(proof) > base64.RawURLEncoding.EncodedLen(proofMin+TreeDepth*sha256.Size) {
		return nil, fmt.Errorf("%w: proof of %d characters, beyond a tree's depth", ErrBadSignature, len(proof))
	}
	raw, err := decodeCanonical(proof)
	if err != nil {
		return nil, fmt.Errorf("%w: proof not base64url", ErrBadSignature)
	}
	if len(raw) < proofMin || (len(raw)-proofMin)%sha256.Size != 0 {
		return nil, fmt.Errorf("%w: proof of %d bytes, not a salt, an index and whole hashes", ErrBadSignature, len(raw))
	}
	depth := (len(raw) - proofMin) / sha256.Size
	idx := int(raw[saltSize])
	if idx >= 1<<depth {
		return nil, fmt.Errorf("%w: proof's leaf %d beyond its tree's %d", ErrBadSignature, idx, 1<<depth)
	}
	h := leafHash(raw[:saltSize], o, payload)
	sib := raw[proofMin:]
	for n := (1 << depth) + idx; n > 1; n /= 2 {
		if n%2 == 0 {
			h = nodeHash(h[:], sib[:sha256.Size])
		} else {
			h = nodeHash(sib[:sha256.Size], h[:])
		}
		sib = sib[sha256.Size:]
	}
	return h[:], nil
}
