package batchsig_test

import (
	"encoding/base64"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nkeys"

	"github.com/cofswitch/cofswitch/batchsig"
)

// groupOutputs is n outputs, to peers p0..p(peers-1) in turn, each with
// its payload.
func groupOutputs(n, peers int, tag string) ([]batchsig.Output, [][]byte) {
	outs := make([]batchsig.Output, n)
	payloads := make([][]byte, n)
	for i := range n {
		outs[i] = batchsig.Output{Subject: fmt.Sprintf("cof.out.p%d", i%peers), Records: "1", TLP: "TLP:AMBER", PolicyVersion: "v1", MsgID: fmt.Sprintf("%s-%d", tag, i)}
		payloads[i] = fmt.Appendf(nil, `{"rrname":"%s-%d.example.","rrtype":"A","rdata":"192.0.2.1"}`+"\n", tag, i)
	}
	return outs, payloads
}

func headersOf(o batchsig.Output, s batchsig.Signed) map[string][]string {
	h := map[string][]string{
		"Cofswitch-Records": {o.Records}, "Cofswitch-TLP": {o.TLP}, "Cofswitch-Policy-Version": {o.PolicyVersion}, "Nats-Msg-Id": {o.MsgID},
		batchsig.HeaderExchangeSignature: {s.Signature}, batchsig.HeaderExchangeProof: {s.Proof},
	}
	if o.Encoding != "" {
		h["Content-Encoding"] = []string{o.Encoding}
	}
	return h
}

// TestGroupSignsInTrees: a lone caller's outputs to one peer beyond one
// tree take several signatures; every output verifies with its proof,
// whose length is that of its tree's depth.
func TestGroupSignsInTrees(t *testing.T) {
	s := newSigner(t, nkeys.CreateServer)
	g := s.Group()
	v := verifier(t, s.PublicKey())
	for _, n := range []int{1, 4, 32, 33, 70, 300} {
		outs, payloads := groupOutputs(n, 1, fmt.Sprint("n", n))
		signed := g.SignOutputs(outs, payloads)
		if len(signed) != n {
			t.Fatalf("%d outputs: %d signed", n, len(signed))
		}
		sigs := map[string]bool{}
		for i, sg := range signed {
			sigs[sg.Signature] = true
			inTree := min(32, n-i/32*32) // outputs in this one's tree
			depth := 0
			for 1<<depth < inTree {
				depth++
			}
			if want := base64.RawURLEncoding.EncodedLen(17 + 32*depth); len(sg.Proof) != want {
				t.Errorf("%d outputs: proof %d of %d characters, want %d (a tree of %d)", n, i, len(sg.Proof), want, inTree)
			}
			if err := v.VerifyMsg(outs[i].Subject, headersOf(outs[i], sg), payloads[i]); err != nil {
				t.Errorf("%d outputs: output %d: %v", n, i, err)
			}
		}
		if want := (n + 31) / 32; len(sigs) != want {
			t.Errorf("%d outputs: %d signatures, want %d (32 outputs a tree)", n, len(sigs), want)
		}
	}
}

// TestGroupNeverJoinsPeers: outputs to different subjects, in one call or
// in concurrent ones, never share a signature: two peers holding one
// could join their views.
func TestGroupNeverJoinsPeers(t *testing.T) {
	s := newSigner(t, nkeys.CreateServer)
	g := s.Group()
	var mu sync.Mutex
	subjectOf := map[string]string{} // signature -> subject
	check := func(outs []batchsig.Output, signed []batchsig.Signed) {
		mu.Lock()
		defer mu.Unlock()
		for i, sg := range signed {
			if subj, ok := subjectOf[sg.Signature]; ok && subj != outs[i].Subject {
				t.Errorf("%s and %s share a signature", subj, outs[i].Subject)
			}
			subjectOf[sg.Signature] = outs[i].Subject
		}
	}
	outs, payloads := groupOutputs(40, 4, "one-call")
	check(outs, g.SignOutputs(outs, payloads))
	var wg sync.WaitGroup
	for c := range 16 {
		wg.Go(func() {
			for r := range 10 {
				outs, payloads := groupOutputs(4, 4, fmt.Sprintf("c%d-r%d", c, r))
				check(outs, g.SignOutputs(outs, payloads))
			}
		})
	}
	wg.Wait()
}

