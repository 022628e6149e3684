// Package cluster writes what an exchange on a NATS cluster needs before
// its first start: a seed for the switch and for every sensor and peer, an
// API key for each peer's database, the registry (cofswitch.yaml, with
// the servers' URLs and R3 streams) and one nats-server configuration per
// server (routes between them, JetStream, and the accounts that keep the
// organisations apart, as 'cofswitch nats-config' renders them). It is
// the init step of the compose file and of a cluster set up by hand; it
// imports no NATS package.
package cluster

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/cofswitch/cofswitch/accounts"
	"github.com/cofswitch/cofswitch/config"
	"github.com/cofswitch/cofswitch/routing"
)

// ConfigFile is the registry Init writes, last: its presence says that the
// directory is complete.
const ConfigFile = "cofswitch.yaml"

// SwitchSeed is the switch's seed, shared by every switch process.
const SwitchSeed = "switch.nk"

// ErrExists reports a directory that already holds a registry: Init never
// replaces seeds that may be in use.
var ErrExists = errors.New("cluster: already initialised")

// ErrOptions reports unusable options.
var ErrOptions = errors.New("cluster: invalid options")

// Server is one server of the cluster as the others and the clients reach
// it.
type Server struct {
	Name    string // server_name, unique in the cluster
	Host    string // host name or address the clients and the other servers use
	Client  int    // client port
	Route   int    // route port
	Monitor int    // monitoring port (/healthz, /varz); 0: none
}

// ParseServer reads NAME=HOST:CLIENT:ROUTE[:MONITOR], e.g.
// nats-1=nats-1:4222:6222:8222.
func ParseServer(s string) (Server, error) {
	name, rest, ok := strings.Cut(s, "=")
	parts := strings.Split(rest, ":")
	if !ok || name == "" || len(parts) < 3 || len(parts) > 4 || parts[0] == "" {
		return Server{}, fmt.Errorf("%w: server %q: want NAME=HOST:CLIENT_PORT:ROUTE_PORT[:MONITOR_PORT]", ErrOptions, s)
	}
	sv := Server{Name: name, Host: parts[0]}
	ports := []*int{&sv.Client, &sv.Route, &sv.Monitor}
	for i, p := range parts[1:] {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return Server{}, fmt.Errorf("%w: server %q: port %q is not in 1..65535", ErrOptions, s, p)
		}
		*ports[i] = n
	}
	return sv, nil
}

// Identity is a sensor or a peer and its organisation.
type Identity struct {
	ID, Organisation string
}

// ParseIdentity reads ID@ORGANISATION.
func ParseIdentity(kind, s string) (Identity, error) {
	id, org, ok := strings.Cut(s, "@")
	if !ok || org == "" {
		return Identity{}, fmt.Errorf("%w: %s %q: want ID@ORGANISATION", ErrOptions, kind, s)
	}
	if err := routing.ValidateID(kind, id, kind == "peer"); err != nil {
		return Identity{}, fmt.Errorf("%w: %v", ErrOptions, err)
	}
	return Identity{ID: id, Organisation: org}, nil
}

// Options says what to write.
type Options struct {
	// Dir receives every file. The registry names the seeds by their
	// paths under Dir, so every process must see Dir at the same path (a
	// volume mounted at the same place in every container).
	Dir     string
	Servers []Server
	// Bind is the address every server listens on (clients, routes,
	// monitoring); default 127.0.0.1, as nothing should listen beyond
	// loopback unless asked to.
	Bind string
	// MonitorBind is the address the monitoring endpoints listen on;
	// default 127.0.0.1: they show every organisation's connections and
	// streams.
	MonitorBind string
	// StoreDir holds each server's JetStream store, in StoreDir/NAME.
	StoreDir string
	Sensors  []Identity
	Peers    []Identity
	// Replicas of every stream; 0: 3, or the number of servers if fewer.
	Replicas int
	// Cluster is the cluster's name; default "cofswitch".
	Cluster string
}

