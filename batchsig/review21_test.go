package batchsig

// An attacker's review of the signatures in groups (review 21): what a
// peer holding signed outputs, or anyone writing to its stream, can make
// VerifyMsg accept, and whether the group commit loses or mixes anything.

import (
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nkeys"
)

func review21Signer(t testing.TB) (*Signer, *Verifier) {
	t.Helper()
	kp, err := nkeys.CreateServer()
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSigner(kp)
	if err != nil {
		t.Fatal(err)
	}
	v, err := NewVerifier(s.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	return s, v
}

func review21Outputs(n int, subject, tag string) ([]Output, [][]byte) {
	outs := make([]Output, n)
	payloads := make([][]byte, n)
	for i := range n {
		outs[i] = Output{Subject: subject, Encoding: "zstd", Records: "1", TLP: "TLP:AMBER", PolicyVersion: "v1", MsgID: fmt.Sprintf("%s-%d", tag, i)}
		payloads[i] = fmt.Appendf(nil, `{"rrname":"%s-%d.example."}`+"\n", tag, i)
	}
	return outs, payloads
}

func review21Headers(o Output, sig, proof string) map[string][]string {
	h := map[string][]string{"Content-Encoding": {o.Encoding}, "Cofswitch-Records": {o.Records}, "Cofswitch-TLP": {o.TLP},
		"Cofswitch-Policy-Version": {o.PolicyVersion}, "Nats-Msg-Id": {o.MsgID}, HeaderExchangeSignature: {sig}}
	if proof != "" {
		h[HeaderExchangeProof] = []string{proof}
	}
	return h
}

// otherEncodings are the other strings base64url (no padding) decoders
// that ignore a string's unused trailing bits read as the same bytes as
// s, and s with a line break inserted (which Go's decoder skips).
func otherEncodings(s string) []string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	var out []string
	last := strings.IndexByte(alphabet, s[len(s)-1])
	unused := map[int]int{2: 4, 3: 2}[len(s)%4] // trailing bits of the last character
	for b := 1; b < 1<<unused; b++ {
		out = append(out, s[:len(s)-1]+string(alphabet[last^b]))
	}
	return append(out, s[:len(s)/2]+"\n"+s[len(s)/2:], s[:len(s)/2]+"\r"+s[len(s)/2:])
}

// TestReview21OneEncoding: a signature and a proof verify only in the
// encoding the exchange made. Base64url without padding leaves 2 or 4
// bits of the last character unused, and Go's decoder (not Strict)
// ignores them and skips CR and LF: each signature and proof had several
// strings that verified, so that anyone writing to a peer's stream could
// send a signed batch again with headers the exchange never made (a
// peer keeping the signatures or proofs it has seen, to spot a replay,
// was fooled).
func TestReview21OneEncoding(t *testing.T) {
	s, v := review21Signer(t)
	for _, n := range []int{1, 2, 3, 8} { // proofs of 23, 66, 108 and 151 characters
		outs, payloads := review21Outputs(n, "cof.out.p1", fmt.Sprint("enc", n))
		sg := s.Group().SignOutputs(outs, payloads)[0]
		if err := v.VerifyMsg(outs[0].Subject, review21Headers(outs[0], sg.Signature, sg.Proof), payloads[0]); err != nil {
			t.Fatal(err)
		}
		for _, p := range otherEncodings(sg.Proof) {
			if err := v.VerifyMsg(outs[0].Subject, review21Headers(outs[0], sg.Signature, p), payloads[0]); err == nil {
				t.Errorf("tree of %d: the proof %q verifies as %q", n, sg.Proof, p)
			}
		}
		for _, sig := range otherEncodings(sg.Signature) {
			if err := v.VerifyMsg(outs[0].Subject, review21Headers(outs[0], sig, sg.Proof), payloads[0]); err == nil {
				t.Errorf("tree of %d: the signature %q verifies as %q", n, sg.Signature, sig)
			}
		}
	}
	// The single form (v1), and a sensor's input signature.
	outs, payloads := review21Outputs(1, "cof.out.p1", "v1")
	sig := s.SignOutput(outs[0], payloads[0])
	for _, other := range otherEncodings(sig) {
		if err := v.VerifyMsg(outs[0].Subject, review21Headers(outs[0], other, ""), payloads[0]); err == nil {
			t.Errorf("the v1 signature %q verifies as %q", sig, other)
		}
	}
	in := s.SignInput("s1", "zstd", "id-1", payloads[0])
	for _, other := range otherEncodings(in) {
		if err := v.VerifyInput("s1", "zstd", "id-1", payloads[0], other); err == nil {
			t.Errorf("the input signature %q verifies as %q", in, other)
		}
	}
}

