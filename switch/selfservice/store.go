package selfservice

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/cofswitch/cofswitch/routing"
)

// Errors of the Store.
var (
	// ErrConflict reports a conditional write whose expected version is
	// not the stored one.
	ErrConflict = errors.New("selfservice: version conflict")
	// ErrBucket reports a bucket that could not be read or written.
	ErrBucket = errors.New("selfservice: subscriptions bucket")
)

// Stored is one peer's selection as the bucket keeps it.
type Stored struct {
	Subscriptions []Subscription `json:"subscriptions"`
	// At is when the peer chose it.
	At time.Time `json:"at"`
	// Version counts the peer's own changes: 1 for its first choice, one
	// more for each set or clear since. It is the peer's alone (the key's
	// revision, kept internal for compare-and-set, counts every peer's
	// changes: a peer would see how often the others change theirs), and
	// a clear keeps the count, so that a version is never given twice.
	Version uint64 `json:"version,omitempty"`
	// Cleared marks the peer's clear: nothing is stored, and the file's
	// subscriptions apply; Version goes on counting.
	Cleared bool `json:"cleared,omitempty"`
	// Organisation is the peer's organisation when it chose: a choice
	// never follows its id to another organisation.
	Organisation string `json:"organisation,omitempty"`
	// Revision is the key's revision (not stored in the value): what a
	// delete is conditional on, since revisions never repeat.
	Revision uint64 `json:"-"`
}

// Store is the bucket of self-service selections, one key per peer (its
// id: peer ids hold only bytes that keys allow).
type Store struct {
	kv  jetstream.KeyValue
	now func() time.Time
}

// maxWriteTries bounds the reads and conditional writes of one change
// while other writers of the same peer win the race.
const maxWriteTries = 8

// OpenStore binds the bucket, which the exchange provisions
// (exchange.SubscriptionsBucketConfig).
func OpenStore(ctx context.Context, js jetstream.JetStream) (*Store, error) {
	kv, err := js.KeyValue(ctx, routing.SubscriptionsBucket)
	if err != nil {
		return nil, fmt.Errorf("%w %s: %w", ErrBucket, routing.SubscriptionsBucket, err)
	}
	return &Store{kv: kv, now: time.Now}, nil
}

// Get returns peer's stored selection; ok is false when none is stored.
func (s *Store) Get(ctx context.Context, peer string) (st Stored, ok bool, err error) {
	st, ok, _, err = s.read(ctx, peer)
	return st, ok, err
}

// read returns peer's value: the selection (ok false when none is stored
// or it was cleared; st.Version is then the last version given, 0 for
// none), and the key's revision (0: no value, the next write creates).
func (s *Store) read(ctx context.Context, peer string) (st Stored, ok bool, rev uint64, err error) {
	e, err := s.kv.Get(ctx, peer)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return Stored{}, false, 0, nil
	}
	if err != nil {
		return Stored{}, false, 0, fmt.Errorf("%w: peer %q: %w", ErrBucket, peer, err)
	}
	st, err = decode(e)
	if err != nil {
		return Stored{}, false, 0, fmt.Errorf("%w: peer %q: %w", ErrBucket, peer, err)
	}
	return st, !st.Cleared, e.Revision(), nil
}

// Set stores peer's selection, as organisation org's, and returns its
// version. With expect, it
// writes only if the version in force is *expect (0: none stored), else
// ErrConflict.
func (s *Store) Set(ctx context.Context, peer, org string, subs []Subscription, expect *uint64) (uint64, error) {
	var version uint64
	err := s.change(ctx, peer, expect, func(cur Stored, _ bool) *Stored {
		version = cur.Version + 1
		return &Stored{Subscriptions: subs, At: s.now().UTC(), Version: version, Organisation: org}
	})
	return version, err
}

// Clear removes peer's selection (the file's subscriptions apply again);
// with expect, only if the version in force is *expect, else ErrConflict.
// Clearing what is not stored is no error, unless expect says otherwise.
func (s *Store) Clear(ctx context.Context, peer string, expect *uint64) error {
	return s.change(ctx, peer, expect, func(cur Stored, ok bool) *Stored {
		if !ok {
			return nil
		}
		return &Stored{At: s.now().UTC(), Version: cur.Version + 1, Cleared: true, Organisation: cur.Organisation}
	})
}

