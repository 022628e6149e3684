// Package config reads the cofswitch configuration file: the NATS
// connection, stream limits, the switch's tuning, and the registry of
// sensors and peers. Reading is strict: an unknown key or a bad value is an
// error that names the file and the line. Config.Compile turns the
// registry and policies into what the switch runs. It imports cof, routing
// and policy, and no NATS package.
package config

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/cofswitch/cofswitch/policy"
	"github.com/cofswitch/cofswitch/routing"
)

// Config is the whole configuration file.
type Config struct {
	NATS    NATS     `yaml:"nats"`
	Streams Streams  `yaml:"streams"`
	Switch  Switch   `yaml:"switch"`
	Sensors []Sensor `yaml:"sensors"`
	Peers   []Peer   `yaml:"peers"`
	// Organisations holds what the exchange knows of an organisation
	// beyond its sensors and peers (see Organisation); keyed by the name
	// the sensors and peers give.
	Organisations map[string]Organisation `yaml:"organisations"`
	// Policies are the named policies subscriptions refer to; "pass" is
	// built in.
	Policies map[string]*policy.Spec `yaml:"policies"`

	// Version identifies this configuration: the first 12 hex digits of
	// the SHA-256 of the file. It is in logs and on every output batch.
	Version string `yaml:"-"`

	name string     // the file name, for errors
	root *yaml.Node // the parsed document, for error lines
	// fileCrossOrg, in a copy made by WithSubscriptions, holds the file's
	// cross-organisation policies: they compile as in the file whatever
	// the peers chose, so that no peer's choice changes another's feed.
	fileCrossOrg []string
}

// NATS says how to reach the bus. With no URLs, cofswitch runs an embedded
// server listening on Listen.
type NATS struct {
	URLs []string `yaml:"urls"`
	// Auth is how the embedded server admits clients: "nkeys" (the
	// default: every sensor and peer with an nkey gets its own user in
	// its organisation's account, and nothing else may connect), "jwt"
	// (operator mode: every sensor and peer gets an account, and its
	// organisation issues the users with its signing keys; see
	// Organisation) or "none" (no authentication, refused unless the
	// listener is loopback).
	Auth string `yaml:"auth"`
	// Operator is the seed file of the operator in operator mode (auth:
	// jwt), from which every account's key is derived. Empty: the
	// embedded server keeps it in its data directory (operator.nk), made
	// at first start.
	Operator string `yaml:"operator"`
	Listen   string `yaml:"listen"` // embedded server's client listener
	// Monitor serves the embedded server's monitoring endpoints (/varz,
	// /jsz, /connz, /healthz) on host:port; empty: off. They show every
	// account's connections and streams: keep them on loopback.
	Monitor string `yaml:"monitor"`
	Creds   string `yaml:"creds"` // .creds file (JWT + nkey seed)
	// ServerTLS enables TLS on the embedded server's client listener;
	// with CA set, clients must present a certificate it signed (mTLS).
	ServerTLS TLS    `yaml:"server_tls"`
	NKey      string `yaml:"nkey"` // nkey seed file
	TLS       TLS    `yaml:"tls"`
}

// TLS holds file paths for TLS to the NATS servers.
type TLS struct {
	CA   string `yaml:"ca"`
	Cert string `yaml:"cert"`
	Key  string `yaml:"key"`
}

