package main

import (
	"context"
	"errors"
	"flag"
	"strings"
	"time"

	"github.com/cofswitch/cofswitch/bus"
	"github.com/cofswitch/cofswitch/config"
	"github.com/cofswitch/cofswitch/ops"
	"github.com/cofswitch/cofswitch/switch/demo"
	"github.com/cofswitch/cofswitch/switch/engine"
	"github.com/cofswitch/cofswitch/switch/exchange"
	"github.com/cofswitch/cofswitch/switch/statuspage"
)

// watchEvery is how often serve compares the peers' streams with their
// consumers (evictions, lag) and reads the inputs' use and the readiness
// for the metrics.
const watchEvery = 30 * time.Second

type serveFlags struct {
	config, data, listen string
	demo                 bool
	demoInterval         time.Duration
	reloadEvery          time.Duration
	metrics              string
	memoryLimit          string
	status               statuspage.Options
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

With --metrics ADDR (loopback unless you say otherwise), ADDR serves
/metrics, /healthz, /readyz (503 naming what is missing; below the
verdict, one "warning:" line per silent sensor or peer falling behind) and
the status page at / (per sensor and peer: state, rates and sparklines of
the last 15 minutes, backlog, dead letters and their last reasons; live
over server-sent events at /events; the same as JSON at /status.json).

SIGHUP, or a change of the config file's content (checked every
--reload-check), reloads it: the registry and the compiled policies are
swapped in together, atomically, and new peer streams are created; every
batch is switched under exactly one version (logged, and in the metrics).
An invalid file is logged and the running configuration stays.
SIGINT or SIGTERM finish the batches in hand, ack them, then stop.

Every output batch is signed (Cofswitch-Exchange-Signature) with
switch.signing_key, else the nkey seed serve connects with, else switch.nk
in --data (made at the first start, kept); the public key is logged at
start (exchange_key) and printed by 'cofswitch config signing-key', for
peers to pin with --exchange-key. Sensors' signed batches are verified
against their registered nkey (require_signature: required).`,
		flags: func(fs *flag.FlagSet) any {
			f := &serveFlags{}
			fs.StringVar(&f.config, "config", "", "configuration `file` (YAML); none runs the demo exchange")
			fs.StringVar(&f.data, "data", "", "data `directory` of the embedded server and the switch's secret (default: cofswitch-data, or cofswitch-demo-data for the demo)")
			fs.StringVar(&f.listen, "listen", "", "embedded server's client `address` (default nats.listen, 127.0.0.1:4222)")
			fs.BoolVar(&f.demo, "demo", true, "without --config, run the demo sensors and peer watchers")
			fs.DurationVar(&f.demoInterval, "demo-interval", 15*time.Second, "how often the demo sensors publish")
			fs.StringVar(&f.metrics, "metrics", "", "serve Prometheus metrics, /healthz, /readyz and the status page on this `address` (e.g. 127.0.0.1:9464); empty: off")
			fs.DurationVar(&f.status.SilentAfter, "silent-after", statuspage.DefaultSilentAfter, "flag a sensor that fed the exchange and has sent nothing for this long")
			fs.DurationVar(&f.status.BehindAfter, "behind-after", statuspage.DefaultBehindAfter, "flag a peer whose consumers' backlog has grown for this long without emptying")
			fs.DurationVar(&f.status.Every, "status-every", statuspage.DefaultEvery, "how often the status page samples the exchange and updates")
			fs.DurationVar(&f.reloadEvery, "reload-check", 2*time.Second, "how often to check the config file for changes (0: only on SIGHUP)")
			fs.StringVar(&f.memoryLimit, "memory-limit", ops.MemoryAuto, "the Go runtime's soft memory `limit` (512MiB, 2GiB; off): auto takes GOMEMLIMIT, else 80% of the cgroup's memory limit, else 448MiB")
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
	if err := ops.SetMemoryLimit(f.memoryLimit, log); err != nil {
		return usageErrorf("%v", err)
	}
	cfg, err := loadServeConfig(f.config)
	if err != nil {
		return err
	}
	x, err := exchange.Start(ctx, cfg, exchange.Options{
		NATS: f.nats.overlay(cfg.NATS), Listen: f.listen, DataDir: dataDir(f), Logger: log,
	})
	var ce *config.Error
	switch {
	case errors.As(err, &ce) || errors.Is(err, exchange.ErrUnsafe):
		return &exitError{code: exitUsage, msg: err.Error()}
	case err != nil:
		return err
	}
	evictions, health := exchange.NewEvictions(x), exchange.NewHealth(x)
	go evictions.Run(ctx, watchEvery)
	go health.Run(ctx, watchEvery)
	go x.HealJetStream(ctx, 5*time.Second)
	if f.metrics != "" {
		m, err := ops.Serve(f.metrics, log, x.Ready, engine.NewCollector(x.Engine()), evictions, health)
		if err != nil {
			x.Stop()
			return &exitError{code: exitUsage, msg: "--metrics: " + err.Error()}
		}
		defer m.Close()
		f.status.Logger = log
		page := statuspage.New(x, f.status)
		go page.Run(ctx)
		m.Handle("/", page)
		m.SetWarnings(page.Warnings)
		log.Info("status page served", "url", strings.TrimSuffix(m.URL(), "metrics"))
	}
	log.Info("exchange ready", "nats", bus.Redact(x.URL()), "sensors", len(cfg.Sensors), "peers", len(cfg.Peers),
		"policies", len(cfg.Policies), "version", cfg.Version)
	if f.config == "" && f.demo {
		go demo.Run(ctx, x.JetStream(), cfg, log.With("demo", true), f.demoInterval)
	}
	if f.config != "" {
		go exchange.NewReloader(x, f.config, cfg.Version).Run(ctx, f.reloadEvery)
	}
	<-ctx.Done()
	log.Info("shutting down: finishing the batches in hand")
	x.Stop()
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

// dataDir keeps the demo's store apart from a real configuration's, so that
// the demo's streams never show up under a real exchange.
func dataDir(f *serveFlags) string {
	switch {
	case f.data != "":
		return f.data
	case f.config == "":
		return "cofswitch-demo-data"
	}
	return "cofswitch-data"
}
