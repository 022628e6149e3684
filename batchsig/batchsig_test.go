package batchsig_test

import (
	"bytes"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nats-io/nkeys"

	"github.com/cofswitch/cofswitch/batchsig"
)

func newSigner(t testing.TB, create func() (nkeys.KeyPair, error)) *batchsig.Signer {
	t.Helper()
	kp, err := create()
	if err != nil {
		t.Fatal(err)
	}
	s, err := batchsig.NewSigner(kp)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func verifier(t testing.TB, pubs ...string) *batchsig.Verifier {
	t.Helper()
	v, err := batchsig.NewVerifier(pubs...)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestInput(t *testing.T) {
	s := newSigner(t, nkeys.CreateUser)
	other := newSigner(t, nkeys.CreateUser)
	payload := []byte(`{"rrname":"example.com.","rrtype":"A","rdata":"192.0.2.1"}` + "\n")
	sig := s.SignInput("s1", "zstd", "id-1", payload)
	v := verifier(t, s.PublicKey())
	if err := v.VerifyInput("s1", "zstd", "id-1", payload, sig); err != nil {
		t.Fatalf("a good signature: %v", err)
	}
	flipped := bytes.Clone(payload)
	flipped[3] ^= 1
	for _, tt := range []struct {
		name             string
		v                *batchsig.Verifier
		sensor, encoding string
		id               string
		payload          []byte
		sig              string
		want             error
	}{
		{name: "unsigned", v: v, sensor: "s1", encoding: "zstd", id: "id-1", payload: payload, want: batchsig.ErrUnsigned},
		{name: "payload tampered", v: v, sensor: "s1", encoding: "zstd", id: "id-1", payload: flipped, sig: sig, want: batchsig.ErrBadSignature},
		{name: "payload extended", v: v, sensor: "s1", encoding: "zstd", id: "id-1", payload: append(bytes.Clone(payload), '\n'), sig: sig, want: batchsig.ErrBadSignature},
		{name: "another sensor", v: v, sensor: "s2", encoding: "zstd", id: "id-1", payload: payload, sig: sig, want: batchsig.ErrBadSignature},
		{name: "encoding changed", v: v, sensor: "s1", encoding: "", id: "id-1", payload: payload, sig: sig, want: batchsig.ErrBadSignature},
		{name: "another key", v: verifier(t, other.PublicKey()), sensor: "s1", encoding: "zstd", id: "id-1", payload: payload, sig: sig, want: batchsig.ErrBadSignature},
		{name: "not base64", v: v, sensor: "s1", encoding: "zstd", id: "id-1", payload: payload, sig: strings.Repeat("*", len(sig)), want: batchsig.ErrBadSignature},
		{name: "short", v: v, sensor: "s1", encoding: "zstd", id: "id-1", payload: payload, sig: sig[:40], want: batchsig.ErrBadSignature},
		// A relay sending the batch again under an id of its own.
		{name: "another message id", v: v, sensor: "s1", encoding: "zstd", id: "relay-2", payload: payload, sig: sig, want: batchsig.ErrBadSignature},
		{name: "message id removed", v: v, sensor: "s1", encoding: "zstd", id: "", payload: payload, sig: sig, want: batchsig.ErrBadSignature},
		// Length-prefixed fields: moving a byte between them changes the message.
		{name: "fields shifted", v: v, sensor: "s1z", encoding: "std", id: "id-1", payload: payload, sig: sig, want: batchsig.ErrBadSignature},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.v.VerifyInput(tt.sensor, tt.encoding, tt.id, tt.payload, tt.sig)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
	// Rotation: a verifier of two keys takes either.
	both := verifier(t, other.PublicKey(), s.PublicKey())
	if err := both.VerifyInput("s1", "zstd", "id-1", payload, sig); err != nil {
		t.Fatalf("two keys: %v", err)
	}
}

func TestOutput(t *testing.T) {
	s := newSigner(t, nkeys.CreateServer)
	v := verifier(t, s.PublicKey())
	payload := []byte("compressed bytes, as stored")
	h := map[string][]string{
		"Content-Encoding": {"s2"}, "Cofswitch-Records": {"12"}, "Cofswitch-TLP": {"TLP:AMBER"},
		"Cofswitch-Policy-Version": {"a1,b2"}, "Nats-Msg-Id": {"abc"},
	}
	o := batchsig.OutputOf("cof.out.p1", h)
	h[batchsig.HeaderExchangeSignature] = []string{s.SignOutput(o, payload)}
	if err := v.VerifyMsg("cof.out.p1", h, payload); err != nil {
		t.Fatalf("a good signature: %v", err)
	}
	// An input signature never passes for an output's, nor the reverse.
	in := s.SignInput("cof.out.p1", "s2", "abc", payload)
	if err := v.VerifyOutput(o, payload, in); !errors.Is(err, batchsig.ErrBadSignature) {
		t.Fatalf("an input's signature on an output: %v", err)
	}
	for _, k := range []string{"Content-Encoding", "Cofswitch-Records", "Cofswitch-TLP", "Cofswitch-Policy-Version", "Nats-Msg-Id"} {
		t.Run("changed "+k, func(t *testing.T) {
			c := map[string][]string{}
			for kk, vv := range h {
				c[kk] = vv
			}
			c[k] = []string{c[k][0] + "x"}
			if err := v.VerifyMsg("cof.out.p1", c, payload); !errors.Is(err, batchsig.ErrBadSignature) {
				t.Fatalf("err = %v, want a bad signature", err)
			}
			delete(c, k)
			if err := v.VerifyMsg("cof.out.p1", c, payload); !errors.Is(err, batchsig.ErrBadSignature) {
				t.Fatalf("removed: err = %v, want a bad signature", err)
			}
		})
	}
	if err := v.VerifyMsg("cof.out.p2", h, payload); !errors.Is(err, batchsig.ErrBadSignature) {
		t.Fatalf("another peer's subject: %v", err)
	}
	delete(h, batchsig.HeaderExchangeSignature)
	if err := v.VerifyMsg("cof.out.p1", h, payload); !errors.Is(err, batchsig.ErrUnsigned) {
		t.Fatalf("unsigned: %v", err)
	}
}

func TestKeys(t *testing.T) {
	s := newSigner(t, nkeys.CreateServer)
	u := newSigner(t, nkeys.CreateUser)
	dir := t.TempDir()
	file := filepath.Join(dir, "exchange.pub")
	if err := os.WriteFile(file, []byte("# the exchange\n"+s.PublicKey()+"\n\n"+u.PublicKey()+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	v, err := batchsig.LoadVerifier(file)
	if err != nil || len(v.Keys()) != 2 {
		t.Fatalf("from a file: %v, %v", v, err)
	}
	if v, err := batchsig.LoadVerifier(" " + s.PublicKey() + "\n"); err != nil || v.Keys()[0] != s.PublicKey() {
		t.Fatalf("a key: %v, %v", v, err)
	}
	seed, _ := nkeys.CreateUser()
	sb, _ := seed.Seed()
	for _, bad := range []string{"", "NOTAKEY", string(sb), filepath.Join(dir, "missing")} {
		if _, err := batchsig.LoadVerifier(bad); !errors.Is(err, batchsig.ErrKey) {
			t.Errorf("LoadVerifier(%q) = %v, want ErrKey", bad, err)
		}
	}
	// A seed file as 'cofswitch creds' writes it, and a bare one.
	ps, err := batchsig.ParseSigner(sb)
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := seed.PublicKey()
	if ps.PublicKey() != pub {
		t.Fatalf("public key %s, want %s", ps.PublicKey(), pub)
	}
	curve, _ := nkeys.CreateCurveKeys()
	if _, err := batchsig.NewSigner(curve); !errors.Is(err, batchsig.ErrKey) {
		t.Fatalf("a curve key: %v", err)
	}
	pubOnly, _ := nkeys.FromPublicKey(pub)
	if _, err := batchsig.NewSigner(pubOnly); !errors.Is(err, batchsig.ErrKey) {
		t.Fatalf("a public key: %v", err)
	}
}

// FuzzVerify feeds any signature header and payload: no panic, and only
// the one signature made verifies.
func FuzzVerify(f *testing.F) {
	s := newSigner(f, nkeys.CreateServer)
	v := verifier(f, s.PublicKey())
	good := []byte("payload\n")
	goodSig := s.SignInput("s1", "", "", good)
	f.Add("s1", "", good, goodSig)
	f.Add("s1", "zstd", good, goodSig[:85]+"A")
	f.Add("", "", []byte{}, "")
	f.Fuzz(func(t *testing.T, sensor, enc string, payload []byte, sig string) {
		err := v.VerifyInput(sensor, enc, "", payload, sig)
		same := sensor == "s1" && enc == "" && bytes.Equal(payload, good) && sig == goodSig
		if (err == nil) != same {
			t.Fatalf("VerifyInput(%q, %q, %q, %q) = %v", sensor, enc, payload, sig, err)
		}
		if err != nil && !errors.Is(err, batchsig.ErrBadSignature) && !errors.Is(err, batchsig.ErrUnsigned) {
			t.Fatalf("error of no kind: %v", err)
		}
		h := map[string][]string{batchsig.HeaderExchangeSignature: {sig}, "Cofswitch-Records": {enc}}
		if err := v.VerifyMsg(sensor, h, payload); err == nil {
			t.Fatalf("a forged output verifies: %q %q", sensor, sig)
		}
	})
}

// payloads: a 1,000-record batch of about 100 KB (incompressible bytes
// stand for a compressed batch) and a 10-record one of about 1 KB.
var payloads = []struct {
	name string
	size int
}{{"10records-1KB", 1 << 10}, {"1000records-100KB", 100 << 10}}

// benchOutput is a typical output's signed headers.
var benchOutput = batchsig.Output{Subject: "cof.out.p1", Encoding: "s2", Records: "1000", TLP: "TLP:AMBER", PolicyVersion: "a1b2c3d4e5f6", MsgID: "0123456789abcdefghijklmn"}

// BenchmarkSign is the cost of one signature per batch: a sensor's
// (input) and the switch's (output).
func BenchmarkSign(b *testing.B) {
	s := newSigner(b, nkeys.CreateServer)
	for _, p := range payloads {
		data := make([]byte, p.size)
		_, _ = rand.Read(data)
		b.Run("input/"+p.name, func(b *testing.B) {
			b.SetBytes(int64(p.size))
			for b.Loop() {
				_ = s.SignInput("s1", "zstd", "id", data)
			}
		})
		b.Run("output/"+p.name, func(b *testing.B) {
			b.SetBytes(int64(p.size))
			for b.Loop() {
				_ = s.SignOutput(benchOutput, data)
			}
		})
	}
}

// BenchmarkVerify is the cost of checking one batch: the switch's of an
// input, a peer's of an output.
func BenchmarkVerify(b *testing.B) {
	s := newSigner(b, nkeys.CreateServer)
	v := verifier(b, s.PublicKey())
	for _, p := range payloads {
		data := make([]byte, p.size)
		_, _ = rand.Read(data)
		in := s.SignInput("s1", "zstd", "id", data)
		out := s.SignOutput(benchOutput, data)
		b.Run("input/"+p.name, func(b *testing.B) {
			b.SetBytes(int64(p.size))
			for b.Loop() {
				if err := v.VerifyInput("s1", "zstd", "id", data, in); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("output/"+p.name, func(b *testing.B) {
			b.SetBytes(int64(p.size))
			for b.Loop() {
				if err := v.VerifyOutput(benchOutput, data, out); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
