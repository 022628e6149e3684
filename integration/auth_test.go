package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"

	"github.com/cofswitch/cofswitch/accounts"
	"github.com/cofswitch/cofswitch/cof"
)

var pubKey = regexp.MustCompile(`public key: (U[A-Z0-9]{55})`)

// makeCreds runs 'cofswitch creds' and returns the seed file and public key.
func makeCreds(t *testing.T, dir, kind, id string) (string, string) {
	t.Helper()
	out := filepath.Join(dir, id+".nk")
	stdout, stderr, code := run(t, nil, "creds", "--"+kind, id, "--out", out)
	if code != 0 {
		t.Fatalf("creds: %s", stderr)
	}
	m := pubKey.FindStringSubmatch(stdout)
	if m == nil {
		t.Fatalf("no public key in %q", stdout)
	}
	if st, err := os.Stat(out); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("seed file %v, mode %v", err, st.Mode())
	}
	return out, m[1]
}

// TestEmbeddedServerWithIdentities: 'serve' with nkeys runs an embedded
// server that admits the registry's identities only, each to its own
// data; a new sensor added to the file is admitted after a reload.
func TestEmbeddedServerWithIdentities(t *testing.T) {
	dir := t.TempDir()
	s1Seed, s1Pub := makeCreds(t, dir, "sensor", "org-a-s1")
	s2Seed, s2Pub := makeCreds(t, dir, "sensor", "org-a-s2")
	pbSeed, pbPub := makeCreds(t, dir, "peer", "peer-b")
	if _, stderr, code := run(t, nil, "creds", "--sensor", "org-a-s1", "--out", s1Seed); code != 2 || !contains(stderr, "exists") {
		t.Errorf("creds over an existing seed: exit %d, %s", code, stderr)
	}
	listen := freeAddr(t)
	yaml := func(withS2 bool) string {
		s2 := ""
		if withS2 {
			s2 = fmt.Sprintf("  - {id: org-a-s2, organisation: org-a, nkey: %s}\n", s2Pub)
		}
		return fmt.Sprintf(`nats:
  listen: %s
sensors:
  - {id: org-a-s1, organisation: org-a, nkey: %s}
%speers:
  - id: peer-b
    organisation: org-b
    nkey: %s
    subscriptions: [{sensors: ["org-a-*"], policy: pass, tlp: CLEAR}]
`, listen, s1Pub, s2, pbPub)
	}
	cfg := filepath.Join(dir, "c.yaml")
	if err := os.WriteFile(cfg, []byte(yaml(false)), 0o600); err != nil {
		t.Fatal(err)
	}
	sw := start(t, "serve", "--config", cfg, "--data", filepath.Join(dir, "data"), "--reload-check", "0")
	waitFor(t, "switch ready", 15*time.Second, func() bool { return contains(sw.output(), "exchange ready") })
	url := "nats://" + listen
	body := `{"rrname":"a.example","rrtype":"A","rdata":"192.0.2.1","time_first":1,"time_last":2}` + "\n"

	if _, stderr, code := run(t, []byte(body), "publish", "--sensor", "org-a-s1", "--nats-url", url, "--nkey", s1Seed); code != 0 {
		t.Fatalf("sensor with its seed: exit %d: %s", code, stderr)
	}
	if _, stderr, code := run(t, []byte(body), "publish", "--sensor", "org-a-s1", "--nats-url", url); code == 0 || !contains(stderr, "Authorization Violation") || !contains(stderr, "public key") {
		t.Errorf("publish without credentials: exit %d: %s", code, stderr)
	}
	if _, stderr, code := run(t, []byte(body), "publish", "--sensor", "org-a-s2", "--nats-url", url, "--nkey", s1Seed); code == 0 {
		t.Errorf("s1's seed publishing as s2: exit %d: %s", code, stderr)
	}
	if _, _, code := run(t, []byte(body), "publish", "--sensor", "org-a-s2", "--nats-url", url, "--nkey", s2Seed); code == 0 {
		t.Errorf("s2 published before it was in the configuration")
	}

	// Add s2, reload: now it may publish.
	if err := os.WriteFile(cfg, []byte(yaml(true)), 0o600); err != nil {
		t.Fatal(err)
	}
	_ = sw.cmd.Process.Signal(syscall.SIGHUP)
	waitFor(t, "reload", 10*time.Second, func() bool { return contains(sw.output(), "configuration reloaded") })
	if _, stderr, code := run(t, []byte(strings.Replace(body, "a.example", "b.example", 1)), "publish", "--sensor", "org-a-s2", "--nats-url", url, "--nkey", s2Seed); code != 0 {
		t.Fatalf("s2 after the reload: exit %d: %s", code, stderr)
	}

	// peer-b reads both records through its consumer, with its own seed.
	kp := seedKey(t, pbSeed)
	pub, _ := kp.PublicKey()
	nc, err := nats.Connect(url, nats.Nkey(pub, kp.Sign), nats.CustomInboxPrefix(accounts.PeerInbox("peer-b")))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.NewWithAPIPrefix(nc, accounts.APIPrefix)
	cons, err := js.Consumer(t.Context(), "PEER_peer-b", "sink")
	if err != nil {
		t.Fatal(err)
	}
	codec, _ := cof.NewCodec()
	defer codec.Close()
	br := codec.NewBatchReader()
	var names []string
	waitFor(t, "peer-b's records", 10*time.Second, func() bool {
		batch, err := cons.Fetch(10, jetstream.FetchMaxWait(500*time.Millisecond))
		if err != nil {
			return false
		}
		for m := range batch.Messages() {
			enc, _ := cof.ParseEncoding(m.Headers().Get("Content-Encoding"))
			if err := br.Reset(m.Data(), enc); err == nil {
				for br.Next() {
					if r := br.Record(); r != nil {
						names = append(names, r.RRName+"/"+r.SensorID)
					}
				}
			}
			_ = m.Ack()
		}
		return len(names) >= 2
	})
	if strings.Join(names, " ") != "a.example/org-a-s1 b.example/org-a-s2" {
		t.Errorf("peer-b received %v", names)
	}
	// The operator's view, with the switch's own identity.
	switchSeed := filepath.Join(dir, "data", "switch.nk")
	if st, err := os.Stat(switchSeed); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("switch seed: %v %v", err, st)
	}
	out, stderr, code := run(t, nil, "tail", "--peer", "peer-b", "--from-start", "-n", "2", "--nats-url", url, "--nkey", switchSeed)
	if code != 0 || strings.Count(out, "\n") != 2 {
		t.Errorf("tail with the switch's seed: exit %d, %q, %s", code, out, stderr)
	}
	checkPeerTail(t, url, pbSeed, cons)
	for _, f := range []string{s1Seed, s2Seed, pbSeed, switchSeed} {
		seed, _ := os.ReadFile(f)
		if contains(sw.output(), strings.TrimSpace(string(seed))) {
			t.Errorf("the seed in %s appears in the log", f)
		}
	}
}

