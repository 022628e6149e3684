package bus_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"github.com/cofswitch/cofswitch/bus"
)

// logBuffer collects a logger's JSON lines; safe for concurrent use.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// records decodes the lines whose text contains substr.
func (l *logBuffer) records(t *testing.T, substr string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for line := range strings.Lines(l.String()) {
		if !strings.Contains(line, substr) {
			continue
		}
		var r map[string]any
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		out = append(out, r)
	}
	return out
}

// events counts the events that records of one kind and identity stand
// for: one per line logged in full, plus each summary's count.
func events(recs []map[string]any, kind, identity string) (lines, n int) {
	for _, r := range recs {
		if r["security"] != kind || r["identity"] != identity {
			continue
		}
		lines++
		if c, ok := r["count"].(float64); ok {
			n += int(c)
		} else {
			n++
		}
	}
	return lines, n
}

// checkFor polls cond until it holds or d passes.
func checkFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// secbed is a server whose only users are an nkey user allowed to publish
// "ok.>" and a password user, logging into a buffer.
type secbed struct {
	srv  *server.Server
	log  *logBuffer
	kp   nkeys.KeyPair
	pub  string
	user string // the account/user label the server logs for kp
}

const (
	testPassword  = "s3cret-pa55word"
	wrongPassword = "wr0ng-pa55word"
)

func newSecbed(t *testing.T, maxViolations int) *secbed {
	t.Helper()
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := kp.PublicKey()
	conf := fmt.Sprintf(`accounts {
  ORG {
    users: [
      { nkey: %q, permissions: { publish: { allow: ["ok.>"] }, subscribe: { allow: ["_INBOX.>"] } } }
      { user: "alice", password: %q }
    ]
  }
}
`, pub, testPassword)
	b := &secbed{log: &logBuffer{}, kp: kp, pub: pub, user: "ORG/nkey:" + pub}
	logger := slog.New(slog.NewJSONHandler(b.log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	b.srv, err = bus.StartServer(bus.ServerConfig{Listen: "127.0.0.1:0", StoreDir: t.TempDir(), Config: conf,
		Logger: logger, MaxViolations: maxViolations})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		b.srv.Shutdown()
		b.srv.WaitForShutdown()
		for _, secret := range []string{seedOf(t, kp), testPassword, wrongPassword} {
			if strings.Contains(b.log.String(), secret) {
				t.Errorf("the log holds a secret %.8s...", secret)
			}
		}
	})
	return b
}

func seedOf(t *testing.T, kp nkeys.KeyPair) string {
	t.Helper()
	seed, err := kp.Seed()
	if err != nil {
		t.Fatal(err)
	}
	return string(seed)
}

