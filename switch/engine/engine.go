// Package engine is the switch: it consumes sensor batches from COF_IN,
// validates and normalises every record, binds it to its sensor, routes it
// to the subscribed peers, applies each subscription's policy, publishes
// one batch per peer, dead-letters what is invalid, and acks the input only
// once every output is stored.
//
// It imports cof, routing and policy, and takes its settings as options:
// the configuration file is switch/exchange's concern. (The package is
// not called "switch": that is a Go keyword, so the switch's packages live
// under a folder of that name, as golang.org/x/tools keeps its go/.)
package engine

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cofswitch/cofswitch/batchsig"
	"github.com/cofswitch/cofswitch/cof"
	"github.com/cofswitch/cofswitch/policy"
	"github.com/cofswitch/cofswitch/routing"
)

// Defaults.
const (
	DefaultConsumer       = "cofswitch"
	DefaultWorkers        = 8
	DefaultMaxAckPending  = 256
	DefaultAckWait        = 30 * time.Second
	DefaultMaxAttempts    = 5
	DefaultPublishTimeout = 10 * time.Second
	// DefaultMaxOutputBytes caps one output message before compression. It
	// is a constant, not derived from the server, so that every switch
	// process cuts a batch into the same chunks (and message ids).
	DefaultMaxOutputBytes = 768 << 10
	// outputHeadroom keeps output batches below the server's max payload
	// with room for headers and compression overhead.
	outputHeadroom = 64 << 10
)

// ErrInvalidOption reports an option given an unusable value.
var ErrInvalidOption = errors.New("engine: invalid option")

// Option configures an Engine.
type Option func(*options) error

type options struct {
	consumer       string
	workers        int
	maxAckPending  int
	ackWait        time.Duration
	maxAttempts    int
	publishTimeout time.Duration
	maxOutput      int
	outEnc         cof.Encoding
	outAsInput     bool
	perSensor      int
	secret         []byte
	trace          bool
	releaseEvery   time.Duration
	repair         func(ctx context.Context, peer string) error
	stallRetry     time.Duration
	archive        bool
	log            *slog.Logger
	signer         *batchsig.Signer // signs every output to a peer (sign.go)
	group          *batchsig.Group  // of signer: outputs signed together
	signWait       time.Duration    // the group's wait (WithSignWait)
}

// WithConsumer sets the durable consumer name; every switch process that
// shares the work must use the same. Default "cofswitch".
func WithConsumer(name string) Option {
	return func(o *options) error {
		if name == "" {
			return fmt.Errorf("%w: empty consumer name", ErrInvalidOption)
		}
		o.consumer = name
		return nil
	}
}

// WithWorkers sets how many input batches are processed at once.
func WithWorkers(n int) Option {
	return func(o *options) error {
		if n < 1 || n > 1024 {
			return fmt.Errorf("%w: workers %d not in 1..1024", ErrInvalidOption, n)
		}
		o.workers = n
		return nil
	}
}

// WithMaxAckPending bounds the batches pulled but not yet acked, across
// every process sharing the consumer.
func WithMaxAckPending(n int) Option {
	return func(o *options) error {
		if n < 1 {
			return fmt.Errorf("%w: max ack pending %d", ErrInvalidOption, n)
		}
		o.maxAckPending = n
		return nil
	}
}

// WithAckWait sets how long a batch may stay unacked before the server
// redelivers it (after a crash, for instance).
func WithAckWait(d time.Duration) Option {
	return func(o *options) error {
		if d < time.Second {
			return fmt.Errorf("%w: ack wait %v below 1s", ErrInvalidOption, d)
		}
		o.ackWait = d
		return nil
	}
}

// WithMaxAttempts sets how many deliveries of one batch are tried while a
// peer's stream is unavailable, before the drop is counted for that peer.
func WithMaxAttempts(n int) Option {
	return func(o *options) error {
		if n < 1 {
			return fmt.Errorf("%w: max attempts %d", ErrInvalidOption, n)
		}
		o.maxAttempts = n
		return nil
	}
}

// WithPublishTimeout bounds the wait for one batch's publish acks.
func WithPublishTimeout(d time.Duration) Option {
	return func(o *options) error {
		if d <= 0 {
			return fmt.Errorf("%w: publish timeout %v", ErrInvalidOption, d)
		}
		o.publishTimeout = d
		return nil
	}
}

// WithMaxOutputBytes caps the uncompressed size of one output message;
// larger outputs are split at line boundaries. Default: the server's max
// payload less 64 KiB.
func WithMaxOutputBytes(n int) Option {
	return func(o *options) error {
		if n < 1024 {
			return fmt.Errorf("%w: max output bytes %d below 1024", ErrInvalidOption, n)
		}
		o.maxOutput = n
		return nil
	}
}