// Streams holds the JetStream limits of the exchange's streams.
type Streams struct {
	Replicas        int      `yaml:"replicas"`
	DuplicateWindow Duration `yaml:"duplicate_window"`
	// In is the default limits of each sensor's own input stream
	// (COF_IN_<sensor>); a sensor's stream: overrides them. Its max_bytes
	// is the sensor's quota of stored bytes: with discard new, a sensor
	// over it is refused on its own (back-pressure), the others go on.
	In StreamLimits `yaml:"in"`
	// DLQ limits COF_DLQ. Its max_msgs_per_subject is each sensor's share
	// (a sensor's dead letters are evicted only by its own); max_bytes,
	// when set, must hold every sensor's share so that no sensor's dead
	// letters can evict another's.
	DLQ   StreamLimits `yaml:"dlq"`
	Peers StreamLimits `yaml:"peers"` // defaults for every PEER_ stream
	// Hold limits COF_HOLD, where outputs of policies with coarsen_time
	// wait for their bucket to end. It must discard new and keep no
	// max_age: when it is full, inputs wait in their own streams rather
	// than held records being lost.
	Hold StreamLimits `yaml:"hold"`
	// Seen limits the bucket COF_SEEN (stream KV_COF_SEEN) in which the
	// switch remembers, per rrset, who saw it and what it holds for the
	// policies with a threshold. Made only when a policy has one. Its
	// max_age is the longest threshold window; at max_bytes (or
	// max_msgs: rrsets) the rrsets written least recently are evicted,
	// with what they held.
	Seen StreamLimits `yaml:"seen"`
	// Archive limits COF_ARCHIVE, which keeps every switched input batch
	// for 'cofswitch backfill'. Off unless max_age is set (see archive.go).
	Archive StreamLimits `yaml:"archive"`
}

// StreamLimits bounds one stream. Zero values take the defaults.
type StreamLimits struct {
	MaxAge   Duration `yaml:"max_age"`
	MaxBytes ByteSize `yaml:"max_bytes"`
	MaxMsgs  int64    `yaml:"max_msgs"`
	// MaxMsgsPerSubject bounds each subject: each sensor's dead letters
	// in COF_DLQ. It counts messages, not bytes: a sensor's share is at
	// most this many messages of up to 1 MiB.
	MaxMsgsPerSubject int64  `yaml:"max_msgs_per_subject"`
	Discard           string `yaml:"discard"` // "old" or "new"
}

// Switch tunes the engine.
type Switch struct {
	Workers       int      `yaml:"workers"`
	MaxAckPending int      `yaml:"max_ack_pending"`
	AckWait       Duration `yaml:"ack_wait"`
	MaxAttempts   int      `yaml:"max_attempts"` // deliveries of a batch tried before its failures are counted
	// PublishTimeout bounds the wait for one batch's publish acks.
	PublishTimeout Duration `yaml:"publish_timeout"`
	// OutputEncoding compresses output batches: s2 (the default), zstd,
	// none, or input (as each input batch was).
	OutputEncoding string `yaml:"output_encoding"`
	// RequireTLP refuses a configuration in which a subscription has no
	// TLP label (its own or its policy's).
	RequireTLP bool `yaml:"require_tlp"`
	// SensorRate is the default quota of each sensor's input, in bytes a
	// second as published (compressed); 0: none. A sensor over its quota
	// is switched at that rate: its backlog waits in its own stream, and
	// once that is full its publishes are refused.
	SensorRate ByteSize `yaml:"sensor_rate"`
	// MaxBatchesPerSensor bounds one sensor's batches in hand at once
	// (0: half the workers): fewer keep other sensors' latency close to
	// their own under a flood; more let a lone sensor use every worker.
	MaxBatchesPerSensor int `yaml:"max_batches_per_sensor"`
	// SecretFile holds the switch's secret (hex, at least 16 bytes), from
	// which the opaque message ids peers see and the trace headers are
	// derived. Default: switch.secret in the data directory, made at the
	// first start. Every switch process of one exchange needs the same.
	SecretFile string `yaml:"secret_file"`
	// Trace adds to every output delivered at once a Cofswitch-Trace
	// header: its input, sealed under the secret, for the operator to
	// join outputs to inputs. Peers see an opaque value.
	Trace bool `yaml:"trace"`
	// SigningKey is the nkey seed file with which the switch signs every
	// output batch (Cofswitch-Exchange-Signature). Default: nats.nkey's
	// seed when set, otherwise switch.nk in the data directory (the
	// switch's identity on the embedded server), made at the first start.
	// Every switch process of one exchange needs the same; 'cofswitch
	// config signing-key' prints its public key.
	SigningKey string `yaml:"signing_key"`
}