// TestReview21TreeForgeries: what a peer holding the outputs of a tree,
// their salts and every hash of their proofs, can try. All held.
func TestReview21TreeForgeries(t *testing.T) {
	s, v := review21Signer(t)
	outs, payloads := review21Outputs(3, "cof.out.p1", "t")
	signed := s.Group().SignOutputs(outs, payloads)
	dec := func(p string) []byte { b, _ := base64.RawURLEncoding.DecodeString(p); return b }
	enc := base64.RawURLEncoding.EncodeToString
	raws := [][]byte{dec(signed[0].Proof), dec(signed[1].Proof), dec(signed[2].Proof)}
	var leaves [3][sha256.Size]byte
	for i := range 3 {
		leaves[i] = leafHash(raws[i][:saltSize], outs[i], payloads[i])
	}
	n01 := nodeHash(leaves[0][:], leaves[1][:])
	var zero [sha256.Size]byte
	root := nodeHash(n01[:], func() []byte { h := nodeHash(leaves[2][:], zero[:]); return h[:] }())
	if got, err := treeRoot(outs[0], payloads[0], signed[0].Proof); err != nil || string(got) != string(root[:]) {
		t.Fatalf("the attacker's model of the tree is wrong: %x, %v", got, err)
	}
	sig := signed[0].Signature
	proof := func(salt []byte, idx byte, sibs ...[]byte) string {
		b := append(append([]byte(nil), salt...), idx)
		for _, s := range sibs {
			b = append(b, s...)
		}
		return enc(b)
	}
	forged := Output{Subject: "cof.out.p1", Encoding: "zstd", Records: "9", TLP: "TLP:CLEAR", PolicyVersion: "v1", MsgID: "forged"}
	fp := []byte("{\"rrname\":\"evil.example.\"}\n")
	cases := []struct {
		name    string
		subject string
		o       Output
		payload []byte
		proof   string
	}{
		// The filler leaf (32 zero bytes) at index 3: the forged
		// output's leaf would have to hash to zero.
		{"the zero filler leaf claimed", forged.Subject, forged, fp, proof(raws[2][:saltSize], 3, leaves[2][:], n01[:])},
		// An internal node as a leaf: a proof one level short, starting
		// from node n01; the leaf is always hashed under 0x00 from an
		// output, never taken as given.
		{"an internal node as a leaf", forged.Subject, forged, fp, proof(raws[0][:saltSize], 0, func() []byte { h := nodeHash(leaves[2][:], zero[:]); return h[:] }())},
		// A real output at the index of another leaf: its hash goes on
		// the other side at every level.
		{"index of the sibling", outs[0].Subject, outs[0], payloads[0], proof(raws[0][:saltSize], 1, leaves[1][:], raws[0][proofMin+sha256.Size:])},
		{"index one past the tree", outs[0].Subject, outs[0], payloads[0], proof(raws[0][:saltSize], 4, raws[0][proofMin:])},
		{"index bits beyond the depth", outs[0].Subject, outs[0], payloads[0], proof(raws[0][:saltSize], 0x80, raws[0][proofMin:])},
		// Depth: the root itself as the only sibling of a level-one tree.
		{"root as a sibling", outs[0].Subject, outs[0], payloads[0], proof(raws[0][:saltSize], 0, root[:])},
		// A proof made of another output's salt.
		{"another leaf's salt", outs[0].Subject, outs[0], payloads[0], proof(raws[1][:saltSize], 0, raws[0][proofMin:])},
		// Re-labelled fields, each alone.
		{"policy version", outs[0].Subject, func() Output { o := outs[0]; o.PolicyVersion = "v2"; return o }(), payloads[0], signed[0].Proof},
		{"encoding", outs[0].Subject, func() Output { o := outs[0]; o.Encoding = ""; return o }(), payloads[0], signed[0].Proof},
		{"records", outs[0].Subject, func() Output { o := outs[0]; o.Records = "10"; return o }(), payloads[0], signed[0].Proof},
		{"TLP", outs[0].Subject, func() Output { o := outs[0]; o.TLP = "TLP:CLEAR"; return o }(), payloads[0], signed[0].Proof},
		{"message id", outs[0].Subject, func() Output { o := outs[0]; o.MsgID = "t-1"; return o }(), payloads[0], signed[0].Proof},
		// Another peer's subject, the output as the peer holds it.
		{"another peer's subject", "cof.out.p2", func() Output { o := outs[0]; o.Subject = "cof.out.p2"; return o }(), payloads[0], signed[0].Proof},
		// One field's bytes moved into the next.
		{"fields shifted", outs[0].Subject, func() Output { o := outs[0]; o.TLP, o.PolicyVersion = "TLP:AMBERv", "1"; return o }(), payloads[0], signed[0].Proof},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := v.VerifyMsg(c.subject, review21Headers(c.o, sig, c.proof), c.payload); !errors.Is(err, ErrBadSignature) {
				t.Errorf("got %v, want a bad signature", err)
			}
		})
	}
	// The forms do not pass for each other: the root's signature as an
	// output's own (v1), and an output's own as a tree's (a depth-0 proof
	// whose leaf would be that output's v1 message).
	if err := v.VerifyMsg(outs[0].Subject, review21Headers(outs[0], sig, ""), payloads[0]); !errors.Is(err, ErrBadSignature) {
		t.Errorf("the root's signature as the output's own: %v", err)
	}
	own := s.SignOutput(outs[0], payloads[0])
	if err := v.VerifyMsg(outs[0].Subject, review21Headers(outs[0], own, proof(raws[0][:saltSize], 0)), payloads[0]); !errors.Is(err, ErrBadSignature) {
		t.Errorf("an output's own signature with a depth-0 proof: %v", err)
	}
	// Two values of a header: VerifyMsg reads the first, as nats.Header's
	// Get (what peers use) does; an empty first proof takes the v1 form,
	// which the root's signature does not pass.
	h := review21Headers(outs[0], sig, "")
	h[HeaderExchangeProof] = []string{"", signed[0].Proof}
	if err := v.VerifyMsg(outs[0].Subject, h, payloads[0]); err == nil {
		t.Error("an empty first proof value verifies")
	}
	h = review21Headers(outs[0], sig, signed[0].Proof)
	h["Cofswitch-TLP"] = []string{"TLP:CLEAR", outs[0].TLP}
	if err := v.VerifyMsg(outs[0].Subject, h, payloads[0]); err == nil {
		t.Error("a TLP relabelled in the first value verifies")
	}
}