func (o *Options) check() error {
	if o.Dir == "" {
		return fmt.Errorf("%w: no directory", ErrOptions)
	}
	if len(o.Servers) == 0 {
		return fmt.Errorf("%w: no servers", ErrOptions)
	}
	if o.StoreDir == "" {
		return fmt.Errorf("%w: no store directory", ErrOptions)
	}
	if o.Bind == "" {
		o.Bind = "127.0.0.1"
	}
	if o.MonitorBind == "" {
		o.MonitorBind = "127.0.0.1"
	}
	if o.Cluster == "" {
		o.Cluster = "cofswitch"
	}
	if o.Replicas == 0 {
		o.Replicas = min(3, len(o.Servers))
	}
	if o.Replicas < 1 || o.Replicas > len(o.Servers) || o.Replicas > 5 {
		return fmt.Errorf("%w: %d replicas on %d servers", ErrOptions, o.Replicas, len(o.Servers))
	}
	names, addrs := map[string]bool{}, map[string]bool{}
	for _, s := range o.Servers {
		for _, p := range []int{s.Client, s.Route, s.Monitor} {
			a := net.JoinHostPort(s.Host, strconv.Itoa(p))
			if p != 0 && addrs[a] {
				return fmt.Errorf("%w: %s is used twice", ErrOptions, a)
			}
			addrs[a] = true
		}
		if names[s.Name] {
			return fmt.Errorf("%w: server name %q is used twice", ErrOptions, s.Name)
		}
		names[s.Name] = true
	}
	if len(o.Sensors) == 0 || len(o.Peers) == 0 {
		return fmt.Errorf("%w: an exchange needs a sensor and a peer", ErrOptions)
	}
	return nil
}

// Files lists what Init wrote.
type Files struct {
	Config        string   // the registry
	Seeds         []string // the switch's, then each sensor's and each peer's
	APIKeys       []string // one file per peer, for its database
	ServerConfigs []string // one per server, in the order of Options.Servers
}