// Organisation is what operator mode needs to know of an organisation.
type Organisation struct {
	// SigningKeys are the public account keys (A...) with which the
	// organisation issues its own users ('cofswitch org-key' makes one;
	// the organisation keeps the seed). Each of its sensors' and peers'
	// accounts accepts users signed by them, with that identity's
	// permissions and no others, whatever the user claims. Listing two
	// lets an organisation roll a key over.
	SigningKeys []string `yaml:"signing_keys"`
}

// Sensor is a registered publisher.
type Sensor struct {
	ID           string   `yaml:"id"`
	Organisation string   `yaml:"organisation"`
	Relays       []string `yaml:"relays"`
	// NKey is the public nkey (U...) the sensor connects with; see
	// 'cofswitch creds'. A batch signed by the sensor is verified against
	// it.
	NKey string `yaml:"nkey"`
	// RequireSignature dead-letters every batch the sensor did not sign
	// with its nkey (kind unsigned) or whose signature does not verify
	// (bad_signature). It requires NKey.
	RequireSignature bool `yaml:"require_signature"`
	// Stream overrides streams.in for this sensor's input stream.
	Stream StreamLimits `yaml:"stream"`
	// Rate overrides switch.sensor_rate: bytes a second; 0 takes the
	// default.
	Rate ByteSize `yaml:"rate"`
}

// Peer is a registered recipient.
type Peer struct {
	ID           string `yaml:"id"`
	Organisation string `yaml:"organisation"`
	// NKey is the public nkey (U...) the peer connects with.
	NKey string `yaml:"nkey"`
	// Consumers are the durable pull consumers the switch provisions on
	// the peer's stream; the peer may bind them, and create none.
	Consumers     []string       `yaml:"consumers"`
	Stream        StreamLimits   `yaml:"stream"`
	Subscriptions []Subscription `yaml:"subscriptions"`
	// Ceiling bounds the subscriptions the peer may choose for itself
	// ('cofswitch subscribe'); nil: it may not (see ceiling.go).
	Ceiling *Ceiling `yaml:"ceiling"`
}

// Subscription selects sensors for a peer and names the policy applied.
type Subscription struct {
	Sensors []string `yaml:"sensors"`
	Policy  string   `yaml:"policy"`
	// TLP labels what the peer receives through this subscription; empty
	// takes the policy's label.
	TLP string `yaml:"tlp"`
	// Backfill, when the peer is first provisioned (its stream did not
	// exist), delivers it the archived input of this long ago under its
	// subscriptions, in the background; it needs streams.archive.
	Backfill Duration `yaml:"backfill"`

	// defaultPolicy is set when Policy was not written and defaulted to
	// pass, which a cross-organisation subscription may not rely on.
	defaultPolicy bool
}

// Defaults.
const (
	DefaultListen          = "127.0.0.1:4222"
	DefaultDuplicateWindow = 5 * time.Minute
	DefaultWorkers         = 8
	DefaultMaxAckPending   = 256
	DefaultAckWait         = 30 * time.Second
	DefaultMaxAttempts     = 5
	DefaultPublishTimeout  = 10 * time.Second
	DefaultOutputEncoding  = "s2"
	// maxBackoff is the engine's longest delay between two attempts.
	maxBackoff = 30 * time.Second
	// PassPolicy is the built-in policy that delivers every record as is.
	PassPolicy = "pass"
	// Auth modes of the embedded server.
	AuthNKeys = "nkeys"
	AuthJWT   = "jwt"
	AuthNone  = "none"
)