// TestReview21GroupUnderLoad: callers of every size (beyond a round of
// 256 outputs too, so that a follower is handed the lead with outputs
// half signed), to a few subjects, with and without a linger: every
// caller returns, in time, with each of its outputs signed and
// verifying, and no signature covers two subjects.
func TestReview21GroupUnderLoad(t *testing.T) {
	s, v := review21Signer(t)
	for _, wait := range []time.Duration{0, 50 * time.Microsecond} {
		g := s.Group()
		g.SetWait(wait)
		var mu sync.Mutex
		subjectOf := map[string]string{}
		done := make(chan struct{})
		var wg sync.WaitGroup
		for c := range 24 {
			wg.Go(func() {
				r := rand.New(rand.NewPCG(uint64(c), 21))
				for round := range 15 {
					n := 1 + r.IntN(8)
					if r.IntN(10) == 0 {
						n = 200 + r.IntN(400)
					}
					subj := fmt.Sprintf("cof.out.p%d", r.IntN(3))
					outs, payloads := review21Outputs(n, subj, fmt.Sprintf("w%v-c%d-r%d", wait, c, round))
					signed := g.SignOutputs(outs, payloads)
					if len(signed) != n {
						t.Errorf("%d outputs, %d results", n, len(signed))
						return
					}
					for i, sg := range signed {
						if err := v.VerifyOutputProof(outs[i], payloads[i], sg.Signature, sg.Proof); err != nil {
							t.Errorf("caller %d round %d output %d of %d: %v", c, round, i, n, err)
							return
						}
					}
					mu.Lock()
					for _, sg := range signed {
						if other, ok := subjectOf[sg.Signature]; ok && other != subj {
							t.Errorf("one signature for %s and %s", other, subj)
						}
						subjectOf[sg.Signature] = subj
					}
					mu.Unlock()
				}
			})
		}
		go func() { wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(60 * time.Second):
			t.Fatalf("wait %v: callers still waiting after a minute (a lost wake-up?)", wait)
		}
		g.mu.Lock()
		if g.busy || len(g.queue) != 0 {
			t.Errorf("wait %v: the group is left busy=%v with %d queued", wait, g.busy, len(g.queue))
		}
		g.mu.Unlock()
	}
}

// TestReview21PeerLearnsItsTreeOnly: what a proof tells a peer is the
// number of its own outputs signed with it (the depth) and where its
// output stood among them; the siblings of an output it was not given
// are salted hashes, which a guess of that output does not match.
func TestReview21PeerLearnsItsTreeOnly(t *testing.T) {
	s, _ := review21Signer(t)
	outs, payloads := review21Outputs(2, "cof.out.p1", "guess")
	signed := s.Group().SignOutputs(outs, payloads)
	raw, _ := base64.RawURLEncoding.DecodeString(signed[0].Proof)
	sibling := raw[proofMin : proofMin+sha256.Size]
	// The peer got output 0 only; it guesses output 1 exactly, under
	// its own output's salt and under no salt.
	for _, salt := range [][]byte{raw[:saltSize], make([]byte, saltSize)} {
		if h := leafHash(salt, outs[1], payloads[1]); string(h[:]) == string(sibling) {
			t.Error("a guessed output confirmed by its leaf")
		}
	}
}