// DefaultOutputEncoding compresses output batches: S2 costs about a third
// of the CPU of zstd's fastest level for 1.5 times the bytes, and the CPU
// is what a switch runs out of (see the README's Performance section).
const DefaultOutputEncoding = cof.S2

// WithOutputEncoding sets the compression of output batches, whatever the
// input's. Default DefaultOutputEncoding.
func WithOutputEncoding(enc cof.Encoding) Option {
	return func(o *options) error {
		switch enc {
		case cof.Identity, cof.Zstd, cof.S2:
		default:
			return fmt.Errorf("%w: output encoding %q", ErrInvalidOption, string(enc))
		}
		o.outEnc, o.outAsInput = enc, false
		return nil
	}
}

// WithOutputAsInput compresses each output batch as its input was.
func WithOutputAsInput() Option {
	return func(o *options) error {
		o.outAsInput = true
		return nil
	}
}

// WithMaxBatchesPerSensor bounds the batches of one sensor in hand at once
// (at most the workers). Default: half the workers. Fewer keep another
// sensor's latency close to its own under a flood (a victim's batch shares
// the CPU with fewer of the flooder's); more let a lone sensor use every
// worker (measured on 2 cores: half the workers cost a lone sensor about
// 10% of its throughput and halved a victim's latency under a flood).
func WithMaxBatchesPerSensor(n int) Option {
	return func(o *options) error {
		if n < 0 {
			return fmt.Errorf("%w: max batches per sensor %d", ErrInvalidOption, n)
		}
		o.perSensor = n
		return nil
	}
}

// WithSecret sets the switch's secret (at least MinSecretLen bytes), from
// which the opaque message ids of outputs and the trace headers are
// derived. Every switch process sharing the work must have the same, and
// keep it across restarts: a redelivered input then yields the same ids
// and is deduplicated. Without it a random one is made, and a batch
// redelivered after a restart may reach a peer twice.
func WithSecret(secret []byte) Option {
	return func(o *options) error {
		if len(secret) < MinSecretLen {
			return fmt.Errorf("%w: secret of %d bytes, want at least %d", ErrInvalidOption, len(secret), MinSecretLen)
		}
		o.secret = append([]byte(nil), secret...)
		return nil
	}
}

// WithTrace adds a Cofswitch-Trace header to every output delivered at
// once: the input's sensor and sequence, sealed under the secret, for the
// operator (and cofswitch bench) to join outputs to inputs. Peers see an
// opaque value that differs in every copy. Off by default.
func WithTrace() Option {
	return func(o *options) error {
		o.trace = true
		return nil
	}
}

// WithReleaseInterval sets how often held outputs whose bucket has ended
// are looked for. Default 1s.
func WithReleaseInterval(d time.Duration) Option {
	return func(o *options) error {
		if d <= 0 {
			return fmt.Errorf("%w: release interval %v", ErrInvalidOption, d)
		}
		o.releaseEvery = d
		return nil
	}
}

// WithRepair sets how a peer's missing stream is recreated (from the
// registry, by the exchange): the releaser calls it, at most every 5 s per
// peer, when parked outputs find no stream. Without it a missing stream
// waits for a reload.
func WithRepair(f func(ctx context.Context, peer string) error) Option {
	return func(o *options) error {
		o.repair = f
		return nil
	}
}

// WithStallRetry sets how long a batch waits before it is tried again
// once its attempts are spent while the exchange's own streams (dead
// letters, hold) cannot store. Default 30s.
func WithStallRetry(d time.Duration) Option {
	return func(o *options) error {
		if d <= 0 {
			return fmt.Errorf("%w: stall retry %v", ErrInvalidOption, d)
		}
		o.stallRetry = d
		return nil
	}
}

// WithLogger sets the logger. Default: slog.Default().
func WithLogger(l *slog.Logger) Option {
	return func(o *options) error {
		if l == nil {
			return fmt.Errorf("%w: nil logger", ErrInvalidOption)
		}
		o.log = l
		return nil
	}
}

