package exchange

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/cofswitch/cofswitch/config"
	"github.com/cofswitch/cofswitch/policy"
	"github.com/cofswitch/cofswitch/routing"
	"github.com/cofswitch/cofswitch/switch/selfservice"
)

// selfService applies the peers' own subscriptions (package
// switch/selfservice): the registry in force is always the file's
// configuration merged with the stored selections, whether the file or a
// selection changed, so that a reload never undoes a selection and a
// selection never outlives the ceiling it was checked against.
type selfService struct {
	store *selfservice.Store
	watch *selfservice.Watcher
	resp  *selfservice.Responder
	log   *slog.Logger

	mu     sync.Mutex // orders the swaps of the registry
	stored map[string]selfservice.Stored
	// prev is the file this process ran before the one in force, and
	// reloaded says the next effective is the reload's: only a reload
	// deletes choices, those the previous file accepted and the new one
	// does not. A file met at start, or a choice that arrives later, may
	// be older or newer than the file another process runs, under which
	// the choice was made.
	prev     *config.Config
	reloaded bool
	applied  map[string]selfservice.Applied // in force, to log what changed
	// The file's registry in force, compiled: what runs when the merged
	// one does not compile.
	fileTable *routing.Table
	filePols  *policy.Set
}

// openSelfService binds the bucket and reads the stored selections.
func openSelfService(ctx context.Context, js jetstream.JetStream, log *slog.Logger) (*selfService, error) {
	store, err := selfservice.OpenStore(ctx, js)
	if err != nil {
		return nil, err
	}
	s := &selfService{store: store, log: log, applied: map[string]selfservice.Applied{}}
	s.watch, s.stored, err = store.Watch(ctx, func(peer string, err error) {
		log.Error("self-service selection unreadable: the file's subscriptions apply", "peer", peer, "err", err)
	})
	if err != nil {
		return nil, err
	}
	return s, nil
}

// effective is the configuration to run for the file's cfg, with the
// stored selections; it logs what changed since the last call. The
// caller holds s.mu.
func (s *selfService) effective(cfg *config.Config) *config.Config {
	s.stampLegacy(cfg)
	eff, applied := selfservice.Effective(cfg, s.stored)
	for _, peer := range slices.Sorted(mapKeys(applied, s.applied)) {
		now, had := applied[peer], s.applied[peer]
		if now.Version == had.Version && slices.Equal(now.Dropped, had.Dropped) && now.Ignored == had.Ignored {
			continue
		}
		s.logChange(peer, now)
	}
	s.applied = applied
	if s.reloaded && s.prev != nil {
		for _, peer := range slices.Sorted(maps.Keys(applied)) {
			if st := s.stored[peer]; applied[peer].Ignored != "" && acceptedUnder(s.prev, peer, st) {
				s.forget(peer, st.Version, st.Revision)
			}
		}
	}
	s.reloaded = false
	return eff
}

// acceptedUnder says whether the file c let peer's stored value apply:
// the peer there, with a ceiling, of the organisation that chose.
func acceptedUnder(c *config.Config, peer string, st selfservice.Stored) bool {
	pe, ok := c.PeerByID(peer)
	return ok && pe.Ceiling != nil && (st.Organisation == "" || st.Organisation == pe.Organisation)
}

// stampLegacy records, in each stored choice that names no organisation
// (written before choices recorded theirs), its peer's organisation in
// the file in force, once: from then on the choice does not follow its
// id to another organisation. The caller holds s.mu.
func (s *selfService) stampLegacy(cfg *config.Config) {
	for _, peer := range slices.Sorted(maps.Keys(s.stored)) {
		st := s.stored[peer]
		pe, ok := cfg.PeerByID(peer)
		if st.Organisation != "" || !ok || pe.Organisation == "" {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		cur, present, err := s.store.Stamp(ctx, peer, st.Revision, pe.Organisation)
		cancel()
		switch {
		case err != nil:
			s.log.Warn("self-service choice from before choices named their organisation: not stamped", "peer", peer, "err", err)
		case present:
			s.stored[peer] = cur
		default:
			delete(s.stored, peer)
		}
	}
}

// forget deletes the stored selection of a peer that left the file or
// lost its ceiling: a peer added again later under that id (another key,
// another organisation) starts from the file's subscriptions, not from a
// choice someone else made. The delete is conditional on the version
// read, and idempotent across switch processes; it runs apart, since its
// change comes back through the watch, which needs s.mu.
func (s *selfService) forget(peer string, version, rev uint64) {
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.store.Forget(ctx, peer, rev); err != nil && !errors.Is(err, selfservice.ErrConflict) {
			s.log.Warn("self-service selection of a peer without a ceiling not deleted; it is ignored, and deleted at the next change", "peer", peer, "err", err)
			return
		}
		s.log.Info("self-service selection deleted: its peer left the file or has no ceiling any more", "peer", peer, "version", version)
	}()
}

