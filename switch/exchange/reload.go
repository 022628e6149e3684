package exchange

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/cofswitch/cofswitch/config"
	"github.com/cofswitch/cofswitch/policy"
	"github.com/cofswitch/cofswitch/routing"
)

// Reloader swaps a new registry and new policies into a running exchange
// from its configuration file, on SIGHUP and when the file's content
// changes. A file that does not load, compile or provision is logged and
// the running configuration stays.
type Reloader struct {
	x       *Exchange
	path    string
	log     *slog.Logger
	version string // of the file last read, applied or not
	lastErr string
}

// NewReloader watches path, the file x was started from, whose version is
// version.
func NewReloader(x *Exchange, path, version string) *Reloader {
	return &Reloader{x: x, path: path, log: x.log, version: version}
}

// Run reloads on SIGHUP, and when the file's content changed at a check
// every interval (0: on SIGHUP only), until ctx ends.
func (r *Reloader) Run(ctx context.Context, every time.Duration) {
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
			r.Reload(ctx, "SIGHUP")
		case <-tick:
			// Cheap check first: the version is the hash of the content.
			data, err := os.ReadFile(r.path)
			if err != nil {
				continue
			}
			if c, err := config.Parse(r.path, data); err != nil || c.Version != r.version {
				r.Reload(ctx, "file changed")
			}
		}
	}
}

// Reload reads the file and applies it, saying why in the log. It reports
// whether the new configuration runs.
func (r *Reloader) Reload(ctx context.Context, why string) bool {
	cfg, err := config.Load(r.path)
	var table *routing.Table
	var pols *policy.Set
	if err == nil {
		table, pols, err = cfg.Compile(policy.DefaultEnv())
	}
	var due []string
	if err == nil {
		sctx, cancel := context.WithTimeout(ctx, setupTimeout)
		due, err = backfillsDue(sctx, r.x.js, cfg)
		if err == nil {
			err = EnsureStreams(sctx, r.x.js, cfg)
		}
		cancel()
	}
	if err == nil {
		err = r.x.emb.Reconfigure(cfg)
	}
	if err != nil {
		// Polling sees a bad file again and again: log each fault once.
		if err.Error() != r.lastErr || why == "SIGHUP" {
			r.log.Error("reload rejected; the running configuration stays", "file", r.path, "trigger", why,
				"running", r.x.eng.PolicyVersion(), "err", err)
		}
		// The version is not recorded: the next check tries again, so a
		// passing fault (a timeout) cannot leave a key removal unapplied.
		r.lastErr = err.Error()
		return false
	}
	r.lastErr = ""
	// The peers' own subscriptions are merged in again, re-checked
	// against the new ceilings.
	r.x.install(cfg, table, pols)
	if r.x.bf != nil {
		r.x.bf.start(cfg, due)
	}
	r.version = cfg.Version
	r.log.Info("configuration reloaded", "file", r.path, "trigger", why, "version", cfg.Version,
		"sensors", len(cfg.Sensors), "peers", len(cfg.Peers), "policies", len(cfg.Policies))
	return true
}
