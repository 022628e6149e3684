// Package backfill delivers archived input to a peer under its current
// subscriptions and policies: for a peer added after the records were
// switched, or a policy widened since. It reads COF_ARCHIVE (the batches
// the switch accepted, kept when streams.archive is configured),
// re-switches each batch with the engine's own code (engine.Evaluator)
// under the routing table and policies of the configuration, and publishes
// what the peer is entitled to on its stream, at a bounded rate.
//
// Idempotency: each output's Nats-Msg-Id is an HMAC under the switch's
// secret of bf:<archive epoch>:<archive seq>:<peer>:<TLP>:0:<chunk> (held
// outputs, merged per bucket and window: bf:<epoch>:<first>-<last
// seq>:<peer>:<TLP>:<hold>:<bucket end>:<chunk>), and the archive
// sequences dealt with are saved in the key-value bucket COF_BACKFILL (one
// key per peer) after each window of archive sequences whose publishes
// are acked. A rerun skips what the bucket holds, however long after; a run
// killed between two saves publishes its unsaved window again, which the
// peer stream's duplicate window drops.
package backfill

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/cofswitch/cofswitch/batchsig"
	"github.com/cofswitch/cofswitch/cof"
	"github.com/cofswitch/cofswitch/config"
	"github.com/cofswitch/cofswitch/policy"
	"github.com/cofswitch/cofswitch/routing"
	"github.com/cofswitch/cofswitch/switch/engine"
)

// Errors.
var (
	// ErrUnknownPeer reports a peer the configuration does not name.
	ErrUnknownPeer = errors.New("backfill: unknown peer")
	// ErrNoArchive reports an exchange without COF_ARCHIVE (or its
	// progress bucket): streams.archive is not configured.
	ErrNoArchive = errors.New("backfill: no input archive (configure streams.archive and restart the exchange)")
	// ErrNoPeerStream reports a peer whose stream is not provisioned yet.
	ErrNoPeerStream = errors.New("backfill: the peer's stream does not exist (reload the exchange with the peer first)")
	// ErrBusy reports another backfill of the same peer saving progress.
	ErrBusy = errors.New("backfill: another backfill of this peer is running")
)

// Defaults.
const (
	// DefaultRate is the records a second a backfill delivers unless told.
	DefaultRate = 20_000
	// DefaultWindow is the archive sequences (input batches) re-switched
	// between two saves of the progress: their publishes are awaited
	// together.
	DefaultWindow = 64
	fetchBatch    = 64
	fetchWait     = time.Second
)

// Options say what to backfill.
type Options struct {
	// Config is the exchange's configuration: its subscriptions,
	// policies, output encoding and version are those applied.
	Config *config.Config
	// Peer is the peer to deliver to.
	Peer string
	// Since bounds the archive read: batches archived this long ago or
	// later; 0 reads all of it.
	Since time.Duration
	// Rate caps the records a second delivered (0: DefaultRate; negative:
	// no limit).
	Rate int
	// Signer signs every output as the switch signs its own
	// (exchange.SigningKey); nil: unsigned, which peers verifying with
	// --exchange-key refuse.
	Signer *batchsig.Signer
	// Secret is the switch's secret, whose message ids the outputs get.
	Secret []byte
	// Until is the last archive sequence read; 0: the archive's last when
	// the run starts.
	Until uint64
	// Window is the archive sequences between two saves of the progress
	// (aligned on multiples of it); DefaultWindow when 0.
	Window int
	// Progress, if set, is told after each saved window and at the end.
	Progress func(Progress)
	// By names who runs it, in the saved progress ("cli", "serve").
	By string
	// Log receives warnings; nil discards them.
	Log *slog.Logger
	// Now is the clock; nil: time.Now.
	Now func() time.Time
}