// Default stream limits: the input is a work queue that refuses new input
// when full (so sensors see back-pressure and nothing is dropped unseen);
// the DLQ keeps a week; peer streams keep three days and evict the oldest.
//
// JetStream reserves each stream's max_bytes on the server's storage when
// the stream is made, so the per-sensor default is modest: 1,000 sensors
// reserve 64 GiB. The DLQ has no byte limit of its own by default: each
// sensor's share is max_msgs_per_subject messages (256 MiB at most).
var (
	DefaultIn   = StreamLimits{MaxAge: Duration(24 * time.Hour), MaxBytes: 64 << 20, MaxMsgs: 2000, Discard: "new"}
	DefaultDLQ  = StreamLimits{MaxAge: Duration(7 * 24 * time.Hour), MaxMsgsPerSubject: 256, Discard: "old"}
	DefaultPeer = StreamLimits{MaxAge: Duration(72 * time.Hour), MaxBytes: 1 << 30, Discard: "old"}
	DefaultHold = StreamLimits{Discard: "new"}
	DefaultSeen = StreamLimits{MaxBytes: 1 << 30, Discard: "old"}
)

// MaxMessageBytes is the largest message on the exchange (the embedded
// server's max_payload): the unit of a sensor's dead-letter share.
const MaxMessageBytes = 1 << 20

// Error is a configuration error with its place in the file.
type Error struct {
	File string
	Line int    // 0 when unknown
	Path string // e.g. peers[1].subscriptions[0].policy
	Msg  string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	b.WriteString(": ")
	if e.Path != "" {
		b.WriteString(e.Path + ": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Load reads and checks a configuration file.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, data)
}

// Parse reads and checks configuration text; name is used in errors.
func Parse(name string, data []byte) (*Config, error) {
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		return nil, yamlError(name, err)
	}
	var root yaml.Node
	_ = yaml.Unmarshal(data, &root)
	sum := sha256.Sum256(data)
	c.Version = hex.EncodeToString(sum[:6])
	c.name, c.root = name, &root
	c.ApplyDefaults()
	if errs := c.validate(); len(errs) > 0 {
		for _, e := range errs {
			e.File = name
			e.Line = lineOf(&root, e.Path)
		}
		return nil, joinErrors(errs)
	}
	return &c, nil
}

// yamlError turns the YAML library's messages ("yaml: unmarshal errors:\n
// line 5: field x not found in type config.Peer") into one line per fault.
func yamlError(name string, err error) error {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		var errs []*Error
		for _, m := range te.Errors {
			line, msg := friendlyYAML(m)
			errs = append(errs, &Error{File: name, Line: line, Msg: msg})
		}
		return joinErrors(errs)
	}
	line, msg := friendlyYAML(strings.TrimPrefix(err.Error(), "yaml: "))
	return &Error{File: name, Line: line, Msg: msg}
}

func joinErrors(errs []*Error) error {
	out := make([]error, len(errs))
	for i, e := range errs {
		out[i] = e
	}
	return errors.Join(out...)
}

// ApplyDefaults fills every unset value with its default.
func (c *Config) ApplyDefaults() {
	if c.NATS.Listen == "" {
		c.NATS.Listen = DefaultListen
	}
	if c.NATS.Auth == "" {
		c.NATS.Auth = AuthNKeys
	}
	if c.Streams.Replicas == 0 {
		c.Streams.Replicas = 1
	}
	if c.Streams.DuplicateWindow == 0 {
		c.Streams.DuplicateWindow = Duration(DefaultDuplicateWindow)
	}
	c.Streams.In.fill(DefaultIn)
	c.Streams.DLQ.fill(DefaultDLQ)
	c.Streams.Peers.fill(DefaultPeer)
	c.Streams.Hold.fill(DefaultHold)
	c.Streams.Seen.fill(DefaultSeen)
	if c.Streams.ArchiveOn() {
		c.Streams.Archive.fill(DefaultArchive)
	}
	for i := range c.Sensors {
		c.Sensors[i].Stream.fill(c.Streams.In)
		if c.Sensors[i].Rate == 0 {
			c.Sensors[i].Rate = c.Switch.SensorRate
		}
	}
	for i := range c.Peers {
		if len(c.Peers[i].Consumers) == 0 {
			c.Peers[i].Consumers = []string{routing.PeerConsumer}
		}
		c.Peers[i].Stream.fill(c.Streams.Peers)
		for j := range c.Peers[i].Subscriptions {
			if sub := &c.Peers[i].Subscriptions[j]; sub.Policy == "" {
				sub.Policy, sub.defaultPolicy = PassPolicy, true
			}
		}
	}
	if c.Switch.Workers == 0 {
		c.Switch.Workers = DefaultWorkers
	}
	if c.Switch.MaxAckPending == 0 {
		c.Switch.MaxAckPending = DefaultMaxAckPending
	}
	if c.Switch.AckWait == 0 {
		c.Switch.AckWait = Duration(DefaultAckWait)
	}
	if c.Switch.MaxAttempts == 0 {
		c.Switch.MaxAttempts = DefaultMaxAttempts
	}
	if c.Switch.PublishTimeout == 0 {
		c.Switch.PublishTimeout = Duration(DefaultPublishTimeout)
	}
	if c.Switch.OutputEncoding == "" {
		c.Switch.OutputEncoding = DefaultOutputEncoding
	}
}