// TestGroupConcurrentCallers: callers signing at once share signatures,
// and each gets back its own outputs' proofs.
func TestGroupConcurrentCallers(t *testing.T) {
	s := newSigner(t, nkeys.CreateServer)
	g := s.Group()
	v := verifier(t, s.PublicKey())
	const callers, each = 64, 5
	var wg sync.WaitGroup
	var mu sync.Mutex
	sigs := map[string]bool{}
	for c := range callers {
		wg.Go(func() {
			for r := range 20 {
				outs, payloads := groupOutputs(each, 2, fmt.Sprintf("c%d-r%d", c, r))
				signed := g.SignOutputs(outs, payloads)
				for i, sg := range signed {
					if err := v.VerifyMsg(outs[i].Subject, headersOf(outs[i], sg), payloads[i]); err != nil {
						t.Errorf("caller %d round %d output %d: %v", c, r, i, err)
					}
				}
				mu.Lock()
				for _, sg := range signed {
					sigs[sg.Signature] = true
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if total := callers * 20 * each; len(sigs) >= total {
		t.Errorf("%d outputs took %d signatures: none shared", total, len(sigs))
	}
	t.Logf("%d outputs, %d signatures", callers*20*each, len(sigs))
}

// TestGroupForgeries: whatever is changed of an output signed in a group,
// its proof or its signature, it no longer verifies; nor does a proof
// taken to another output of the same tree, nor a tree's signature passed
// off as an output's own.
func TestGroupForgeries(t *testing.T) {
	s := newSigner(t, nkeys.CreateServer)
	other := newSigner(t, nkeys.CreateServer)
	v := verifier(t, s.PublicKey())
	outs, payloads := groupOutputs(3, 1, "f")
	signed := s.Group().SignOutputs(outs, payloads)
	o, p, sg := outs[0], payloads[0], signed[0]
	if err := v.VerifyMsg(o.Subject, headersOf(o, sg), p); err != nil {
		t.Fatal(err)
	}
	raw, _ := base64.RawURLEncoding.DecodeString(sg.Proof)
	flip := func(i int) string {
		b := append([]byte(nil), raw...)
		b[i] ^= 1
		return base64.RawURLEncoding.EncodeToString(b)
	}
	withProof := func(proof string) batchsig.Signed { return batchsig.Signed{Signature: sg.Signature, Proof: proof} }
	otherSigned := other.Group().SignOutputs(outs[:1], payloads[:1])[0]
	cases := []struct {
		name    string
		subject string
		o       batchsig.Output
		payload []byte
		s       batchsig.Signed
		want    error
	}{
		{"payload altered", o.Subject, o, append([]byte("x"), p...), sg, batchsig.ErrBadSignature},
		{"subject changed", "cof.out.p9", o, p, sg, batchsig.ErrBadSignature},
		{"TLP relabelled", o.Subject, func() batchsig.Output { x := o; x.TLP = "TLP:CLEAR"; return x }(), p, sg, batchsig.ErrBadSignature},
		{"record count changed", o.Subject, func() batchsig.Output { x := o; x.Records = "2"; return x }(), p, sg, batchsig.ErrBadSignature},
		{"message id changed", o.Subject, func() batchsig.Output { x := o; x.MsgID = "other"; return x }(), p, sg, batchsig.ErrBadSignature},
		{"salt altered", o.Subject, o, p, withProof(flip(0)), batchsig.ErrBadSignature},
		{"leaf index altered", o.Subject, o, p, withProof(flip(16)), batchsig.ErrBadSignature},
		{"leaf index beyond the tree", o.Subject, o, p, withProof(func() string {
			b := append([]byte(nil), raw...)
			b[16] = 200
			return base64.RawURLEncoding.EncodeToString(b)
		}()), batchsig.ErrBadSignature},
		{"sibling altered", o.Subject, o, p, withProof(flip(17 + 32)), batchsig.ErrBadSignature},
		{"a level added", o.Subject, o, p, withProof(base64.RawURLEncoding.EncodeToString(append(append([]byte(nil), raw...), make([]byte, 32)...))), batchsig.ErrBadSignature},
		{"a level taken off", o.Subject, o, p, withProof(base64.RawURLEncoding.EncodeToString(raw[:len(raw)-32])), batchsig.ErrBadSignature},
		{"beyond the greatest depth", o.Subject, o, p, withProof(base64.RawURLEncoding.EncodeToString(append(append([]byte(nil), raw...), make([]byte, 32*4)...))), batchsig.ErrBadSignature},
		{"last sibling altered", o.Subject, o, p, withProof(flip(len(raw) - 1)), batchsig.ErrBadSignature},
		{"proof truncated", o.Subject, o, p, withProof(sg.Proof[:len(sg.Proof)-4]), batchsig.ErrBadSignature},
		{"proof not base64url", o.Subject, o, p, withProof("!" + sg.Proof[1:]), batchsig.ErrBadSignature},
		{"proof of another output of the tree", o.Subject, o, p, withProof(signed[1].Proof), batchsig.ErrBadSignature},
		{"proof stripped: the root's signature as the output's own", o.Subject, o, p, withProof(""), batchsig.ErrBadSignature},
		{"signature stripped", o.Subject, o, p, batchsig.Signed{Proof: sg.Proof}, batchsig.ErrUnsigned},
		{"another key's tree", o.Subject, o, p, otherSigned, batchsig.ErrBadSignature},
		{"an output's own signature with a proof added", o.Subject, o, p, batchsig.Signed{Signature: s.SignOutput(o, p), Proof: sg.Proof}, batchsig.ErrBadSignature},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := headersOf(c.o, c.s)
			if c.s.Proof == "" {
				delete(h, batchsig.HeaderExchangeProof)
			}
			if c.s.Signature == "" {
				delete(h, batchsig.HeaderExchangeSignature)
			}
			if err := v.VerifyMsg(c.subject, h, c.payload); !errors.Is(err, c.want) {
				t.Errorf("got %v, want %v", err, c.want)
			}
		})
	}
}

// TestGroupSaltsEveryLeaf: the same output signed twice has different
// leaves, so that a peer holding a proof cannot confirm a guess of an
// output its stream refused by hashing it.
func TestGroupSaltsEveryLeaf(t *testing.T) {
	s := newSigner(t, nkeys.CreateServer)
	g := s.Group()
	outs, payloads := groupOutputs(2, 1, "same")
	outs[1], payloads[1] = outs[0], payloads[0]
	signed := g.SignOutputs(outs, payloads)
	again := g.SignOutputs(outs[:1], payloads[:1])[0]
	salts := map[string]bool{}
	for _, sg := range append(signed, again) {
		raw, _ := base64.RawURLEncoding.DecodeString(sg.Proof)
		salts[string(raw[:16])] = true
	}
	if len(salts) != 3 {
		t.Errorf("three signatures of one output: %d salts", len(salts))
	}
	// The two in one tree: each sibling is the other's leaf, which
	// differs although the outputs are the same.
	r0, _ := base64.RawURLEncoding.DecodeString(signed[0].Proof)
	r1, _ := base64.RawURLEncoding.DecodeString(signed[1].Proof)
	if string(r0[17:]) == string(r1[17:]) {
		t.Error("one output twice in a tree: the same leaf twice")
	}
}

// BenchmarkGroupSign: the switch's signing of four outputs a batch, by
// callers at once (as its workers are), per caller's four outputs.
func BenchmarkGroupSign(b *testing.B) {
	s := newSigner(b, nkeys.CreateServer)
	g := s.Group()
	outs, payloads := groupOutputs(4, 4, "bench")
	b.SetParallelism(4)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			_ = g.SignOutputs(outs, payloads)
		}
	})
}