// logChange logs what is now in force for peer (no secrets: ids,
// patterns and policy names).
func (s *selfService) logChange(peer string, a selfservice.Applied) {
	switch {
	case a.Version == 0:
		s.log.Info("self-service subscriptions cleared: the file's apply", "peer", peer)
	case a.Ignored != "":
		s.log.Warn("self-service subscriptions not applied: the file's apply", "peer", peer, "version", a.Version, "reason", a.Ignored)
	default:
		var sensors, policies []string
		for _, sub := range a.Subscriptions {
			sensors = append(sensors, sub.Sensors...)
			policies = append(policies, sub.Policy)
		}
		s.log.Info("self-service subscriptions applied", "peer", peer, "version", a.Version,
			"sensors", strings.Join(sensors, ","), "policies", strings.Join(policies, ","))
		for _, why := range a.Dropped {
			s.log.Warn("self-service subscription dropped: outside the peer's ceiling now", "peer", peer, "version", a.Version, "reason", why)
		}
	}
}

// mapKeys are the keys of both maps.
func mapKeys(a, b map[string]selfservice.Applied) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range a {
			if !yield(k) {
				return
			}
		}
		for k := range b {
			if _, dup := a[k]; !dup && !yield(k) {
				return
			}
		}
	}
}

// stop ends the watch and the answers.
func (s *selfService) stop() {
	if s == nil {
		return
	}
	if s.resp != nil {
		s.resp.Stop()
	}
	if s.watch != nil {
		s.watch.Stop()
	}
}

// install swaps in the registry of the file's cfg merged with the stored
// selections, and makes cfg the configuration in force. A merged
// configuration that does not compile (it should: each selection was
// checked against cfg) is logged, and the file's runs.
func (x *Exchange) install(cfg *config.Config, fileTable *routing.Table, filePols *policy.Set) {
	x.ss.mu.Lock()
	defer x.ss.mu.Unlock()
	x.ss.prev, x.ss.reloaded = x.cfg.Load(), true
	x.swap(cfg, fileTable, filePols)
}

// swap is install with x.ss.mu held.
func (x *Exchange) swap(cfg *config.Config, fileTable *routing.Table, filePols *policy.Set) {
	x.ss.fileTable, x.ss.filePols = fileTable, filePols
	table, pols, running := fileTable, filePols, cfg
	if eff := x.ss.effective(cfg); eff != cfg {
		t, p, err := eff.Compile(policy.DefaultEnv())
		if err != nil {
			x.log.Error("self-service subscriptions do not compile: the file's apply to every peer", "err", err)
		} else {
			table, pols, running = t, p, eff
		}
	}
	x.eng.SetRegistry(table, pols)
	x.cfg.Store(cfg)
	x.running.Store(running)
}

// selectionsChanged applies the stored selections after a change in the
// bucket, to the configuration in force.
func (x *Exchange) selectionsChanged(stored map[string]selfservice.Stored) {
	x.ss.mu.Lock()
	defer x.ss.mu.Unlock()
	x.ss.stored = stored
	x.swap(x.cfg.Load(), x.ss.fileTable, x.ss.filePols)
}

// startSelfService follows the bucket and answers the peers' requests.
func (x *Exchange) startSelfService() error {
	x.ss.watch.Follow(x.selectionsChanged)
	resp, err := selfservice.Serve(x.conn, x.ss.store, x.Config, x.log)
	if err != nil {
		return fmt.Errorf("exchange: self-service: %w", err)
	}
	x.ss.resp = resp
	return nil
}

// subscriptionsHistory is how many choices of each peer the bucket
// keeps: the last few, for the operator to see what changed.
const subscriptionsHistory = 8

// SubscriptionsBucketConfig is the stream of the key-value bucket
// COF_SUBSCRIPTIONS (the bucket's conventions: $KV subjects, one per key,
// rollups, direct gets), made on every exchange, ceilings or not, so that
// every switch process can watch it: the peers' own subscriptions, a few
// bytes each, never evicted (a choice lost would silently return a peer
// to the file's subscriptions).
func SubscriptionsBucketConfig(streams config.Streams) jetstream.StreamConfig {
	sc := streamConfig(streams, "KV_"+routing.SubscriptionsBucket, []string{"$KV." + routing.SubscriptionsBucket + ".>"}, config.StreamLimits{Discard: "new"})
	sc.Description = "cofswitch self-service subscriptions: per peer, those it chose within its ceiling; the operator's alone"
	sc.MaxMsgsPerSubject = subscriptionsHistory
	sc.AllowRollup, sc.DenyDelete, sc.DenyPurge = true, true, false
	sc.AllowDirect = true
	sc.Compression = jetstream.NoCompression
	sc.Duplicates = 2 * time.Minute
	return sc
}

// Selections reports, per peer with a stored selection, what this
// process applies of it.
func (x *Exchange) Selections() map[string]selfservice.Applied {
	x.ss.mu.Lock()
	defer x.ss.mu.Unlock()
	out := make(map[string]selfservice.Applied, len(x.ss.applied))
	for k, v := range x.ss.applied {
		out[k] = v
	}
	return out
}