// change writes what next makes of peer's value, conditional on the
// revision read (and, with expect, on the version in force), reading
// again while other writers win the race. next returning nil writes
// nothing.
func (s *Store) change(ctx context.Context, peer string, expect *uint64, next func(cur Stored, ok bool) *Stored) error {
	for range maxWriteTries {
		cur, ok, rev, err := s.read(ctx, peer)
		if err != nil {
			return err
		}
		if expect != nil && *expect != inForce(cur, ok) {
			return conflict(peer, cur, ok)
		}
		st := next(cur, ok)
		if st == nil {
			return nil
		}
		val, err := json.Marshal(st)
		if err != nil {
			return err
		}
		if rev == 0 {
			_, err = s.kv.Create(ctx, peer, val)
		} else {
			_, err = s.kv.Update(ctx, peer, val, rev)
		}
		if err = s.writeErr(peer, err); !errors.Is(err, ErrConflict) {
			return err
		}
		// Another process wrote this peer's key since the read: the
		// expectation, if any, is checked again against what it wrote.
	}
	return fmt.Errorf("%w: peer %q: %d writers in a row won the race", ErrConflict, peer, maxWriteTries)
}

// Forget deletes peer's value, chosen or cleared, if the key is still at
// revision rev (Stored.Revision): a peer that left the file starts afresh
// if it comes back, its versions from 1. Versions would not do: they
// start from 1 again after a delete, so a late Forget could delete the
// new choice of a peer come back.
func (s *Store) Forget(ctx context.Context, peer string, rev uint64) error {
	cur, ok, crev, err := s.read(ctx, peer)
	switch {
	case err != nil:
		return err
	case crev == 0:
		return nil
	case crev != rev:
		return conflict(peer, cur, ok)
	}
	return s.writeErr(peer, s.kv.Delete(ctx, peer, jetstream.LastRevision(rev)))
}

// Stamp records org as the organisation of peer's value if it names none
// (written before choices recorded theirs) and the key is still at
// revision rev, so that the choice does not follow its id to another
// organisation later. It returns the value as it then stands (present
// false: none).
func (s *Store) Stamp(ctx context.Context, peer string, rev uint64, org string) (st Stored, present bool, err error) {
	cur, _, crev, err := s.read(ctx, peer)
	if err != nil || crev == 0 {
		return Stored{}, false, err
	}
	if crev != rev || cur.Organisation != "" {
		return cur, true, nil // changed meanwhile: what stands
	}
	cur.Organisation = org
	val, err := json.Marshal(cur) // its version, the old revision, written out
	if err != nil {
		return Stored{}, false, err
	}
	nrev, err := s.kv.Update(ctx, peer, val, rev)
	if err = s.writeErr(peer, err); errors.Is(err, ErrConflict) {
		cur, _, crev, err = s.read(ctx, peer)
		return cur, crev != 0, err
	} else if err != nil {
		return Stored{}, false, err
	}
	cur.Revision = nrev
	return cur, true, nil
}

// inForce is the version a peer's expectation compares with: 0 when
// nothing is stored.
func inForce(cur Stored, ok bool) uint64 {
	if !ok {
		return 0
	}
	return cur.Version
}

// writeErr names a failed write: a conflict, or the bucket's error.
func (s *Store) writeErr(peer string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, jetstream.ErrKeyExists), errors.Is(err, jetstream.ErrKeyRevisionMismatch), isWrongLastSeq(err):
		return fmt.Errorf("%w: peer %q: %w", ErrConflict, peer, err)
	}
	return fmt.Errorf("%w: peer %q: %w", ErrBucket, peer, err)
}

// conflict is ErrConflict with the version in force.
func conflict(peer string, cur Stored, ok bool) error {
	if !ok {
		return fmt.Errorf("%w: peer %q has no selection stored (version 0)", ErrConflict, peer)
	}
	return fmt.Errorf("%w: peer %q's selection is at version %d", ErrConflict, peer, cur.Version)
}

