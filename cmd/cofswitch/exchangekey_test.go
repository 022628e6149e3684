package main

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"github.com/cofswitch/cofswitch/routing"
	"github.com/cofswitch/cofswitch/switch/exchange/exchangetest"
)

// TestSigningKeyCommand: 'config signing-key' makes the key in the data
// directory once and prints the same public key every time; never the
// seed.
func TestSigningKeyCommand(t *testing.T) {
	dir := t.TempDir()
	a := runCLI(t, nil, "config", "signing-key", "--data", dir)
	b := runCLI(t, nil, "config", "signing-key", "--data", dir)
	key := strings.TrimSpace(a.stdout)
	if a.code != 0 || !nkeys.IsValidPublicKey(key) || b.stdout != a.stdout {
		t.Fatalf("signing-key: %+v then %+v", a, b)
	}
	// A public key may hold "SU" by chance (about one run in twenty):
	// look for a seed, not for its prefix.
	for _, f := range strings.Fields(a.stdout + a.stderr) {
		if _, _, err := nkeys.DecodeSeed([]byte(f)); err == nil {
			t.Fatal("a seed was printed")
		}
	}
}

// TestTailExchangeKey: 'tail --exchange-key' prints what the exchange
// signed with the key it is given, and nothing with another.
func TestTailExchangeKey(t *testing.T) {
	ctx, x := exchangetest.Embedded(t, `
nats: {auth: none}
sensors: [{id: s1, organisation: a}]
peers:
  - {id: p1, organisation: a, subscriptions: [{sensors: ['*'], policy: pass, tlp: AMBER}]}
`)
	m := nats.NewMsg(routing.InSubject("s1"))
	m.Data = []byte(`{"rrname":"signed.example","rrtype":"A","rdata":["192.0.2.1"],"time_first":1,"time_last":2}` + "\n")
	if _, err := x.JetStream().PublishMsg(ctx, m); err != nil {
		t.Fatal(err)
	}
	s, _ := x.JetStream().Stream(ctx, routing.PeerStream("p1"))
	for deadline := time.Now().Add(10 * time.Second); ; {
		if info, err := s.Info(ctx); err == nil && info.State.Msgs == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("nothing delivered")
		}
		time.Sleep(20 * time.Millisecond)
	}
	other, _ := nkeys.CreateServer()
	otherPub, _ := other.PublicKey()
	for _, tt := range []struct {
		name, key, out, stderr string
	}{
		{name: "the exchange's key", key: x.Engine().SigningKey(), out: "signed.example"},
		{name: "another key", key: otherPub, stderr: "refused: 0 batches unsigned, 1 badly signed"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := runCLI(t, nil, "tail", "--peer", "p1", "--nats-url", x.URL(), "--from-start", "--wait", "500ms", "--exchange-key", tt.key)
			if r.code != 0 || (tt.out == "") != (r.stdout == "") || !strings.Contains(r.stdout, tt.out) || !strings.Contains(r.stderr, tt.stderr) {
				t.Fatalf("tail: %+v", r)
			}
		})
	}
	if r := runCLI(t, nil, "tail", "--peer", "p1", "--exchange-key", "NOTAKEY"); r.code != exitUsage || !strings.Contains(r.stderr, "--exchange-key") {
		t.Fatalf("a bad key: %+v", r)
	}
}

// TestPublishSigns: 'publish --nkey' signs with the sensor's seed, and an
// exchange that requires the sensor's signature switches its batch; the
// same batch unsigned is dead-lettered as unsigned.
func TestPublishSigns(t *testing.T) {
	kp, _ := nkeys.CreateUser()
	pub, _ := kp.PublicKey()
	seed, _ := kp.Seed()
	seedFile := writeTemp(t, "s1.nk", seed)
	if err := os.Chmod(seedFile, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, x := exchangetest.Embedded(t, `
sensors: [{id: s1, organisation: a, nkey: `+pub+`, require_signature: true}]
peers:
  - {id: p1, organisation: a, subscriptions: [{sensors: ['*'], policy: pass, tlp: AMBER}]}
`)
	input := writeTemp(t, "in.ndjson", []byte(normA+"\n"))
	if r := runCLI(t, nil, "publish", "--sensor", "s1", "--nats-url", x.URL(), "--nkey", seedFile, input); r.code != 0 {
		t.Fatalf("publish: %+v", r)
	}
	// The same batch unsigned (the sensor's own connection would sign:
	// the operator's sends it).
	m := nats.NewMsg(routing.InSubject("s1"))
	m.Data = []byte(normA + "\n")
	if _, err := x.JetStream().PublishMsg(ctx, m); err != nil {
		t.Fatal(err)
	}
	count := func(stream string) uint64 {
		s, err := x.JetStream().Stream(ctx, stream)
		if err != nil {
			return 0
		}
		info, err := s.Info(ctx)
		if err != nil {
			return 0
		}
		return info.State.Msgs
	}
	for deadline := time.Now().Add(10 * time.Second); count(routing.PeerStream("p1")) != 1 || count(routing.DLQStream) != 1; {
		if time.Now().After(deadline) {
			t.Fatalf("peer %d, dead letters %d: want 1 and 1", count(routing.PeerStream("p1")), count(routing.DLQStream))
		}
		time.Sleep(20 * time.Millisecond)
	}
	s, _ := x.JetStream().Stream(ctx, routing.DLQStream)
	dl, err := s.GetMsg(ctx, 1)
	if err != nil || dl.Header.Get("Cofswitch-Error-Kind") != "unsigned" {
		t.Fatalf("dead letter %v, %v: want kind unsigned", dl, err)
	}
}
