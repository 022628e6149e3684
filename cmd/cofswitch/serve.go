package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/cofswitch/cofswitch/bus"
	"github.com/cofswitch/cofswitch/cof"
	"github.com/cofswitch/cofswitch/config"
	"github.com/cofswitch/cofswitch/demo"
	"github.com/cofswitch/cofswitch/engine"
	"github.com/cofswitch/cofswitch/peers"
	"github.com/cofswitch/cofswitch/policy"
	"github.com/cofswitch/cofswitch/routing"
)

type serveFlags struct {
	config, data, listen string
	demo                 bool
	demoInterval         time.Duration
	reloadEvery          time.Duration
	metrics              string
	nats                 natsFlags
	log                  logFlags
}

func serveCommand() *command {
	return &command{
		name:    "serve",
		summary: "run the switch (with an embedded NATS server unless given a URL)",
		doc: `Run the switch: consume sensor batches from COF_IN, validate them, route
them by sensor_id, apply each subscription's policy and deliver one batch per
peer to PEER_<peer>; invalid input goes to COF_DLQ.

Without --nats-url (or nats.urls in the config) it starts an embedded NATS
server with JetStream, listening on 127.0.0.1:4222 (nats.listen, --listen),
with its store under --data. With a URL it uses that NATS deployment and
starts no server. Several 'serve' processes on one deployment share the work.

Without --config it runs a built-in demo exchange (3 sensors, 4 peers) whose
demo sensors replay sample records every --demo-interval, and logs what each
peer receives; --demo=false keeps the demo registry but not its sensors.

SIGHUP, or a change of the config file's content (checked every
--reload-check), reloads it: the registry and the compiled policies are
swapped in together, atomically, and new peer streams are created; every
batch is switched under exactly one version (the Cofswitch-Policies header).
An invalid file is logged and the running configuration stays.
SIGINT or SIGTERM finish the batches in hand, ack them, then stop.`,
		flags: func(fs *flag.FlagSet) any {
			f := &serveFlags{}
			fs.StringVar(&f.config, "config", "", "configuration `file` (YAML); none runs the demo exchange")
			fs.StringVar(&f.data, "data", "cofswitch-data", "data `directory` of the embedded server")
			fs.StringVar(&f.listen, "listen", "", "embedded server's client `address` (default nats.listen, 127.0.0.1:4222)")
			fs.BoolVar(&f.demo, "demo", true, "without --config, run the demo sensors and peer watchers")
			fs.DurationVar(&f.demoInterval, "demo-interval", 15*time.Second, "how often the demo sensors publish")
			fs.StringVar(&f.metrics, "metrics", "", "serve Prometheus metrics on this `address` (e.g. 127.0.0.1:9464); empty: off")
			fs.DurationVar(&f.reloadEvery, "reload-check", 2*time.Second, "how often to check the config file for changes (0: only on SIGHUP)")
			addNATSFlags(fs, &f.nats, "")
			addLogFlags(fs, &f.log)
			return f
		},
		run: func(ctx context.Context, io stdio, opts any, args []string) error {
			if len(args) > 0 {
				return usageErrorf("serve takes no arguments")
			}
			return serve(ctx, io, opts.(*serveFlags))
		},
	}
}

func serve(ctx context.Context, io stdio, f *serveFlags) error {
	log, err := f.log.logger(io)
	if err != nil {
		return err
	}
	cfg, err := loadServeConfig(f.config)
	if err != nil {
		return err
	}
	nc := f.nats.overlay(cfg.NATS)
	url := strings.Join(nc.URLs, ",")
	var emb *embedded
	var extra []nats.Option
	if url == "" {
		if emb, err = startEmbedded(f, cfg, log); err != nil {
			return err
		}
		defer emb.stop()
		url = emb.srv.ClientURL()
		// The switch talks to its own server in process: no listener,
		// no TLS to verify, still its own identity.
		extra = append(emb.connectOpts(), nats.InProcessServer(emb.srv))
	}
	connectURL := url
	if emb != nil {
		// In process there is no TLS to do: a tls:// URL would demand it.
		connectURL = "nats://" + strings.TrimPrefix(strings.TrimPrefix(url, "tls://"), "nats://")
	}
	conn, err := bus.Connect(connectURL, "cofswitch-serve", &nc, log, extra...)
	if err != nil {
		return err
	}
	defer conn.Close()
	js, err := jetstream.New(conn)
	if err != nil {
		return err
	}
	setup, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := bus.EnsureStreams(setup, js, cfg); err != nil {
		return err
	}
	table, pols, err := cfg.Compile(policy.DefaultEnv())
	if err != nil {
		return &exitError{code: exitUsage, msg: err.Error()}
	}
	eng, err := engine.New(conn, table, pols, switchOptions(cfg.Switch, log)...)
	if err != nil {
		return err
	}
	if err := eng.Start(setup); err != nil {
		return err
	}
	if f.metrics != "" {
		stop, err := serveMetrics(f.metrics, eng, log)
		if err != nil {
			eng.Stop()
			return &exitError{code: exitUsage, msg: "--metrics: " + err.Error()}
		}
		defer stop()
	}
	log.Info("exchange ready", "nats", bus.Redact(url), "sensors", len(cfg.Sensors), "peers", len(cfg.Peers),
		"policies", len(cfg.Policies), "version", cfg.Version)
	if f.config == "" && f.demo {
		go demo.Run(ctx, js, cfg, log.With("demo", true), f.demoInterval)
	}
	if f.config != "" {
		r := &reloader{path: f.config, js: js, eng: eng, log: log, version: cfg.Version, emb: emb}
		go r.run(ctx, f.reloadEvery)
	}
	<-ctx.Done()
	log.Info("shutting down: finishing the batches in hand")
	eng.Stop()
	if err := conn.Drain(); err != nil && err != nats.ErrConnectionClosed {
		log.Warn("drain", "err", err)
	}
	waitClosed(conn, 5*time.Second)
	return nil
}