// Progress is where a run stands.
type Progress struct {
	Records  int64 // delivered by this run
	Filtered int64 // withheld by the peer's policies
	// ThresholdHeld counts records of policies with a k-sensor threshold
	// whose rrset the switch has not found released: not delivered.
	ThresholdHeld int64
	// Unregistered counts archived batches of sensors the configuration
	// no longer has: nothing of them is delivered.
	Unregistered int64
	Batches      int64  // archived batches re-switched by this run
	Skipped      int64  // batches skipped: done before, or switched under this configuration
	Messages     int64  // published (duplicates included)
	Position     uint64 // archive sequences gone through
	Total        uint64 // archive sequences to go through
	Waits        int64  // times the rate limit made the run wait
	Waited       time.Duration
	Elapsed      time.Duration
	Done         bool
	Duplicate    int64 // publishes the peer's stream had already
}

// Run backfills the peer and returns the final progress. It stops at
// ctx's end with what was saved kept; run it again to go on.
func Run(ctx context.Context, js jetstream.JetStream, o Options) (Progress, error) {
	r, err := newRun(ctx, js, o)
	if err != nil {
		return Progress{}, err
	}
	defer r.ev.Close()
	return r.run(ctx)
}

// CheckPeer returns the peer of the configuration, or ErrUnknownPeer.
func CheckPeer(c *config.Config, peer string) (config.Peer, error) {
	for _, p := range c.Peers {
		if p.ID == peer {
			return p, nil
		}
	}
	ids := make([]string, 0, len(c.Peers))
	for _, p := range c.Peers {
		ids = append(ids, p.ID)
	}
	slices.Sort(ids)
	return config.Peer{}, fmt.Errorf("%w %q: the configuration's peers are %v", ErrUnknownPeer, peer, ids)
}

func newRun(ctx context.Context, js jetstream.JetStream, o Options) (*run, error) {
	if o.Config == nil {
		return nil, errors.New("backfill: no configuration")
	}
	if _, err := CheckPeer(o.Config, o.Peer); err != nil {
		return nil, err
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Window <= 0 {
		o.Window = DefaultWindow
	}
	table, pols, err := o.Config.Compile(policy.DefaultEnv())
	if err != nil {
		return nil, err
	}
	ids, err := engine.NewIDs(o.Secret)
	if err != nil {
		return nil, fmt.Errorf("backfill: the switch's secret: %w", err)
	}
	archive, err := js.Stream(ctx, routing.ArchiveStream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil, ErrNoArchive
	}
	if err != nil {
		return nil, fmt.Errorf("backfill: %s: %w", routing.ArchiveStream, err)
	}
	if _, err := js.Stream(ctx, routing.PeerStream(o.Peer)); errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil, fmt.Errorf("%w: %s", ErrNoPeerStream, routing.PeerStream(o.Peer))
	} else if err != nil {
		return nil, fmt.Errorf("backfill: %s: %w", routing.PeerStream(o.Peer), err)
	}
	kv, err := js.KeyValue(ctx, routing.BackfillBucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return nil, ErrNoArchive
	}
	if err != nil {
		return nil, fmt.Errorf("backfill: %s: %w", routing.BackfillBucket, err)
	}
	info := archive.CachedInfo()
	epoch := strconv.FormatInt(info.Created.UnixNano(), 36)
	prog, err := loadProgress(ctx, kv, o.Peer, epoch)
	if err != nil {
		return nil, err
	}
	ev, err := engine.NewEvaluator(table, pols)
	if err != nil {
		return nil, err
	}
	// Records under a threshold go only where the switch found their
	// rrset released; without its bucket, none go.
	switch seen, err := js.KeyValue(ctx, routing.SeenBucket); {
	case err == nil:
		ev.UseThresholds(o.Secret, seen)
	case !errors.Is(err, jetstream.ErrBucketNotFound):
		ev.Close()
		return nil, fmt.Errorf("backfill: the threshold bucket: %w", err)
	}
	codec, err := cof.NewCodec()
	if err != nil {
		ev.Close()
		return nil, err
	}
	until := o.Until
	if until == 0 {
		until = info.State.LastSeq
	}
	return &run{o: o, js: js, ev: ev, ids: ids, codec: codec, prog: prog, epoch: epoch, until: until,
		pace: newPacer(o.Rate), held: map[heldKey]*heldPage{}}, nil
}