// connect connects as the nkey user, without reconnection.
func (b *secbed) connect(t *testing.T, opts ...nats.Option) *nats.Conn {
	t.Helper()
	opts = append([]nats.Option{nats.Nkey(b.pub, b.kp.Sign), nats.NoReconnect(),
		nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {})}, opts...)
	nc, err := nats.Connect(b.srv.ClientURL(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// stop shuts the server down, which ends the log's window: the summaries
// are written.
func (b *secbed) stop(t *testing.T) {
	t.Helper()
	b.srv.Shutdown()
	b.srv.WaitForShutdown()
	checkFor(t, 5*time.Second, "the last window's summaries", func() bool {
		return strings.Contains(b.log.String(), `"count"`)
	})
}

// TestRefusedPublishesAggregated: 20,000 refused publishes by one client
// cost a few log lines that account for all of them.
func TestRefusedPublishesAggregated(t *testing.T) {
	b := newSecbed(t, -1)
	nc := b.connect(t)
	const refused = 20000
	for range refused {
		if err := nc.Publish("not.ok", []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	if err := nc.Publish("ok.fine", []byte("x")); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatalf("the client was disconnected although MaxViolations < 0: %v", err)
	}
	b.stop(t)
	recs := b.log.records(t, b.pub)
	lines, n := events(recs, "publish violation", b.user)
	if lines > 5 || len(recs) > 5 {
		t.Errorf("%d lines for %d refused publishes (%d about the user), want at most 5:\n%s", lines, refused, len(recs), b.log)
	}
	if n != refused {
		t.Errorf("the log accounts for %d refused publishes, want %d:\n%s", n, refused, b.log)
	}
	for _, r := range recs {
		if c, ok := r["count"]; ok && (r["last"] != "not.ok" || !strings.Contains(r["msg"].(string), fmt.Sprint(c))) {
			t.Errorf("summary without the count or the last subject: %v", r)
		}
	}
	if len(b.log.records(t, `"security":"disconnect"`)) != 0 {
		t.Error("disconnected although MaxViolations < 0")
	}
}

// TestAbusiveConnectionDisconnected: a connection is closed after
// DefaultMaxViolations refused publishes, and that is logged once.
func TestAbusiveConnectionDisconnected(t *testing.T) {
	b := newSecbed(t, 0)
	closed := make(chan struct{})
	nc := b.connect(t, nats.ClosedHandler(func(*nats.Conn) { close(closed) }))
	cid, err := nc.GetClientID()
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	sent := 0
	for ; sent < 100*bus.DefaultMaxViolations && !nc.IsClosed(); sent++ {
		_ = nc.Publish("not.ok", []byte("x"))
		if sent%100 == 99 {
			_ = nc.Flush()
		}
	}
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatalf("still connected after %d refused publishes", sent)
	}
	t.Logf("disconnected %v after the first refused publish; %d sent", time.Since(start), sent)
	checkFor(t, 5*time.Second, "the server to drop the connection", func() bool {
		cz, err := b.srv.Connz(&server.ConnzOptions{CID: cid})
		return err == nil && len(cz.Conns) == 0
	})
	kicks := b.log.records(t, `"security":"disconnect"`)
	if len(kicks) != 1 || kicks[0]["cid"] != float64(cid) || kicks[0]["violations"] != float64(bus.DefaultMaxViolations) {
		t.Errorf("disconnection logged as %v, want once for cid %d at %d violations", kicks, cid, bus.DefaultMaxViolations)
	}

	// Other clients of the same user are untouched.
	other := b.connect(t)
	if err := other.Publish("ok.fine", nil); err != nil || other.Flush() != nil {
		t.Errorf("a well-behaved connection fails: %v", err)
	}
}

// TestAuthFailuresAggregated: 500 connection attempts with a wrong nkey or
// password cost a few lines that count them, keyed by the remote address.
func TestAuthFailuresAggregated(t *testing.T) {
	b := newSecbed(t, 0)
	stranger, _ := nkeys.CreateUser()
	strangerPub, _ := stranger.PublicKey()
	const attempts = 500
	for i := range attempts {
		var opt nats.Option
		switch i % 3 {
		case 0: // an unknown key
			opt = nats.Nkey(strangerPub, stranger.Sign)
		case 1: // the user's public key, signed by another
			opt = nats.Nkey(b.pub, stranger.Sign)
		default:
			opt = nats.UserInfo("alice", wrongPassword)
		}
		nc, err := nats.Connect(b.srv.ClientURL(), opt, nats.NoReconnect())
		if err == nil {
			nc.Close()
			t.Fatal("connected with a wrong credential")
		}
	}
	b.stop(t)
	if s := b.log.String(); strings.Contains(s, seedOf(t, stranger)) {
		t.Error("the log holds the wrong key's seed")
	}
	recs := b.log.records(t, "authentication")
	lines, n := events(recs, "authentication failure", "127.0.0.1")
	if lines > 5 || len(recs) > 5 {
		t.Errorf("%d lines for %d failed connections, want at most 5:\n%s", len(recs), attempts, b.log)
	}
	if n != attempts {
		t.Errorf("the log accounts for %d failed connections, want %d:\n%s", n, attempts, b.log)
	}
}

// TestOtherLinesPassThrough: lines that are no security event are logged
// as before.
func TestOtherLinesPassThrough(t *testing.T) {
	b := newSecbed(t, 0)
	checkFor(t, 5*time.Second, "the server's lines", func() bool {
		s := b.log.String()
		return strings.Contains(s, `"level":"WARN","msg":"Plaintext passwords detected`) &&
			strings.Contains(s, `"level":"DEBUG","msg":"Server is ready"`)
	})
	if strings.Contains(b.log.String(), `"security"`) {
		t.Errorf("a security event without an attack:\n%s", b.log)
	}
}
