package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cofswitch/cofswitch/bus"
	"github.com/cofswitch/cofswitch/config"
	"github.com/cofswitch/cofswitch/ops"
	"github.com/cofswitch/cofswitch/policy"
	"github.com/cofswitch/cofswitch/switch/engine"
	"github.com/cofswitch/cofswitch/switch/exchange"
)

// The processes a benchmark phase can put under test.
const (
	ChildSwitch  = "switch"  // the switch engine
	ChildForward = "forward" // the raw forwarding baseline
)

// ServeChild is the process under test: over nc, connected to the server
// at url, until ctx ends, it runs the switch of cfg (engine options opts)
// or, for ChildForward, the raw forwarder over cfg's routes with
// cfg.Switch.Workers workers. It writes "ready URL" to out once it
// consumes and, when ctx ends and the work in hand is done, one JSON line
// of counts with its peak RSS.
func ServeChild(ctx context.Context, kind string, nc *nats.Conn, url string, cfg *config.Config, opts []engine.Option, out io.Writer, log *slog.Logger) error {
	var stats any
	switch kind {
	case ChildForward:
		table, err := cfg.Table()
		if err != nil {
			return err
		}
		fw, err := NewForwarder(nc, table, engine.DefaultConsumer, cfg.Switch.Workers, log)
		if err != nil {
			return err
		}
		if err := fw.Start(ctx); err != nil {
			return err
		}
		fmt.Fprintln(out, Ready, url)
		if err := fw.Run(ctx); err != nil {
			return err
		}
		b, o := fw.Counts()
		stats = map[string]any{"Batches": b, "outputs": o, "peak_rss_kib": PeakRSSKiB()}
	case ChildSwitch:
		table, pols, err := cfg.Compile(policy.DefaultEnv())
		if err != nil {
			return err
		}
		eng, err := engine.New(nc, table, pols, opts...)
		if err != nil {
			return err
		}
		if err := eng.Start(ctx); err != nil {
			return err
		}
		fmt.Fprintln(out, Ready, url)
		<-ctx.Done()
		eng.Stop()
		stats = struct {
			engine.Snapshot
			PeakRSSKiB int64 `json:"peak_rss_kib"`
		}{eng.Stats(), PeakRSSKiB()}
	default:
		return fmt.Errorf("bench: unknown process %q (want %s or %s)", kind, ChildSwitch, ChildForward)
	}
	data, err := json.Marshal(stats)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(out, "%s\n", data)
	return err
}

// EmbeddedBus is an exchange's own server, as 'cofswitch serve' runs it:
// in process, file storage under a directory, on a free loopback port,
// with the exchange's streams; NC is an in-process connection to it.
type EmbeddedBus struct {
	NC  *nats.Conn
	URL string
	srv *server.Server
}

// StartEmbedded starts the server with its store in dir and provisions
// the streams of cfg.
func StartEmbedded(ctx context.Context, cfg *config.Config, dir string) (*EmbeddedBus, error) {
	srv, err := bus.StartServer(bus.ServerConfig{Listen: "127.0.0.1:0", StoreDir: dir, Name: "cofswitch-bench"})
	if err != nil {
		return nil, err
	}
	b := &EmbeddedBus{URL: srv.ClientURL(), srv: srv}
	if b.NC, err = nats.Connect(b.URL, nats.InProcessServer(srv), nats.Name("cofswitch-bench-exchange")); err != nil {
		b.Close()
		return nil, err
	}
	js, err := jetstream.New(b.NC)
	if err == nil {
		err = exchange.EnsureStreams(ctx, js, cfg)
	}
	if err != nil {
		b.Close()
		return nil, err
	}
	return b, nil
}

// Close disconnects and stops the server.
func (b *EmbeddedBus) Close() {
	if b.NC != nil {
		b.NC.Close()
	}
	b.srv.Shutdown()
	b.srv.WaitForShutdown()
}

// ChildOptions configure the process under test as 'cofswitch bench
// switch' and 'bench forward' run it.
type ChildOptions struct {
	Kind       string // ChildSwitch or ChildForward
	ConfigPath string // the exchange's configuration (YAML)
	// DataDir, when set, runs an embedded server with its store there, as
	// 'serve' does; otherwise the child connects to URL with Auth.
	DataDir    string
	URL        string
	Auth       *bus.Auth
	Workers    int    // batches handled at once (0: the configuration's)
	CPUProfile string // a file for a CPU profile of the child, if set
}

// RunChild runs the process under test until ctx ends (see ServeChild).
// A configuration that cannot be read or is invalid is an ErrOptions.
func RunChild(ctx context.Context, o ChildOptions, out io.Writer, log *slog.Logger) error {
	if o.ConfigPath == "" {
		return fmt.Errorf("%w: a configuration file is required", ErrOptions)
	}
	cfg, err := config.Load(o.ConfigPath)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrOptions, err)
	}
	if o.Workers > 0 {
		cfg.Switch.Workers = o.Workers
	}
	if o.CPUProfile != "" {
		stop, err := profileSelf(o.CPUProfile)
		if err != nil {
			return err
		}
		defer stop()
	}
	nc, url := (*nats.Conn)(nil), o.URL
	if o.DataDir != "" {
		// The whole exchange, bounded as serve bounds it by default.
		if err := ops.SetMemoryLimit(ops.MemoryAuto, log); err != nil {
			return err
		}
		b, err := StartEmbedded(ctx, cfg, o.DataDir)
		if err != nil {
			return err
		}
		defer b.Close()
		nc, url = b.NC, b.URL
	} else {
		if nc, err = bus.Connect(o.URL, "cofswitch-bench-"+o.Kind, o.Auth, log); err != nil {
			return err
		}
		defer nc.Close()
	}
	secret, err := exchange.Secret(cfg.Switch, o.DataDir)
	if err != nil {
		return err
	}
	// The switch signs its outputs as serve does (a key of the phase's
	// own, in its scratch directory): the benchmark measures what serve
	// runs.
	signer, err := exchange.SigningKey(cfg.Switch, "", o.DataDir)
	if err != nil {
		return err
	}
	opts := append(exchange.EngineOptions(cfg.Switch, log), engine.WithSecret(secret), engine.WithSigner(signer))
	err = ServeChild(ctx, o.Kind, nc, url, cfg, opts, out, log)
	var cerr *config.Error
	if errors.As(err, &cerr) {
		return fmt.Errorf("%w: %w", ErrOptions, err)
	}
	return err
}