// Engine is a running switch. Create it with New, run it with Start, and
// stop it with Stop, which finishes the batches in hand.
type Engine struct {
	o     options
	nc    *nats.Conn
	js    jetstream.JetStream
	codec *cof.Codec
	sec   *secrets
	thr   *thresholds
	log   *slog.Logger
	// sights holds the sightings alone, written by their own writers
	// (sightings.go); sightErrs paces the warning when they fail.
	sights    *sightQueue
	sightErrs *every
	sightStop context.CancelFunc
	sightWG   sync.WaitGroup

	parking *parking
	// stored holds the internal ids of outputs stored by an attempt of a
	// batch that was handed back (a peer's or the exchange's own stream
	// failed): the next attempt does not send them again, so a batch
	// that waits longer than the duplicate window delivers nothing twice.
	// Ids leave when their batch is acked.
	stored sync.Map
	stalls *every // rate of the stall error
	hist   *histograms
	stats  *Stats
	drops  *dropLog

	reg atomic.Pointer[registry]

	mu      sync.Mutex
	inputs  *Inputs // the sensors' input streams, pulled fairly
	wg      sync.WaitGroup
	release context.CancelFunc // stops the releaser
	relDone chan struct{}
	hand    *inHand // the batches in hand, kept alive (keepalive.go)
	keep    context.CancelFunc
	kept    chan struct{}
	started bool
}

// New returns an Engine over the connection nc, routing with table and
// applying policies from pols. Options: WithConsumer, WithWorkers,
// WithMaxAckPending, WithAckWait, WithMaxAttempts, WithPublishTimeout,
// WithMaxBatchesPerSensor,
// WithMaxOutputBytes, WithOutputEncoding, WithOutputAsInput, WithLogger.
func New(nc *nats.Conn, table *routing.Table, pols *policy.Set, opts ...Option) (*Engine, error) {
	o := options{
		consumer:       DefaultConsumer,
		workers:        DefaultWorkers,
		maxAckPending:  DefaultMaxAckPending,
		ackWait:        DefaultAckWait,
		maxAttempts:    DefaultMaxAttempts,
		publishTimeout: DefaultPublishTimeout,
		outEnc:         DefaultOutputEncoding,
		signWait:       DefaultSignWait,
		log:            slog.Default(),
	}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	if o.maxOutput == 0 {
		o.maxOutput = DefaultMaxOutputBytes
	}
	if o.group != nil {
		o.group.SetWait(o.signWait)
	}
	if o.perSensor == 0 || o.perSensor > o.workers {
		// Half the workers: another sensor's batch finds a worker free,
		// and shares the CPU with fewer of a flooder's.
		o.perSensor = max(1, o.workers/2)
	}
	if limit := int(nc.MaxPayload()) - outputHeadroom; o.maxOutput > limit {
		o.maxOutput = max(limit, 1024)
	}
	if o.stallRetry == 0 {
		o.stallRetry = 30 * time.Second
	}
	if o.releaseEvery == 0 {
		o.releaseEvery = time.Second
	}
	if o.secret == nil {
		o.secret = make([]byte, 32)
		_, _ = rand.Read(o.secret)
		o.log.Warn("no switch secret given: message ids change at every restart, so a batch redelivered after one may reach a peer twice")
	}
	sec, err := newSecrets(o.secret)
	if err != nil {
		return nil, err
	}
	if table == nil || pols == nil {
		return nil, fmt.Errorf("%w: nil routing table or policy set", ErrInvalidOption)
	}
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(4*o.workers*64),
		jetstream.WithPublishAsyncTimeout(o.publishTimeout))
	if err != nil {
		return nil, fmt.Errorf("engine: jetstream: %w", err)
	}
	codec, err := cof.NewCodec()
	if err != nil {
		return nil, err
	}
	// The threshold's writes (one per rrset of a batch, 10,000 at most)
	// have a budget of asynchronous publishes of their own: a sensor's
	// flood of new rrsets never takes the budget the outputs need.
	thrJS, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending((o.workers+sightingWriters)*thresholdWindow+1),
		jetstream.WithPublishAsyncTimeout(o.publishTimeout))
	if err != nil {
		return nil, fmt.Errorf("engine: jetstream: %w", err)
	}
	thr := newThresholds(o.secret)
	thr.js = thrJS
	e := &Engine{o: o, nc: nc, js: js, codec: codec, log: o.log, stats: newStats(), sec: sec, thr: thr, parking: newParking(), stalls: &every{d: time.Minute}, hist: newHistograms(), hand: newInHand(),
		sights: newSightQueue(), sightErrs: &every{d: 10 * time.Second}}
	e.drops = newDropLog(o.log, 10*time.Second)
	e.reg.Store(newRegistry(table, pols))
	return e, nil
}

// registry is what one batch is switched under: a routing table and the
// policies it names, swapped together so that they always agree.
type registry struct {
	table    *routing.Table
	policies *policy.Set
	// maxWindow is the longest threshold window of the policies: the
	// sightings of an rrset are kept that long.
	maxWindow time.Duration
}

