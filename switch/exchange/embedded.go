package exchange

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"github.com/cofswitch/cofswitch/accounts"
	"github.com/cofswitch/cofswitch/bus"
	"github.com/cofswitch/cofswitch/config"
	"github.com/cofswitch/cofswitch/secretfile"
)

// SwitchSeedFile, in the data directory, holds the seed of the switch's
// identity on the embedded server (mode 0600). Operators use it for the
// exchange-wide tools: 'cofswitch tail --nkey cofswitch-data/switch.nk'.
const SwitchSeedFile = "switch.nk"

// Embedded is the in-process NATS server of an exchange and the switch's
// identity on it.
type Embedded struct {
	srv  *server.Server
	cfg  bus.ServerConfig
	auth string
	tls  *accounts.TLSFiles
	key  nkeys.KeyPair // the switch's identity on the embedded server
	opm  *operatorMode // in operator mode (nats.auth: jwt), else nil
}

// StartEmbedded starts the embedded server for cfg, listening on listen
// (cfg.NATS.Listen when empty) with its store under dataDir. With nkeys
// authentication (the default) it loads or makes the switch's seed in
// dataDir and applies the authorisation of the registry; without
// authentication it refuses any listener beyond loopback; with nkeys but
// without TLS (nats.server_tls) beyond loopback it logs a warning.
func StartEmbedded(cfg *config.Config, listen, dataDir string, log *slog.Logger) (*Embedded, error) {
	if listen == "" {
		listen = cfg.NATS.Listen
	}
	if cfg.NATS.Auth == config.AuthNone {
		if host, _, err := net.SplitHostPort(listen); err != nil || !IsLoopbackHost(host) {
			return nil, fmt.Errorf("%w: listen %s: nats.auth none is refused beyond loopback", ErrUnsafe, listen)
		}
	}
	// The server adds its own "jetstream" directory below the store.
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("exchange: data directory: %w", err)
	}
	if err := checkModeOfData(dataDir, cfg.NATS.Auth); err != nil {
		return nil, err
	}
	e := &Embedded{cfg: bus.ServerConfig{Listen: listen, StoreDir: dataDir, Logger: log, Monitor: cfg.NATS.Monitor}, auth: cfg.NATS.Auth}
	if st := cfg.NATS.ServerTLS; st.Cert != "" {
		e.tls = &accounts.TLSFiles{Cert: st.Cert, Key: st.Key, CA: st.CA}
		e.cfg.Config = accounts.TLSConfig(e.tls)
	}
	warnCleartext(log, e.auth, listen, e.tls != nil)
	if e.auth == config.AuthNKeys || e.auth == config.AuthJWT {
		kp, err := LoadOrCreateSwitchKey(filepath.Join(dataDir, SwitchSeedFile))
		if err != nil {
			return nil, err
		}
		e.key = kp
	}
	switch e.auth {
	case config.AuthNKeys:
		var err error
		if e.cfg.Config, err = e.authConfig(cfg); err != nil {
			return nil, err
		}
	case config.AuthJWT:
		var err error
		if e.opm, e.cfg.Config, err = newOperatorMode(cfg, dataDir, e.key, accounts.ServerOptions{TLS: e.tls, Version: cfg.Version}, log); err != nil {
			return nil, err
		}
	}
	srv, err := bus.StartServer(e.cfg)
	if err != nil {
		return nil, err
	}
	e.srv = srv
	if e.opm != nil {
		if err := e.opm.started(srv); err != nil {
			e.Stop()
			return nil, err
		}
		if log != nil {
			log.Info("operator mode: organisations issue their own users with their signing keys", "operator", e.opm.op.PublicKey(),
				"switch_creds", filepath.Join(dataDir, SwitchCredsFile))
		}
	}
	if log != nil {
		log.Info("embedded NATS server started", "url", srv.ClientURL(), "store", filepath.Join(dataDir, "jetstream"),
			"auth", e.auth, "identities", identities(cfg, e.auth), "tls", e.tls != nil, "mtls", e.tls != nil && e.tls.CA != "")
	}
	return e, nil
}

// Server is the running nats-server.
func (e *Embedded) Server() *server.Server { return e.srv }

// ClientURL is the URL clients outside the process connect to.
func (e *Embedded) ClientURL() string { return e.srv.ClientURL() }

