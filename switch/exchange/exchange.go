package exchange

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cofswitch/cofswitch/bus"
	"github.com/cofswitch/cofswitch/cof"
	"github.com/cofswitch/cofswitch/config"
	"github.com/cofswitch/cofswitch/policy"
	"github.com/cofswitch/cofswitch/switch/engine"
)

// ErrUnsafe reports a configuration the exchange refuses to run because
// it would expose the bus (no authentication beyond loopback).
var ErrUnsafe = errors.New("exchange: unsafe configuration")

// setupTimeout bounds provisioning the streams at a start or a reload.
// On a cluster recovering from a node's restart, the streams' leaders may
// take a while to be elected: the requests are retried until then.
const setupTimeout = 2 * time.Minute

// Options say where an exchange runs.
type Options struct {
	// NATS is the connection: with no URLs, the exchange starts an
	// embedded server listening on Listen (NATS.Listen when empty) with
	// its store under DataDir.
	NATS    config.NATS
	Listen  string
	DataDir string
	// Logger receives the exchange's log; nil discards it.
	Logger *slog.Logger
}

// Exchange is a running exchange: the bus connection (and the embedded
// server, if any), the provisioned streams and the switch engine.
type Exchange struct {
	emb  *Embedded // nil with an external deployment
	conn *nats.Conn
	js   jetstream.JetStream
	eng  *engine.Engine
	bf   *backfills // nil until started
	ss   *selfService
	url  string
	log  *slog.Logger
	cfg  atomic.Pointer[config.Config] // in force, for repairs
	// running is cfg with the peers' own subscriptions merged in: what
	// the engine runs.
	running atomic.Pointer[config.Config]
}

// Start runs the exchange of cfg: it starts the embedded server or
// connects to NATS, provisions the streams and consumers, compiles the
// registry and policies and starts the engine. A configuration fault is
// returned as the *config.Error(s) that name its line.
func Start(ctx context.Context, cfg *config.Config, o Options) (*Exchange, error) {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	x := &Exchange{log: log}
	if err := x.start(ctx, cfg, o); err != nil {
		x.close()
		return nil, err
	}
	return x, nil
}

func (x *Exchange) start(ctx context.Context, cfg *config.Config, o Options) (err error) {
	log := x.log
	url := strings.Join(o.NATS.URLs, ",")
	var extra []nats.Option
	connectURL := url
	if url == "" {
		if x.emb, err = StartEmbedded(cfg, o.Listen, o.DataDir, log); err != nil {
			return err
		}
		url = x.emb.ClientURL()
		extra = x.emb.ConnectOptions()
		// In process there is no TLS to do: a tls:// URL would demand it.
		connectURL = "nats://" + strings.TrimPrefix(strings.TrimPrefix(url, "tls://"), "nats://")
	}
	x.url = url
	if x.conn, err = bus.Connect(connectURL, "cofswitch-serve", AuthOf(o.NATS), log, extra...); err != nil {
		return err
	}
	if x.js, err = jetstream.New(x.conn); err != nil {
		return err
	}
	setup, cancel := context.WithTimeout(ctx, setupTimeout)
	defer cancel()
	due, err := backfillsDue(setup, x.js, cfg)
	if err != nil {
		return err
	}
	if err := EnsureStreams(setup, x.js, cfg); err != nil {
		return err
	}
	fileTable, filePols, err := cfg.Compile(policy.DefaultEnv())
	if err != nil {
		return err
	}
	// The engine starts with the peers' own subscriptions, never a moment
	// with the file's in their place.
	if x.ss, err = openSelfService(setup, x.js, log); err != nil {
		return err
	}
	eff := x.ss.effective(cfg)
	table, pols, err := eff.Compile(policy.DefaultEnv())
	if err != nil {
		log.Error("self-service subscriptions do not compile: the file's apply to every peer", "err", err)
		table, pols, eff = fileTable, filePols, cfg
	}
	x.running.Store(eff)
	x.ss.fileTable, x.ss.filePols = fileTable, filePols
	secret, err := Secret(cfg.Switch, o.DataDir)
	if err != nil {
		return err
	}
	signer, err := SigningKey(cfg.Switch, o.NATS.NKey, o.DataDir)
	if err != nil {
		return err
	}
	log.Info("outputs signed: peers verify them with the exchange's public key", "exchange_key", signer.PublicKey())
	x.cfg.Store(cfg)
	opts := append(EngineOptions(cfg.Switch, log), engine.WithSecret(secret), engine.WithSigner(signer), engine.WithRepair(func(ctx context.Context, peer string) error {
		return RepairPeer(ctx, x.js, x.cfg.Load(), peer)
	}))
	if cfg.Streams.ArchiveOn() {
		opts = append(opts, engine.WithArchive())
	}
	if x.eng, err = engine.New(x.conn, table, pols, opts...); err != nil {
		return err
	}
	if err := x.eng.Start(setup); err != nil {
		return err
	}
	if err := x.startSelfService(); err != nil {
		return err
	}
	x.bf = newBackfills(x.js, secret, signer, time.Duration(cfg.Switch.PublishTimeout), log)
	x.bf.start(cfg, due)
	return nil
}