func newRegistry(t *routing.Table, s *policy.Set) *registry {
	r := &registry{table: t, policies: s}
	for _, name := range s.Names() {
		if p, ok := s.Lookup(name); ok && p.Threshold().Enabled() {
			r.maxWindow = max(r.maxWindow, p.Threshold().Window)
		}
	}
	return r
}

// SetRegistry swaps in a new routing table and policy set at once. Each
// batch is switched under exactly one registry: those in hand finish under
// the old one.
//
// Sensors added get a feeder; the feeders of removed sensors stop (their
// input stays in their streams); rate quotas change at once.
func (e *Engine) SetRegistry(t *routing.Table, s *policy.Set) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.reg.Store(newRegistry(t, s))
	if e.started {
		e.inputs.Reconcile(t.Sensors())
	}
	e.log.Info("registry swapped in", "policies", s.Version(), "sensors", len(t.Sensors()))
}

// PolicyVersion returns the version of the policy set in force.
func (e *Engine) PolicyVersion() string { return e.reg.Load().policies.Version() }

// Stats returns a snapshot of the counters.
func (e *Engine) Stats() Snapshot {
	s := e.stats.snapshot()
	s.SightingsPending = uint64(e.sights.queued())
	return s
}

// Start starts the workers and a feeder for each registered sensor, which
// creates (or binds to) the durable consumer on the sensor's input stream.
// It returns once they run. A feeder whose stream or consumer is missing
// or vanishes retries, with backoff, until stopped.
func (e *Engine) Start(_ context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.started {
		return errors.New("engine: already started")
	}
	e.inputs = NewInputs(e.js, InputOptions{
		Consumer: e.o.consumer, Description: "cofswitch: switches sensor batches to peers",
		AckWait: e.o.ackWait, MaxAckPending: e.o.maxAckPending, Throttled: e.stats.addThrottled, Log: e.log,
		MaxInFlight: e.o.perSensor,
	})
	e.wg.Add(e.o.workers)
	for range e.o.workers {
		go func() {
			defer e.wg.Done()
			w := e.newWorker()
			for in := range e.inputs.C() {
				w.handle(in)
				in.Done()
			}
		}()
	}
	e.inputs.Reconcile(e.reg.Load().table.Sensors())
	ctx, cancel := context.WithCancel(context.Background())
	e.release, e.relDone = cancel, make(chan struct{})
	go func() {
		defer close(e.relDone)
		e.runReleaser(ctx)
	}()
	// Kept alive until the last worker is done: Stop finishes the
	// batches in hand.
	kctx, kcancel := context.WithCancel(context.Background())
	e.keep, e.kept = kcancel, make(chan struct{})
	go func() {
		defer close(e.kept)
		e.hand.run(kctx, e.o.ackWait/3)
	}()
	sctx, scancel := context.WithCancel(context.Background())
	e.sightStop = scancel
	e.sightWG.Add(sightingWriters)
	for range sightingWriters {
		go func() {
			defer e.sightWG.Done()
			e.writeSightings(sctx)
		}()
	}
	e.started = true
	e.log.Info("switch started", "consumer", e.o.consumer, "workers", e.o.workers,
		"sensors", e.inputs.Len(), "policies", e.PolicyVersion())
	return nil
}

// Recoverable reports whether an error from a pull iterator's Next leaves
// the iterator working: a missed heartbeat, after which it pulls again.
func Recoverable(err error) bool {
	return errors.Is(err, jetstream.ErrNoHeartbeat)
}

// Stop stops pulling, finishes and acks the batches in hand, and returns
// when every worker is done. Batches pulled but not started are handed
// back to the server, which redelivers them to another process or after
// restart.
func (e *Engine) Stop() {
	e.mu.Lock()
	if !e.started {
		e.mu.Unlock()
		return
	}
	e.started = false
	e.mu.Unlock()
	e.inputs.Stop()
	e.release()
	<-e.relDone
	e.wg.Wait()
	e.keep()
	<-e.kept
	// The last sightings are written if they can be in a moment; they
	// are counts, never a reason to keep a process from stopping.
	dctx, dcancel := context.WithTimeout(context.Background(), 5*time.Second)
	e.sights.drain(dctx)
	dcancel()
	e.sightStop()
	e.sightWG.Wait()
	e.codec.Close()
	e.drops.flush()
	e.log.Info("switch stopped", "stats", e.stats.snapshot().String())
}

// every says yes at most once per d.
type every struct {
	mu   sync.Mutex
	d    time.Duration
	last time.Time
}

func (e *every) due() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if time.Since(e.last) < e.d {
		return false
	}
	e.last = time.Now()
	return true
}

func (e *Engine) wasStored(id string) bool {
	_, ok := e.stored.Load(id)
	return ok
}
