package cluster

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cofswitch/cofswitch/config"
)

func TestParseServer(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Server
		err  string
	}{
		{in: "nats-1=nats-1:4222:6222", want: Server{Name: "nats-1", Host: "nats-1", Client: 4222, Route: 6222}},
		{in: "n=10.0.0.1:4222:6222:8222", want: Server{Name: "n", Host: "10.0.0.1", Client: 4222, Route: 6222, Monitor: 8222}},
		{in: "nats-1:4222:6222", err: "want NAME=HOST"},
		{in: "=h:1:2", err: "want NAME=HOST"},
		{in: "n=h:4222", err: "want NAME=HOST"},
		{in: "n=:4222:6222", err: "want NAME=HOST"},
		{in: "n=h:4222:6222:8222:9", err: "want NAME=HOST"},
		{in: "n=h:4222:x", err: `port "x"`},
		{in: "n=h:0:6222", err: `port "0"`},
		{in: "n=h:4222:70000", err: `port "70000"`},
	} {
		got, err := ParseServer(tc.in)
		if tc.err != "" {
			if err == nil || !errors.Is(err, ErrOptions) || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: error %v, want one with %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%q: %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
}

func TestParseIdentity(t *testing.T) {
	if id, err := ParseIdentity("sensor", "s-1@cert-xy"); err != nil || id != (Identity{"s-1", "cert-xy"}) {
		t.Errorf("s-1@cert-xy: %+v %v", id, err)
	}
	for _, bad := range []string{"s1", "s1@", "@org", "a b@org", "cof.in.x@org"} {
		if _, err := ParseIdentity("peer", bad); !errors.Is(err, ErrOptions) {
			t.Errorf("%q: %v, want ErrOptions", bad, err)
		}
	}
}

func options(dir string) Options {
	return Options{
		Dir:      filepath.Join(dir, "c"),
		StoreDir: "/data",
		Servers: []Server{
			{Name: "a", Host: "nats-a", Client: 4222, Route: 6222, Monitor: 8222},
			{Name: "b", Host: "nats-b", Client: 4222, Route: 6222},
			{Name: "c", Host: "nats-c", Client: 4222, Route: 6222},
		},
		Sensors: []Identity{{"s1", "org-a"}},
		Peers:   []Identity{{"p1", "org-b"}, {"p2", "org-c"}},
	}
}

func TestOptionsRefused(t *testing.T) {
	for name, change := range map[string]func(*Options){
		"no dir":        func(o *Options) { o.Dir = "" },
		"no servers":    func(o *Options) { o.Servers = nil },
		"no store":      func(o *Options) { o.StoreDir = "" },
		"no sensor":     func(o *Options) { o.Sensors = nil },
		"no peer":       func(o *Options) { o.Peers = nil },
		"replicas > n":  func(o *Options) { o.Replicas = 4 },
		"name twice":    func(o *Options) { o.Servers[1].Name = "a" },
		"address twice": func(o *Options) { o.Servers[1].Host = "nats-a" },
		"port twice":    func(o *Options) { o.Servers[0].Monitor = 6222 },
	} {
		o := options(t.TempDir())
		change(&o)
		if _, err := Init(o); !errors.Is(err, ErrOptions) {
			t.Errorf("%s: %v, want ErrOptions", name, err)
		}
		if _, err := os.Stat(o.Dir); err == nil && o.Dir != "" {
			t.Errorf("%s: %s was made", name, o.Dir)
		}
	}
}

// TestInit: the files are there, private, consistent (the registry loads
// and names the seeds; every server's configuration names the others'
// routes and the same accounts), and a second run replaces nothing.
func TestInit(t *testing.T) {
	o := options(t.TempDir())
	files, err := Init(o)
	if err != nil {
		t.Fatal(err)
	}
	if len(files.Seeds) != 4 || len(files.APIKeys) != 2 || len(files.ServerConfigs) != 3 {
		t.Fatalf("files %+v", files)
	}
	entries, _ := os.ReadDir(o.Dir)
	for _, e := range entries {
		info, _ := e.Info()
		if info.Mode().Perm() != 0o600 || strings.HasSuffix(e.Name(), ".tmp") || strings.HasSuffix(e.Name(), ".new") {
			t.Errorf("%s: mode %v", e.Name(), info.Mode())
		}
	}
	if info, _ := os.Stat(o.Dir); info.Mode().Perm() != 0o700 {
		t.Errorf("directory mode %v", info.Mode())
	}
	cfg, err := config.Load(files.Config)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Streams.Replicas != 3 || len(cfg.NATS.URLs) != 3 || cfg.NATS.URLs[1] != "nats://nats-b:4222" ||
		cfg.NATS.NKey != filepath.Join(o.Dir, SwitchSeed) || cfg.Switch.SecretFile != filepath.Join(o.Dir, SwitchSecret) {
		t.Errorf("registry: %+v %+v %+v", cfg.NATS, cfg.Streams, cfg.Switch)
	}
	if len(cfg.Sensors) != 1 || len(cfg.Peers) != 2 || cfg.Peers[1].Organisation != "org-c" || cfg.Peers[0].NKey == "" {
		t.Errorf("registry: sensors %+v peers %+v", cfg.Sensors, cfg.Peers)
	}
	a, _ := os.ReadFile(files.ServerConfigs[0])
	b, _ := os.ReadFile(files.ServerConfigs[1])
	for _, want := range []string{`server_name: "a"`, `listen: "127.0.0.1:4222"`, `http: "127.0.0.1:8222"`,
		`store_dir: "/data/a"`, "@nats-b:6222", "@nats-c:6222", `"ORG:org-b:peer:p1"`, cfg.Peers[0].NKey} {
		if !strings.Contains(string(a), want) {
			t.Errorf("server a's configuration lacks %q", want)
		}
	}
	if strings.Contains(string(b), "http:") || !strings.Contains(string(b), `server_name: "b"`) {
		t.Errorf("server b's configuration:\n%s", b)
	}
	// Routes authenticate with one password, the same on every server.
	pw := func(s string) string {
		_, rest, _ := strings.Cut(s, `password: "`)
		p, _, _ := strings.Cut(rest, `"`)
		return p
	}
	if p := pw(string(a)); len(p) < 32 || p != pw(string(b)) {
		t.Errorf("route passwords %q %q", p, pw(string(b)))
	}

	seed, _ := os.ReadFile(files.Seeds[0])
	if _, err := Init(o); !errors.Is(err, ErrExists) {
		t.Errorf("second run: %v, want ErrExists", err)
	}
	if again, _ := os.ReadFile(files.Seeds[0]); string(again) != string(seed) {
		t.Error("the second run replaced the switch's seed")
	}
	// Without the registry, the seeds there are still never replaced.
	os.Remove(files.Config)
	if _, err := Init(o); !errors.Is(err, ErrExists) {
		t.Errorf("a run over seeds without a registry: %v, want ErrExists", err)
	}
}

// TestInitBind: servers listen where told, and the replicas follow.
// TestInitClosesAnExistingDirectory: a mount point that exists, open to
// all, is made the owner's alone.
func TestInitClosesAnExistingDirectory(t *testing.T) {
	o := options(t.TempDir())
	if err := os.Mkdir(o.Dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := Init(o); err != nil {
		t.Fatal(err)
	}
	if info, _ := os.Stat(o.Dir); info.Mode().Perm() != 0o700 {
		t.Errorf("directory mode %v", info.Mode())
	}
}

func TestInitBind(t *testing.T) {
	o := options(t.TempDir())
	o.Bind, o.Servers, o.Replicas = "0.0.0.0", o.Servers[:1], 0
	files, err := Init(o)
	if err != nil {
		t.Fatal(err)
	}
	cfg, _ := config.Load(files.Config)
	a, _ := os.ReadFile(files.ServerConfigs[0])
	// Monitoring stays on loopback unless asked: it shows every account.
	if cfg.Streams.Replicas != 1 || !strings.Contains(string(a), `listen: "0.0.0.0:6222"`) || !strings.Contains(string(a), `http: "127.0.0.1:8222"`) {
		t.Errorf("replicas %d\n%s", cfg.Streams.Replicas, a)
	}
}

// TestInitMonitorBind: the monitoring endpoints listen where told.
func TestInitMonitorBind(t *testing.T) {
	o := options(t.TempDir())
	o.MonitorBind = "0.0.0.0"
	files, err := Init(o)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := os.ReadFile(files.ServerConfigs[0])
	if !strings.Contains(string(a), `http: "0.0.0.0:8222"`) || !strings.Contains(string(a), `listen: "127.0.0.1:4222"`) {
		t.Errorf("monitor not on 0.0.0.0, or the client port moved with it:\n%s", a)
	}
}