func (l *StreamLimits) fill(d StreamLimits) {
	if l.MaxAge == 0 {
		l.MaxAge = d.MaxAge
	}
	if l.MaxBytes == 0 {
		l.MaxBytes = d.MaxBytes
	}
	if l.MaxMsgs == 0 {
		l.MaxMsgs = d.MaxMsgs
	}
	if l.MaxMsgsPerSubject == 0 {
		l.MaxMsgsPerSubject = d.MaxMsgsPerSubject
	}
	if l.Discard == "" {
		l.Discard = d.Discard
	}
}

// Compile builds what the switch runs: the routing table of the registry
// and the compiled policies (reading their keys through env). A policy
// used by a cross-organisation subscription keeps the draft's fields only
// unless it sets keep_fields (see orgs.go). Errors name the file and line
// of the value at fault.
func (c *Config) Compile(env policy.Env) (*routing.Table, *policy.Set, error) {
	set, err := policy.CompileSet(c.Version, c.effectivePolicies(), env)
	if err != nil {
		return nil, nil, c.locate(err)
	}
	var sensors []routing.Sensor
	for _, s := range c.Sensors {
		sensors = append(sensors, routing.Sensor{ID: s.ID, Organisation: s.Organisation, Relays: s.Relays, Rate: int64(s.Rate),
			NKey: s.NKey, RequireSignature: s.RequireSignature})
	}
	var peers []routing.Peer
	var subs []routing.Subscription
	for _, p := range c.Peers {
		peers = append(peers, routing.Peer{ID: p.ID, Organisation: p.Organisation})
		for i, s := range p.Subscriptions {
			tlp, _ := policy.ParseTLP(s.TLP) // checked by validate
			if pol, ok := set.Lookup(s.Policy); ok && tlp == "" {
				tlp = pol.TLP()
			}
			subs = append(subs, routing.Subscription{Peer: p.ID, Index: i, Sensors: s.Sensors, Policy: s.Policy, TLP: tlp.Header()})
		}
	}
	table, err := routing.Build(sensors, peers, subs)
	if err != nil {
		return nil, nil, &Error{File: c.name, Msg: err.Error()}
	}
	return table, set, nil
}

// Table builds the routing table alone, with the built-in policy
// environment; for tools that do not apply policies.
func (c *Config) Table() (*routing.Table, error) {
	t, _, err := c.Compile(policy.DefaultEnv())
	return t, err
}

// locate turns policy errors (which carry a path) into Errors with lines.
func (c *Config) locate(err error) error {
	var out []*Error
	var walk func(error)
	walk = func(e error) {
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			for _, x := range j.Unwrap() {
				walk(x)
			}
			return
		}
		var pe *policy.Error
		if errors.As(e, &pe) {
			path := strings.TrimSuffix(pe.Path, ".")
			out = append(out, &Error{File: c.name, Line: lineOf(c.root, path), Path: path, Msg: pe.Msg})
			return
		}
		out = append(out, &Error{File: c.name, Msg: e.Error()})
	}
	walk(err)
	return joinErrors(out)
}