func loadServeConfig(path string) (*config.Config, error) {
	if path == "" {
		return demo.Config()
	}
	cfg, err := config.Load(path)
	if err != nil {
		return nil, &exitError{code: exitUsage, msg: err.Error()}
	}
	return cfg, nil
}

// embedded is the in-process NATS server and the switch's identity on it.
type embedded struct {
	srv  *server.Server
	cfg  bus.ServerConfig
	auth string
	tls  *peers.TLSFiles
	key  nkeys.KeyPair // the switch's identity on the embedded server
	log  *slog.Logger
}

func startEmbedded(f *serveFlags, cfg *config.Config, log *slog.Logger) (*embedded, error) {
	listen := cfg.NATS.Listen
	if f.listen != "" {
		listen = f.listen
	}
	if cfg.NATS.Auth == config.AuthNone {
		if host, _, err := net.SplitHostPort(listen); err != nil || !isLoopbackHost(host) {
			return nil, usageErrorf("--listen %s: nats.auth none is refused beyond loopback", listen)
		}
	}
	// The server adds its own "jetstream" directory below the store.
	store := f.data
	if err := os.MkdirAll(store, 0o700); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	e := &embedded{cfg: bus.ServerConfig{Listen: listen, StoreDir: store, Logger: log}, auth: cfg.NATS.Auth, log: log}
	if st := cfg.NATS.ServerTLS; st.Cert != "" {
		e.tls = &peers.TLSFiles{Cert: st.Cert, Key: st.Key, CA: st.CA}
		e.cfg.Config = peers.TLSConfig(e.tls)
	}
	if e.auth == config.AuthNKeys {
		kp, err := switchKey(filepath.Join(store, SwitchSeedFile))
		if err != nil {
			return nil, err
		}
		e.key = kp
		if e.cfg.Config, err = e.authConfig(cfg); err != nil {
			return nil, err
		}
	}
	srv, err := bus.StartServer(e.cfg)
	if err != nil {
		return nil, err
	}
	e.srv = srv
	log.Info("embedded NATS server started", "url", srv.ClientURL(), "store", filepath.Join(store, "jetstream"),
		"auth", e.auth, "identities", identities(cfg), "tls", e.tls != nil, "mtls", e.tls != nil && e.tls.CA != "")
	return e, nil
}

func (e *embedded) authConfig(cfg *config.Config) (string, error) {
	pub, err := e.key.PublicKey()
	if err != nil {
		return "", err
	}
	return peers.ServerConfig(cfg, peers.ServerOptions{SwitchKey: pub, TLS: e.tls})
}

// SwitchSeedFile, in the data directory, holds the seed of the switch's
// identity on the embedded server (mode 0600). Operators use it for the
// exchange-wide tools: 'cofswitch tail --nkey cofswitch-data/switch.nk'.
const SwitchSeedFile = "switch.nk"

// switchKey reads the switch's seed, or makes and writes one.
func switchKey(path string) (nkeys.KeyPair, error) {
	if seed, err := os.ReadFile(path); err == nil {
		kp, err := nkeys.FromSeed([]byte(strings.TrimSpace(string(seed))))
		if err != nil {
			return nil, fmt.Errorf("%s: not an nkey seed", path)
		}
		return kp, nil
	} else if !os.IsNotExist(err) {
		return nil, err
	}
	kp, err := nkeys.CreateUser()
	if err != nil {
		return nil, err
	}
	seed, _ := kp.Seed()
	if err := os.WriteFile(path, append(seed, '\n'), 0o600); err != nil {
		return nil, fmt.Errorf("writing the switch's seed: %w", err)
	}
	return kp, nil
}