// BenchmarkVerifyProof: a peer's check of an output signed in a group.
func BenchmarkVerifyProof(b *testing.B) {
	s := newSigner(b, nkeys.CreateServer)
	v := verifier(b, s.PublicKey())
	outs, payloads := groupOutputs(1, 1, "bench")
	sg := s.Group().SignOutputs(outs, payloads)[0]
	for b.Loop() {
		if err := v.VerifyOutputProof(outs[0], payloads[0], sg.Signature, sg.Proof); err != nil {
			b.Fatal(err)
		}
	}
}

// TestGroupLingers: with a wait set, a caller that leads right after
// another waits for others to queue, and shares its signature with them;
// one that leads after a pause signs at once.
func TestGroupLingers(t *testing.T) {
	s := newSigner(t, nkeys.CreateServer)
	v := verifier(t, s.PublicKey())
	g := s.Group()
	const wait = 200 * time.Millisecond
	g.SetWait(wait)
	outs, payloads := groupOutputs(3, 1, "linger")
	start := time.Now()
	g.SignOutputs(outs[:1], payloads[:1]) // the first: nobody led before
	if took := time.Since(start); took >= wait {
		t.Errorf("the first caller waited %v", took)
	}
	// Right after: the next leader lingers, and a caller coming meanwhile
	// joins its tree.
	first := make(chan batchsig.Signed, 1)
	start = time.Now()
	go func() { first <- g.SignOutputs(outs[1:2], payloads[1:2])[0] }()
	time.Sleep(wait / 4)
	second := g.SignOutputs(outs[2:], payloads[2:])[0]
	a := <-first
	if took := time.Since(start); took < wait {
		t.Errorf("a caller leading right after another signed after %v, want the %v wait", took, wait)
	}
	if a.Signature != second.Signature {
		t.Error("a caller that came while the leader lingered was signed apart")
	}
	for i, sg := range []batchsig.Signed{a, second} {
		if err := v.VerifyMsg(outs[i+1].Subject, headersOf(outs[i+1], sg), payloads[i+1]); err != nil {
			t.Errorf("output %d: %v", i+1, err)
		}
	}
	// After a pause of more than four waits: at once.
	time.Sleep(5 * wait)
	start = time.Now()
	g.SignOutputs(outs[:1], payloads[:1])
	if took := time.Since(start); took >= wait {
		t.Errorf("a caller after a pause waited %v", took)
	}
}