// isWrongLastSeq reports the server's "wrong last sequence" (a delete's
// revision check), which the client does not map to a KV error.
func isWrongLastSeq(err error) bool {
	var api *jetstream.APIError
	return errors.As(err, &api) && (api.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
		api.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant)
}

func decode(e jetstream.KeyValueEntry) (Stored, error) {
	var st Stored
	if err := json.Unmarshal(e.Value(), &st); err != nil {
		return Stored{}, fmt.Errorf("revision %d: %w", e.Revision(), err)
	}
	if st.Version == 0 {
		// Written before versions were the peer's own: its revision.
		st.Version = e.Revision()
	}
	st.Revision = e.Revision()
	return st, nil
}

// All returns every stored selection, by peer: one pass over the bucket,
// whatever the number of peers. A value that does not decode is left out.
func (s *Store) All(ctx context.Context) (map[string]Stored, error) {
	w, all, err := s.Watch(ctx, func(string, error) {})
	if err != nil {
		return nil, err
	}
	w.Stop()
	return all, nil
}

// Watcher follows the bucket; see Watch.
type Watcher struct {
	w    jetstream.KeyWatcher
	cur  map[string]Stored
	bad  func(peer string, err error)
	done chan struct{}
	once sync.Once
	// following is set by Follow, whose goroutine closes done.
	following atomic.Bool
}

// Watch reads every stored selection and returns them, waiting for them
// no longer than ctx allows; Follow then reports each change. A value
// that does not decode is left out, and reported through bad. The watch
// lasts until Stop, not ctx.
func (s *Store) Watch(ctx context.Context, bad func(peer string, err error)) (*Watcher, map[string]Stored, error) {
	kw, err := s.kv.WatchAll(context.WithoutCancel(ctx))
	if err != nil {
		return nil, nil, fmt.Errorf("%w: watch: %w", ErrBucket, err)
	}
	w := &Watcher{w: kw, cur: map[string]Stored{}, bad: bad, done: make(chan struct{})}
	for {
		select {
		case <-ctx.Done():
			_ = kw.Stop()
			return nil, nil, fmt.Errorf("%w: reading the stored selections: %w", ErrBucket, ctx.Err())
		case e, ok := <-kw.Updates():
			if !ok {
				return nil, nil, fmt.Errorf("%w: the watch ended", ErrBucket)
			}
			if e == nil { // the initial values are in
				return w, clone(w.cur), nil
			}
			w.apply(e)
		}
	}
}

// Follow calls changed with every stored selection after each change (a
// set or a clear), in order, from one goroutine, until Stop.
func (w *Watcher) Follow(changed func(map[string]Stored)) {
	w.following.Store(true)
	go func() {
		defer close(w.done)
		for e := range w.w.Updates() {
			if e == nil {
				continue
			}
			w.apply(e)
			// Changes that came meanwhile are applied together: a burst
			// of choices costs one swap of the registry, not one each.
			for more := true; more; {
				select {
				case e, ok := <-w.w.Updates():
					if ok && e != nil {
						w.apply(e)
					}
					more = ok
				default:
					more = false
				}
			}
			changed(clone(w.cur))
		}
	}()
}

func (w *Watcher) apply(e jetstream.KeyValueEntry) {
	if e.Operation() != jetstream.KeyValuePut {
		delete(w.cur, e.Key())
		return
	}
	st, err := decode(e)
	if err != nil {
		w.bad(e.Key(), err)
		delete(w.cur, e.Key())
		return
	}
	w.cur[e.Key()] = st // cleared ones too: Effective forgets them when their peer leaves
}

// Stop ends the watch and, if following, waits for the last call of
// changed to return.
func (w *Watcher) Stop() {
	w.once.Do(func() { _ = w.w.Stop() })
	if w.following.Load() {
		<-w.done
	}
}

func clone(m map[string]Stored) map[string]Stored {
	out := make(map[string]Stored, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