// Init writes the files into o.Dir (mode 0700; every file 0600),
// or returns ErrExists if the registry is there already. A run that
// failed half way is redone from the start.
func Init(o Options) (*Files, error) {
	if err := o.check(); err != nil {
		return nil, err
	}
	final := filepath.Join(o.Dir, ConfigFile)
	// The switch's seed is the first file written: with it there, seeds
	// may have been handed out already, registry or not.
	for _, p := range []string{final, filepath.Join(o.Dir, SwitchSeed)} {
		if _, err := os.Lstat(p); err == nil {
			return nil, fmt.Errorf("%w: %s exists", ErrExists, p)
		}
	}
	if err := os.MkdirAll(o.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	// A directory that existed (a volume's mount point) is closed too,
	// where it is ours to close; the files are 0600 whatever happens.
	_ = os.Chmod(o.Dir, 0o700)
	f := &Files{Config: final}
	seed := func(name string) (string, error) {
		path := filepath.Join(o.Dir, name)
		pub, err := accounts.NewUserSeed(path, true)
		if err != nil {
			return "", fmt.Errorf("cluster: seed %s: %w", name, err)
		}
		f.Seeds = append(f.Seeds, path)
		return pub, nil
	}
	switchKey, err := seed(SwitchSeed)
	if err != nil {
		return nil, err
	}
	reg := registry{Options: o, switchSeed: filepath.Join(o.Dir, SwitchSeed)}
	for _, s := range o.Sensors {
		pub, err := seed(SensorSeed(s.ID))
		if err != nil {
			return nil, err
		}
		reg.sensorKeys = append(reg.sensorKeys, pub)
	}
	for _, p := range o.Peers {
		pub, err := seed(PeerSeed(p.ID))
		if err != nil {
			return nil, err
		}
		reg.peerKeys = append(reg.peerKeys, pub)
		key, err := writeSecret(filepath.Join(o.Dir, APIKeys(p.ID)), 16)
		if err != nil {
			return nil, err
		}
		f.APIKeys = append(f.APIKeys, key)
	}
	cfg, err := writeRegistry(reg, final)
	if err != nil {
		return nil, err
	}
	if f.ServerConfigs, err = writeServers(o, cfg, switchKey); err != nil {
		return nil, err
	}
	// The registry last, in place: it marks the directory complete.
	if err := os.Rename(final+".new", final); err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	return f, nil
}

// SensorSeed is the file name of a sensor's seed.
func SensorSeed(id string) string { return "sensor-" + routing.EscapeToken(id) + ".nk" }

// PeerSeed is the file name of a peer's seed.
func PeerSeed(id string) string { return "peer-" + routing.EscapeToken(id) + ".nk" }

// APIKeys is the file name of a peer database's API keys.
func APIKeys(id string) string { return "db-" + routing.EscapeToken(id) + ".api-keys" }

// ServerConfig is the file name of a server's configuration.
func ServerConfig(name string) string { return "nats-" + name + ".conf" }

// writeServers writes one nats-server configuration per server.
func writeServers(o Options, cfg *config.Config, switchKey string) ([]string, error) {
	password, err := randomHex(24)
	if err != nil {
		return nil, err
	}
	routes := make([]string, len(o.Servers))
	for i, s := range o.Servers {
		routes[i] = net.JoinHostPort(s.Host, strconv.Itoa(s.Route))
	}
	var paths []string
	for _, s := range o.Servers {
		so := accounts.ServerOptions{
			Version:   cfg.Version,
			Name:      s.Name,
			Listen:    net.JoinHostPort(o.Bind, strconv.Itoa(s.Client)),
			StoreDir:  filepath.Join(o.StoreDir, s.Name),
			SwitchKey: switchKey,
			Cluster: &accounts.Cluster{
				Name: o.Cluster, Listen: net.JoinHostPort(o.Bind, strconv.Itoa(s.Route)),
				Routes: routes, User: "route", Password: password,
			},
		}
		if s.Monitor != 0 {
			so.Monitor = net.JoinHostPort(o.MonitorBind, strconv.Itoa(s.Monitor))
		}
		text, err := accounts.ServerConfig(cfg.Sensors, cfg.Peers, so)
		if err != nil {
			return nil, fmt.Errorf("cluster: server %s: %w", s.Name, err)
		}
		text += fmt.Sprintf(beyondPlaceholders, s.Name)
		path := filepath.Join(o.Dir, ServerConfig(s.Name))
		if err := writeFile(path, []byte(text)); err != nil {
			return nil, err
		}
		paths = append(paths, path)
	}
	return paths, nil
}

// beyondPlaceholders closes every server's configuration: what to add
// when clients or partners connect from networks the exchange does not
// own (TLS on the client port; a leaf node listener for partners' own
// servers, see deploy/accounts/README.md).
const beyondPlaceholders = `
# Clients from networks you do not own: TLS on the client port (with
# ca_file and verify: true, mutual TLS on top of the nkeys).
# tls { cert_file: "/etc/nats/tls/%[1]s.pem", key_file: "/etc/nats/tls/%[1]s-key.pem" }
# Partners running their own NATS attach as leaf nodes, bound to their
# peer's or sensor's seed (deploy/accounts/example-partner-leafnode.conf):
# leafnodes { listen: "0.0.0.0:7422", tls { cert_file: "/etc/nats/tls/%[1]s.pem", key_file: "/etc/nats/tls/%[1]s-key.pem" } }
`

// writeSecret writes n random bytes in hex, with a newline, and returns
// the path.
func writeSecret(path string, n int) (string, error) {
	s, err := randomHex(n)
	if err != nil {
		return "", err
	}
	return path, writeFile(path, []byte(s+"\n"))
}

func randomHex(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("cluster: random: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// writeFile replaces path with data, mode 0600, through a temporary file.
func writeFile(path string, data []byte) error {
	// A fresh temporary file (O_EXCL, mode 0600): never one planted in
	// the directory, nor a symlink's target.
	f, err := os.CreateTemp(filepath.Dir(path), ".cluster-init-*")
	if err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("cluster: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	return nil
}
