package exchange_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cofswitch/cofswitch/config"
	"github.com/cofswitch/cofswitch/routing"
	"github.com/cofswitch/cofswitch/secretfile"
	"github.com/cofswitch/cofswitch/switch/exchange"
)

const twoPeers = `
nats: {auth: none, listen: "127.0.0.1:0"}
sensors: [{id: s1, organisation: o}]
peers:
  - {id: p1, organisation: o, subscriptions: [{sensors: [s1]}]}
`

func writeConfig(t *testing.T, path, text string) *config.Config {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func start(t *testing.T, cfg *config.Config) *exchange.Exchange {
	t.Helper()
	x, err := exchange.Start(t.Context(), cfg, exchange.Options{NATS: cfg.NATS, DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(x.Stop)
	return x
}

func waitMsgs(t *testing.T, js jetstream.JetStream, stream string, n uint64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		s, err := js.Stream(t.Context(), stream)
		if err == nil {
			if info, err := s.Info(t.Context()); err == nil && info.State.Msgs >= n {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not reach %d messages", stream, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// The exchange switches a sensor's batch to its peer through an embedded
// server that clients outside the process reach on loopback.
func TestStartSwitches(t *testing.T) {
	cfg := writeConfig(t, filepath.Join(t.TempDir(), "x.yaml"), twoPeers)
	x := start(t, cfg)
	if x.Embedded() == nil || !strings.HasPrefix(x.URL(), "nats://127.0.0.1:") {
		t.Fatalf("URL %s, embedded %v", x.URL(), x.Embedded())
	}
	nc, err := nats.Connect(x.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	if _, err := js.Publish(t.Context(), routing.InSubject("s1"),
		[]byte(`{"rrname":"a.example","rrtype":"A","rdata":"192.0.2.1","time_first":1,"time_last":2}`)); err != nil {
		t.Fatal(err)
	}
	waitMsgs(t, js, routing.PeerStream("p1"), 1)
	if x.Engine().PolicyVersion() != cfg.Version {
		t.Errorf("engine runs %s, want %s", x.Engine().PolicyVersion(), cfg.Version)
	}
}

func TestStartRefuses(t *testing.T) {
	dir := t.TempDir()
	t.Run("no authentication beyond loopback", func(t *testing.T) {
		// The configuration is checked on its own; a listener given at
		// start (serve --listen) is checked here.
		cfg := writeConfig(t, filepath.Join(dir, "open.yaml"), twoPeers)
		_, err := exchange.Start(t.Context(), cfg, exchange.Options{NATS: cfg.NATS, Listen: "0.0.0.0:0", DataDir: t.TempDir()})
		if !errors.Is(err, exchange.ErrUnsafe) {
			t.Fatalf("err = %v, want ErrUnsafe", err)
		}
	})
	t.Run("a policy whose key is missing", func(t *testing.T) {
		cfg := writeConfig(t, filepath.Join(dir, "key.yaml"), twoPeers+`
policies:
  p: {transforms: {pseudonymise_sensor: {key_env: COFSWITCH_TEST_NO_SUCH_KEY}}}
`)
		_, err := exchange.Start(t.Context(), cfg, exchange.Options{NATS: cfg.NATS, DataDir: t.TempDir()})
		var ce *config.Error
		if !errors.As(err, &ce) {
			t.Fatalf("err = %v, want a *config.Error", err)
		}
	})
	t.Run("an unreachable deployment", func(t *testing.T) {
		cfg := writeConfig(t, filepath.Join(dir, "ext.yaml"), twoPeers)
		cfg.NATS.URLs = []string{"nats://127.0.0.1:1"}
		if _, err := exchange.Start(t.Context(), cfg, exchange.Options{NATS: cfg.NATS}); err == nil {
			t.Fatal("started without a server")
		}
	})
}

// With nkeys the switch's seed is made once, private, and reused.
func TestSwitchKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), exchange.SwitchSeedFile)
	a, err := exchange.LoadOrCreateSwitchKey(path)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("seed file %v, %v: want mode 0600", st, err)
	}
	b, err := exchange.LoadOrCreateSwitchKey(path)
	if err != nil {
		t.Fatal(err)
	}
	pa, _ := a.PublicKey()
	pb, _ := b.PublicKey()
	if pa != pb {
		t.Fatal("a second start made a new identity")
	}
	// A seed others may read is refused, naming the fix.
	os.Chmod(path, 0o640)
	if _, err := exchange.LoadOrCreateSwitchKey(path); !errors.Is(err, secretfile.ErrLaxMode) || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("a seed others may read: %v", err)
	}
	os.Chmod(path, 0o600)
	// A corrupt seed is refused without its content in the error.
	os.WriteFile(path, []byte("SUSECRETBUTBROKEN"), 0o600)
	if _, err := exchange.LoadOrCreateSwitchKey(path); err == nil || strings.Contains(err.Error(), "SUSECRET") {
		t.Fatalf("a corrupt seed: %v", err)
	}
}

func TestReloader(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.yaml")
	cfg := writeConfig(t, path, twoPeers)
	x := start(t, cfg)
	r := exchange.NewReloader(x, path, cfg.Version)

	// A new peer: its stream is made and the engine runs the new version.
	next := writeConfig(t, path, twoPeers+"  - {id: p2, organisation: o, subscriptions: [{sensors: [s1]}]}\n")
	if !r.Reload(t.Context(), "test") {
		t.Fatal("a valid configuration was rejected")
	}
	if _, err := x.JetStream().Stream(t.Context(), routing.PeerStream("p2")); err != nil {
		t.Fatalf("the new peer's stream: %v", err)
	}
	if x.Engine().PolicyVersion() != next.Version {
		t.Fatalf("engine runs %s, want %s", x.Engine().PolicyVersion(), next.Version)
	}

	// A broken file is rejected and the running configuration stays.
	os.WriteFile(path, []byte("peers: [{id: p1, subscriptions: [{policy: nope}]}]\n"), 0o600)
	if r.Reload(t.Context(), "test") {
		t.Fatal("a broken configuration was applied")
	}
	if x.Engine().PolicyVersion() != next.Version {
		t.Fatalf("engine runs %s after a rejected reload, want %s", x.Engine().PolicyVersion(), next.Version)
	}

	// The file watch sees a change by itself.
	final := writeConfig(t, path, twoPeers)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go r.Run(ctx, 20*time.Millisecond)
	deadline := time.Now().Add(10 * time.Second)
	for x.Engine().PolicyVersion() != final.Version {
		if time.Now().After(deadline) {
			t.Fatal("the changed file was not reloaded")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// With nkeys but without TLS, a listener beyond loopback is warned of in
// one line that says the risk and the fix; loopback and TLS are quiet.
func TestCleartextWarning(t *testing.T) {
	for _, tt := range []struct {
		name, auth, listen string
		tls, warn          bool
	}{
		{name: "every interface", auth: config.AuthNKeys, listen: "0.0.0.0:4222", warn: true},
		{name: "no host", auth: config.AuthNKeys, listen: ":4222", warn: true},
		{name: "a public address", auth: config.AuthNKeys, listen: "192.0.2.7:4222", warn: true},
		{name: "an IPv6 address", auth: config.AuthNKeys, listen: "[2001:db8::1]:4222", warn: true},
		{name: "with TLS", auth: config.AuthNKeys, listen: "0.0.0.0:4222", tls: true},
		{name: "loopback", auth: config.AuthNKeys, listen: "127.0.0.1:4222"},
		{name: "IPv6 loopback", auth: config.AuthNKeys, listen: "[::1]:4222"},
		{name: "localhost", auth: config.AuthNKeys, listen: "localhost:4222"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			exchange.WarnCleartext(slog.New(slog.NewTextHandler(&buf, nil)), tt.auth, tt.listen, tt.tls)
			got := buf.String()
			if !tt.warn {
				if got != "" {
					t.Fatalf("logged %q", got)
				}
				return
			}
			if strings.Count(got, "\n") != 1 || !strings.Contains(got, "level=WARN") || !strings.Contains(got, "without TLS") ||
				!strings.Contains(got, "nats.server_tls") || !strings.Contains(got, tt.listen) {
				t.Fatalf("want one WARN line with the risk, the fix and the address; got %q", got)
			}
		})
	}

	// The real start on loopback says nothing of it.
	cfg := writeConfig(t, filepath.Join(t.TempDir(), "x.yaml"), "sensors: [{id: s1}]\n")
	var buf bytes.Buffer
	e, err := exchange.StartEmbedded(cfg, "127.0.0.1:0", t.TempDir(), slog.New(slog.NewTextHandler(&buf, nil)))
	if err != nil {
		t.Fatal(err)
	}
	e.Stop()
	if strings.Contains(buf.String(), "without TLS") || !strings.Contains(buf.String(), "auth=nkeys") {
		t.Fatalf("log of a loopback start: %s", buf.String())
	}
}