func seedKey(t *testing.T, file string) nkeys.KeyPair {
	t.Helper()
	seed, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	kp, err := nkeys.FromSeed([]byte(strings.TrimSpace(string(seed))))
	if err != nil {
		t.Fatal(err)
	}
	return kp
}

// checkPeerTail: peer-b tails its own feed with its own seed (direct get,
// no consumer made, nothing acked), cannot tail another stream, and a seed
// others may read is refused unless COFSWITCH_ALLOW_LAX_SECRETS=1.
func checkPeerTail(t *testing.T, url, pbSeed string, cons jetstream.Consumer) {
	t.Helper()
	ci := func() *jetstream.ConsumerInfo {
		t.Helper()
		info, err := cons.Info(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		return info
	}
	before := ci()
	out, stderr, code := run(t, nil, "tail", "--peer", "peer-b", "--from-start", "--wait", "500ms", "--nats-url", url, "--nkey", pbSeed)
	if code != 0 || !contains(out, `"a.example"`) || !contains(out, `"b.example"`) || strings.Count(out, "\n") != 2 {
		t.Errorf("tail with the peer's own seed: exit %d, %q, %s", code, out, stderr)
	}
	if after := ci(); after.AckFloor.Stream != before.AckFloor.Stream || after.NumPending != before.NumPending ||
		after.Delivered.Stream != before.Delivered.Stream || after.NumAckPending != before.NumAckPending {
		t.Errorf("the peer's tail moved its consumer: ack floor %d -> %d, pending %d -> %d, delivered %d -> %d",
			before.AckFloor.Stream, after.AckFloor.Stream, before.NumPending, after.NumPending, before.Delivered.Stream, after.Delivered.Stream)
	}
	if _, stderr, code := run(t, nil, "tail", "--peer", "peer-x", "-n", "1", "--nats-url", url, "--nkey", pbSeed); code != 1 {
		t.Errorf("peer-b tailing another stream: exit %d, %s", code, stderr)
	}
	// A seed others may read is refused, or only warned of on request.
	if err := os.Chmod(pbSeed, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, stderr, code := run(t, nil, "tail", "--peer", "peer-b", "-n", "1", "--nats-url", url, "--nkey", pbSeed); code != 1 || !contains(stderr, "chmod 600 "+pbSeed) {
		t.Errorf("tail with a seed others may read: exit %d, %s", code, stderr)
	}
	t.Setenv("COFSWITCH_ALLOW_LAX_SECRETS", "1")
	if _, stderr, code := run(t, nil, "tail", "--peer", "peer-b", "--from-start", "-n", "1", "--nats-url", url, "--nkey", pbSeed); code != 0 || !contains(stderr, "WARN") {
		t.Errorf("tail with a lax seed and COFSWITCH_ALLOW_LAX_SECRETS=1: exit %d, %s", code, stderr)
	}
}
