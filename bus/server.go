// Package bus is the NATS plumbing every side of the exchange shares: a
// client connection with credentials, TLS and unlimited reconnection, URLs
// redacted for logs, and an embedded nats-server with JetStream whose log
// aggregates security events and which disconnects abusive connections
// (seclog.go). It knows nothing of the exchange's configuration, streams
// or accounts (those are switch/exchange and accounts) and imports no
// other cofswitch package but secretfile.
package bus

import (
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// ServerConfig configures the embedded NATS server.
type ServerConfig struct {
	// Listen is the client listener, host:port; port 0 picks a free one.
	Listen string
	// StoreDir holds the JetStream file store.
	StoreDir string
	// Name is the server name, shown in monitoring.
	Name string
	// Monitor, when set (host:port), serves nats-server's monitoring
	// endpoints (/varz, /jsz, /connz, /healthz) there.
	Monitor string
	// Logger receives the server's log; nil discards it. Security events
	// (permissions violations, authentication failures, protocol errors)
	// are aggregated per identity and SecurityLogInterval: the first in
	// full, the rest in one summary.
	Logger *slog.Logger
	// MaxViolations is how many permissions violations one connection may
	// commit within SecurityLogInterval before the server disconnects it:
	// 0 means DefaultMaxViolations, negative never disconnects.
	MaxViolations int
	// Config, when set, is a nats-server configuration (accounts, users,
	// permissions: see package accounts) applied on top of the above.
	Config string
}

// StartServer starts an embedded NATS server with JetStream and waits until
// it accepts connections. Shut it down with Shutdown and WaitForShutdown.
func StartServer(cfg ServerConfig) (*server.Server, error) {
	host, portStr, err := net.SplitHostPort(cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("bus: listen address %q: %w", cfg.Listen, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, fmt.Errorf("bus: listen port %q: %w", portStr, err)
	}
	if port == 0 {
		port = server.RANDOM_PORT
	} else if l, err := net.Listen("tcp", cfg.Listen); err != nil {
		// The server would log this, then wait for readiness in vain.
		return nil, fmt.Errorf("bus: embedded server cannot listen on %s: %w", cfg.Listen, err)
	} else {
		l.Close()
	}
	name := cfg.Name
	if name == "" {
		name = "cofswitch"
	}
	opts, err := serverOptions(cfg)
	if err != nil {
		return nil, err
	}
	opts.ServerName = name
	opts.Host, opts.Port = host, port
	opts.JetStream, opts.StoreDir = true, cfg.StoreDir
	opts.NoSigs = true
	opts.MaxPayload = 1 << 20
	if cfg.Monitor != "" {
		mh, mp, err := net.SplitHostPort(cfg.Monitor)
		if err != nil {
			return nil, fmt.Errorf("bus: monitor address %q: %w", cfg.Monitor, err)
		}
		if opts.HTTPPort, err = strconv.Atoi(mp); err != nil {
			return nil, fmt.Errorf("bus: monitor port %q: %w", mp, err)
		}
		opts.HTTPHost = mh
	}
	s, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("bus: embedded server: %w", err)
	}
	// The adapter is set even without a logger: it also disconnects
	// abusive connections.
	l := slog.New(slog.DiscardHandler)
	if cfg.Logger != nil {
		l = cfg.Logger.With("component", "nats-server")
	}
	a := newSlogAdapter(l, cfg.MaxViolations)
	a.setServer(s)
	s.SetLoggerV2(a, false, false, false)
	stop := make(chan struct{})
	go a.run(stop)
	go func() { s.WaitForShutdown(); close(stop) }()
	go s.Start()
	if !s.ReadyForConnections(15 * time.Second) {
		s.Shutdown()
		return nil, fmt.Errorf("bus: embedded server on %s not ready after 15s", cfg.Listen)
	}
	return s, nil
}

// serverOptions parses cfg.Config, if any. The text goes through a file
// because that is what the server's parser reads; it lives next to the
// store, readable by the owner only.
func serverOptions(cfg ServerConfig) (*server.Options, error) {
	if cfg.Config == "" {
		return &server.Options{}, nil
	}
	dir := cfg.StoreDir
	if dir == "" {
		dir = os.TempDir()
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("bus: %w", err)
	}
	f, err := os.CreateTemp(dir, "nats-server-*.conf")
	if err != nil {
		return nil, fmt.Errorf("bus: %w", err)
	}
	defer os.Remove(f.Name())
	if _, err := f.WriteString(cfg.Config); err != nil {
		f.Close()
		return nil, fmt.Errorf("bus: %w", err)
	}
	f.Close()
	opts, err := server.ProcessConfigFile(f.Name())
	if err != nil {
		return nil, fmt.Errorf("bus: server configuration: %w", err)
	}
	opts.ConfigFile = "" // gone once parsed; a reload compares it
	return opts, nil
}

// Reconfigure applies a new configuration (accounts, users, permissions)
// to a running embedded server started from the same cfg otherwise, as a
// SIGHUP to nats-server would.
func Reconfigure(s *server.Server, cfg ServerConfig) error {
	opts, err := serverOptions(cfg)
	if err != nil {
		return err
	}
	host, portStr, _ := net.SplitHostPort(s.Addr().String())
	port, _ := strconv.Atoi(portStr)
	opts.ServerName, opts.Host, opts.Port = s.Name(), host, port
	opts.JetStream, opts.StoreDir, opts.NoSigs, opts.MaxPayload = true, cfg.StoreDir, true, 1<<20
	if err := s.ReloadOptions(opts); err != nil {
		return fmt.Errorf("bus: reloading the server configuration: %w", err)
	}
	// An account added by a reload may import from an account whose new
	// exports the server applies after it; a second pass with the same
	// options resolves those imports.
	opts2, err := serverOptions(cfg)
	if err != nil {
		return err
	}
	opts2.ServerName, opts2.Host, opts2.Port = opts.ServerName, opts.Host, opts.Port
	opts2.JetStream, opts2.StoreDir, opts2.NoSigs, opts2.MaxPayload = true, cfg.StoreDir, true, 1<<20
	if err := s.ReloadOptions(opts2); err != nil {
		return fmt.Errorf("bus: reloading the server configuration: %w", err)
	}
	// The server re-checks client connections against the new users, but
	// not leaf nodes: a leaf whose key was rotated or removed would keep
	// its access. Drop them all; the legitimate ones reconnect at once.
	if lz, err := s.Leafz(nil); err == nil {
		for _, l := range lz.Leafs {
			_ = s.DisconnectClientByID(l.ID)
		}
	}
	return nil
}