// ConnectOptions connect the switch to its own server in process: no
// listener, no TLS to verify, still its own identity.
func (e *Embedded) ConnectOptions() []nats.Option {
	opts := []nats.Option{nats.InProcessServer(e.srv)}
	if e.opm != nil {
		return append(opts, e.opm.connectOption())
	}
	if e.key != nil {
		pub, _ := e.key.PublicKey()
		opts = append(opts, nats.Nkey(pub, e.key.Sign))
	}
	return opts
}

// Reconfigure applies the authorisation of a new registry.
func (e *Embedded) Reconfigure(cfg *config.Config) error {
	if e != nil && e.opm != nil {
		return e.opm.apply(cfg)
	}
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

// Stop shuts the server down and waits for it.
func (e *Embedded) Stop() {
	if e.opm != nil {
		e.opm.close()
	}
	e.srv.Shutdown()
	e.srv.WaitForShutdown()
}

func (e *Embedded) authConfig(cfg *config.Config) (string, error) {
	pub, err := e.key.PublicKey()
	if err != nil {
		return "", err
	}
	return accounts.ServerConfig(cfg.Sensors, cfg.Peers, accounts.ServerOptions{SwitchKey: pub, TLS: e.tls, Version: cfg.Version})
}

// LoadOrCreateSwitchKey reads the switch's seed at path, or makes one and
// writes it there (mode 0600). A seed file that others than its owner may
// read is refused (see package secretfile).
func LoadOrCreateSwitchKey(path string) (nkeys.KeyPair, error) {
	if seed, err := secretfile.ReadFile(path); err == nil {
		kp, err := nkeys.FromSeed([]byte(strings.TrimSpace(string(seed))))
		if err != nil {
			return nil, fmt.Errorf("exchange: %s: not an nkey seed", path)
		}
		return kp, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("exchange: the switch's seed: %w", err)
	}
	kp, err := nkeys.CreateUser()
	if err != nil {
		return nil, err
	}
	seed, _ := kp.Seed()
	if err := os.WriteFile(path, append(seed, '\n'), 0o600); err != nil {
		return nil, fmt.Errorf("exchange: writing the switch's seed: %w", err)
	}
	return kp, nil
}

// checkModeOfData refuses a data directory whose streams another
// nats.auth keeps in another account: operator mode names its accounts by
// their public keys, the other modes by name (EXCHANGE, or the global
// account without authentication), so that the streams would be out of
// the switch's reach and it would start with empty ones, saying nothing.
func checkModeOfData(dataDir, auth string) error {
	ents, err := os.ReadDir(filepath.Join(dataDir, "jetstream"))
	if err != nil {
		return nil // a new data directory
	}
	for _, e := range ents {
		name := e.Name()
		var other string
		switch {
		case auth == config.AuthJWT && (name == accounts.ExchangeAccount || name == server.DEFAULT_GLOBAL_ACCOUNT):
			other = "nats.auth nkeys or none"
		case auth != config.AuthJWT && nkeys.IsValidPublicAccountKey(name):
			other = "nats.auth jwt (operator mode)"
		default:
			continue
		}
		return fmt.Errorf("%w: %s holds the streams of an exchange that ran with %s, in an account that nats.auth %s does not have: "+
			"switching modes means starting afresh (another data directory), or going back to the mode it ran with", ErrUnsafe, dataDir, other, auth)
	}
	return nil
}

// identities counts the sensors and peers the server admits: in operator
// mode all of them (their organisations issue their users), else those
// that have an nkey.
func identities(cfg *config.Config, auth string) int {
	if auth == config.AuthJWT {
		return len(cfg.Sensors) + len(cfg.Peers)
	}
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

// warnCleartext logs one warning when the server authenticates with nkeys
// but listens beyond loopback without TLS: the nkeys prove who connects,
// but the feeds themselves (TLP:RED among them) then cross the network in
// the clear, readable and alterable on the way.
func warnCleartext(log *slog.Logger, auth, listen string, tls bool) {
	if log == nil || auth == config.AuthNone || tls {
		return
	}
	if host, _, err := net.SplitHostPort(listen); err == nil && IsLoopbackHost(host) {
		return
	}
	log.Warn("NATS listens beyond loopback without TLS: every sensor's input and every peer's feed crosses the network unencrypted, "+
		"readable and alterable on the way; set nats.server_tls (cert, key, and ca for mutual TLS)", "listen", listen)
}

// IsLoopbackHost reports whether host names the loopback interface.
func IsLoopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