// Engine is the running switch.
func (x *Exchange) Engine() *engine.Engine { return x.eng }

// Config is the configuration in force (the last reload's file).
func (x *Exchange) Config() *config.Config { return x.cfg.Load() }

// Running is Config with the peers' own subscriptions merged in (see
// switch/selfservice): the registry the engine runs.
func (x *Exchange) Running() *config.Config { return x.running.Load() }

// JetStream is the switch's own JetStream context.
func (x *Exchange) JetStream() jetstream.JetStream { return x.js }

// URL is where clients reach the bus (credentials redacted with
// bus.Redact before logging).
func (x *Exchange) URL() string { return x.url }

// Embedded is the embedded server, nil with an external deployment.
func (x *Exchange) Embedded() *Embedded { return x.emb }

// Stop finishes the batches in hand, acks them, then closes the
// connection and the embedded server.
func (x *Exchange) Stop() {
	x.ss.stop()
	if x.bf != nil {
		x.bf.stop()
	}
	if x.eng != nil {
		x.eng.Stop()
	}
	if x.conn != nil {
		if err := x.conn.Drain(); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
			x.log.Warn("drain", "err", err)
		}
		waitClosed(x.conn, 5*time.Second)
	}
	// x.conn stays: what still reads it (a status page's last sample,
	// Ready) finds it closed rather than racing with its removal.
	x.close()
}

func (x *Exchange) close() {
	x.ss.stop()
	if x.conn != nil {
		x.conn.Close()
	}
	if x.emb != nil {
		x.emb.Stop()
		x.emb = nil
	}
}

func waitClosed(nc *nats.Conn, d time.Duration) {
	deadline := time.Now().Add(d)
	for !nc.IsClosed() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
}

// AuthOf is the client side of the configuration's NATS section.
func AuthOf(c config.NATS) *bus.Auth {
	return &bus.Auth{Creds: c.Creds, NKey: c.NKey, CA: c.TLS.CA, Cert: c.TLS.Cert, Key: c.TLS.Key}
}

// Secret is the switch's secret: switch.secret_file's, or that in the data
// directory, made at the first start.
func Secret(c config.Switch, dataDir string) ([]byte, error) {
	return LoadOrCreateSecret(SecretPath(c, dataDir))
}

// SecretPath is where Secret reads the switch's secret.
func SecretPath(c config.Switch, dataDir string) string {
	if c.SecretFile != "" {
		return c.SecretFile
	}
	return filepath.Join(dataDir, SecretFile)
}

// ErrNotServesKeys reports a command other than serve that would make the
// switch's secret or signing key: it would deliver under ids and a
// signature no peer expects. Only serve makes them, at its first start.
var ErrNotServesKeys = errors.New("the switch's secret or signing key is missing: point --data at serve's data directory (or set switch.secret_file and switch.signing_key), as only serve makes them")

// ExistingKeys checks that the switch's secret and signing key that
// Secret and SigningKey would read exist already, for the commands that
// act as the switch beside serve (backfill).
func ExistingKeys(c config.Switch, nkey, dataDir string) error {
	sign, _ := SigningKeyPath(c, nkey, dataDir)
	for _, p := range []string{SecretPath(c, dataDir), sign} {
		if _, err := os.Stat(p); err != nil {
			return fmt.Errorf("%w (%s: %w)", ErrNotServesKeys, p, err)
		}
	}
	return nil
}

// EngineOptions are the engine options the configuration's switch
// section sets.
func EngineOptions(c config.Switch, log *slog.Logger) []engine.Option {
	opts := []engine.Option{
		engine.WithLogger(log),
		engine.WithWorkers(c.Workers),
		engine.WithMaxAckPending(c.MaxAckPending),
		engine.WithAckWait(time.Duration(c.AckWait)),
		engine.WithMaxAttempts(c.MaxAttempts),
		engine.WithPublishTimeout(time.Duration(c.PublishTimeout)),
		engine.WithMaxBatchesPerSensor(c.MaxBatchesPerSensor),
	}
	if c.Trace {
		opts = append(opts, engine.WithTrace())
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
