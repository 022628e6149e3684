package backfill

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/cofswitch/cofswitch/routing"
)

// span is an inclusive range of archive sequences.
type span struct{ Lo, Hi uint64 }

// State is one peer's progress, as kept in the bucket COF_BACKFILL under
// its key: the archive sequences already dealt with (delivered, or with
// nothing for the peer), in the archive made at Epoch. A recreated
// archive restarts its sequences, and so its progress.
type State struct {
	Epoch   string    `json:"epoch"`
	Done    []span    `json:"done"`
	Records int64     `json:"records"` // delivered in all runs
	Updated time.Time `json:"updated"`
	// Open is the run under way, or cut short; nil once one finished.
	Open *Open `json:"open,omitempty"`
}

// Open is a run that has not finished: what it set out to do, so that
// serve can take up its own backfills after a restart.
type Open struct {
	From  time.Time `json:"from"`  // archived since then (zero: all)
	Until uint64    `json:"until"` // to this archive sequence
	By    string    `json:"by"`    // Options.By
}

// covers reports whether seq was dealt with.
func (s *State) covers(seq uint64) bool {
	_, found := slices.BinarySearchFunc(s.Done, seq, func(sp span, seq uint64) int {
		switch {
		case sp.Hi < seq:
			return -1
		case sp.Lo > seq:
			return 1
		}
		return 0
	})
	return found
}

// add marks lo..hi dealt with, merging touching spans.
func (s *State) add(lo, hi uint64) {
	s.Done = append(s.Done, span{lo, hi})
	slices.SortFunc(s.Done, func(a, b span) int {
		switch {
		case a.Lo < b.Lo:
			return -1
		case a.Lo > b.Lo:
			return 1
		}
		return 0
	})
	out := s.Done[:1]
	for _, sp := range s.Done[1:] {
		last := &out[len(out)-1]
		if sp.Lo <= last.Hi+1 {
			last.Hi = max(last.Hi, sp.Hi)
			continue
		}
		out = append(out, sp)
	}
	s.Done = out
}

// progress keeps a peer's State in the bucket, with the revision it read,
// so that two backfills of one peer at once cannot both write it.
type progress struct {
	kv    jetstream.KeyValue
	key   string
	rev   uint64
	state State
}

// loadProgress reads the peer's state; a state of another archive epoch
// is started afresh.
func loadProgress(ctx context.Context, kv jetstream.KeyValue, peer, epoch string) (*progress, error) {
	p := &progress{kv: kv, key: routing.BackfillKey(peer)}
	e, err := kv.Get(ctx, p.key)
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
	case err != nil:
		return nil, fmt.Errorf("backfill: reading the progress of peer %q: %w", peer, err)
	default:
		p.rev = e.Revision()
		if err := json.Unmarshal(e.Value(), &p.state); err != nil {
			return nil, fmt.Errorf("backfill: the progress of peer %q: %w", peer, err)
		}
	}
	if p.state.Epoch != epoch {
		p.state = State{Epoch: epoch}
	}
	return p, nil
}

// save writes the state, failing with ErrBusy when another process
// wrote it since it was read.
func (p *progress) save(ctx context.Context, now time.Time) error {
	p.state.Updated = now
	b, err := json.Marshal(p.state)
	if err != nil {
		return err
	}
	var rev uint64
	if p.rev == 0 {
		rev, err = p.kv.Create(ctx, p.key, b)
	} else {
		rev, err = p.kv.Update(ctx, p.key, b, p.rev)
	}
	if errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
		return fmt.Errorf("%w (peer key %s)", ErrBusy, p.key)
	}
	if err != nil {
		return fmt.Errorf("backfill: saving progress: %w", err)
	}
	p.rev = rev
	return nil
}

// ReadState returns the saved progress of peer, or a zero State.
func ReadState(ctx context.Context, js jetstream.JetStream, peer string) (State, error) {
	kv, err := js.KeyValue(ctx, routing.BackfillBucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return State{}, ErrNoArchive
	}
	if err != nil {
		return State{}, err
	}
	e, err := kv.Get(ctx, routing.BackfillKey(peer))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return State{}, nil
	}
	if err != nil {
		return State{}, err
	}
	var s State
	return s, json.Unmarshal(e.Value(), &s)
}