// connectOpts are the switch's credentials on the embedded server.
func (e *embedded) connectOpts() []nats.Option {
	if e.key == nil {
		return nil
	}
	pub, _ := e.key.PublicKey()
	return []nats.Option{nats.Nkey(pub, e.key.Sign)}
}

// reconfigure applies the authorisation of a new registry.
func (e *embedded) reconfigure(cfg *config.Config) error {
	if e == nil || e.auth != config.AuthNKeys {
		return nil
	}
	text, err := e.authConfig(cfg)
	if err != nil {
		return err
	}
	next := e.cfg
	next.Config = text
	if err := bus.Reconfigure(e.srv, next); err != nil {
		return err
	}
	e.cfg = next
	return nil
}

func (e *embedded) stop() { e.srv.Shutdown(); e.srv.WaitForShutdown() }

// identities counts the sensors and peers that have an nkey.
func identities(cfg *config.Config) int {
	n := 0
	for _, s := range cfg.Sensors {
		if s.NKey != "" {
			n++
		}
	}
	for _, p := range cfg.Peers {
		if p.NKey != "" {
			n++
		}
	}
	return n
}

func isLoopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// reloader swaps in a new registry and policies from the config file on
// SIGHUP and when the file's content changes. A file that does not load,
// compile or provision is logged and the running configuration stays.
type reloader struct {
	path    string
	js      jetstream.JetStream
	eng     *engine.Engine
	log     *slog.Logger
	version string // of the file last read, applied or not
	lastErr string
	emb     *embedded // nil with an external deployment
}

func (r *reloader) run(ctx context.Context, every time.Duration) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	var tick <-chan time.Time
	if every > 0 {
		t := time.NewTicker(every)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			r.reload(ctx, "SIGHUP")
		case <-tick:
			// Cheap check first: the version is the hash of the content.
			data, err := os.ReadFile(r.path)
			if err != nil {
				continue
			}
			if c, err := config.Parse(r.path, data); err != nil || c.Version != r.version {
				r.reload(ctx, "file changed")
			}
		}
	}
}

func (r *reloader) reload(ctx context.Context, why string) {
	cfg, err := config.Load(r.path)
	var table *routing.Table
	var pols *policy.Set
	if err == nil {
		table, pols, err = cfg.Compile(policy.DefaultEnv())
	}
	if err == nil {
		sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err = bus.EnsureStreams(sctx, r.js, cfg)
		cancel()
	}
	if err == nil {
		err = r.emb.reconfigure(cfg)
	}
	if err != nil {
		// Polling sees a bad file again and again: log each fault once.
		if err.Error() != r.lastErr || why == "SIGHUP" {
			r.log.Error("reload rejected; the running configuration stays", "file", r.path, "trigger", why,
				"running", r.eng.PolicyVersion(), "err", err)
		}
		// The version is not recorded: the next check tries again, so a
		// passing fault (a timeout) cannot leave a key removal unapplied.
		r.lastErr = err.Error()
		return
	}
	r.lastErr = ""
	r.eng.SetRegistry(table, pols)
	r.version = cfg.Version
	r.log.Info("configuration reloaded", "file", r.path, "trigger", why, "version", cfg.Version,
		"sensors", len(cfg.Sensors), "peers", len(cfg.Peers), "policies", len(cfg.Policies))
}

// serveMetrics serves /metrics for Prometheus: the switch's counters, the
// policy version, and the Go and process collectors.
func serveMetrics(addr string, eng *engine.Engine, log *slog.Logger) (func(), error) {
	return serveCollectors(addr, log, engine.NewCollector(eng))
}

// serveCollectors serves /metrics with the given collectors and the Go and
// process collectors.
func serveCollectors(addr string, log *slog.Logger, cs ...prometheus.Collector) (func(), error) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	reg.MustRegister(cs...)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	log.Info("metrics served", "url", "http://"+ln.Addr().String()+"/metrics")
	return func() { _ = srv.Close() }, nil
}

func waitClosed(nc *nats.Conn, d time.Duration) {
	deadline := time.Now().Add(d)
	for !nc.IsClosed() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
}

// switchOptions are the engine options the configuration's switch
// section sets.
func switchOptions(c config.Switch, log *slog.Logger) []engine.Option {
	opts := []engine.Option{
		engine.WithLogger(log),
		engine.WithWorkers(c.Workers),
		engine.WithMaxAckPending(c.MaxAckPending),
		engine.WithAckWait(time.Duration(c.AckWait)),
		engine.WithMaxAttempts(c.MaxAttempts),
		engine.WithPublishTimeout(time.Duration(c.PublishTimeout)),
	}
	switch c.OutputEncoding {
	case "input":
		opts = append(opts, engine.WithOutputAsInput())
	case "none":
		opts = append(opts, engine.WithOutputEncoding(cof.Identity))
	default: // checked by the config: s2 or zstd
		opts = append(opts, engine.WithOutputEncoding(cof.Encoding(c.OutputEncoding)))
	}
	return opts
}
