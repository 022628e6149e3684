package exchange

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/cofswitch/cofswitch/config"
	"github.com/cofswitch/cofswitch/routing"
	"github.com/cofswitch/cofswitch/switch/selfservice"
)

// Status is what an operator asks of a running exchange: is every sensor
// feeding, does every peer keep up, what waits and what was rejected. It is
// read from the streams and consumers alone, so it works against any
// exchange the caller may read (the switch's identity).
type Status struct {
	Sensors []SensorStatus `json:"sensors"`
	Peers   []PeerStatus   `json:"peers"`
	// Held and Parked are the messages waiting in COF_HOLD: coarsened
	// outputs until their bucket ends, outputs of peers whose stream is
	// down.
	Held   uint64 `json:"held_messages"`
	Parked uint64 `json:"parked_messages"`
}

// SensorStatus is one sensor's input.
type SensorStatus struct {
	ID string `json:"id"`
	// Backlog is what waits in its input stream to be switched.
	BacklogMessages uint64 `json:"backlog_messages"`
	BacklogBytes    uint64 `json:"backlog_bytes"`
	// LastInput is when its last batch was stored (zero: none kept); a
	// work queue drops what was switched, so an idle sensor shows its
	// stream's last time.
	LastInput   time.Time `json:"last_input,omitzero"`
	DeadLetters uint64    `json:"dead_letters"`
	Err         string    `json:"error,omitempty"`
}

// PeerStatus is one peer's stream and consumers.
type PeerStatus struct {
	ID           string           `json:"id"`
	Messages     uint64           `json:"messages"`
	Bytes        uint64           `json:"bytes"`
	LastDelivery time.Time        `json:"last_delivery,omitzero"`
	Consumers    []ConsumerStatus `json:"consumers"`
	// Source says whose subscriptions are in force: "file" (the
	// operator's) or "self-service" (the peer's own, at SelfVersion, the
	// revision of its selection in COF_SUBSCRIPTIONS).
	Source      string `json:"subscriptions_source"`
	SelfVersion uint64 `json:"subscriptions_version,omitempty"`
	Err         string `json:"error,omitempty"`
}

// ConsumerStatus is how far a peer's consumer is behind.
type ConsumerStatus struct {
	Name       string `json:"name"`
	Pending    uint64 `json:"pending"`     // stored, not yet delivered
	AckPending int    `json:"ack_pending"` // delivered, not yet acked
}

// ReadStatus gathers the Status of the exchange cfg describes.
func ReadStatus(ctx context.Context, js jetstream.JetStream, cfg *config.Config) (*Status, error) {
	st := &Status{}
	dlq := map[string]uint64{}
	if s, err := js.Stream(ctx, routing.DLQStream); err == nil {
		if info, err := s.Info(ctx, jetstream.WithSubjectFilter(routing.DLQPrefix+">")); err == nil {
			for subj, n := range info.State.Subjects {
				dlq[subj] = n
			}
		}
	}
	if s, err := js.Stream(ctx, routing.HoldStream); err == nil {
		if info, err := s.Info(ctx, jetstream.WithSubjectFilter("cof.>")); err == nil {
			for subj, n := range info.State.Subjects {
				if _, err := routing.ParkedPeer(subj); err == nil {
					st.Parked += n
				} else {
					st.Held += n
				}
			}
		}
	}
	for _, s := range cfg.Sensors {
		ss := SensorStatus{ID: s.ID, DeadLetters: dlq[routing.DLQSubject(s.ID)]}
		if info, err := streamInfo(ctx, js, routing.InStream(s.ID)); err != nil {
			ss.Err = err.Error()
		} else {
			ss.BacklogMessages, ss.BacklogBytes, ss.LastInput = info.State.Msgs, info.State.Bytes, info.State.LastTime
		}
		st.Sensors = append(st.Sensors, ss)
	}
	_, applied, selfErr := EffectiveConfig(ctx, js, cfg)
	for _, p := range cfg.Peers {
		ps := PeerStatus{ID: p.ID, Source: selfservice.SourceFile}
		if a, ok := applied[p.ID]; ok && a.Ignored == "" {
			ps.Source, ps.SelfVersion = selfservice.SourceSelf, a.Version
		}
		if selfErr != nil {
			ps.Source = "unknown"
		}
		info, err := streamInfo(ctx, js, routing.PeerStream(p.ID))
		if err != nil {
			ps.Err = err.Error()
			st.Peers = append(st.Peers, ps)
			continue
		}
		ps.Messages, ps.Bytes, ps.LastDelivery = info.State.Msgs, info.State.Bytes, info.State.LastTime
		for _, name := range p.Consumers {
			c, err := js.Consumer(ctx, routing.PeerStream(p.ID), name)
			if err != nil {
				ps.Err = fmt.Sprintf("consumer %s: %v", name, err)
				continue
			}
			ci, err := c.Info(ctx)
			if err != nil {
				ps.Err = fmt.Sprintf("consumer %s: %v", name, err)
				continue
			}
			ps.Consumers = append(ps.Consumers, ConsumerStatus{Name: name, Pending: ci.NumPending, AckPending: ci.NumAckPending})
		}
		st.Peers = append(st.Peers, ps)
	}
	return st, nil
}

// EffectiveConfig is the configuration the switch runs for the file's
// cfg: with the peers' own subscriptions stored in COF_SUBSCRIPTIONS
// (see switch/selfservice.Effective), and what was applied per peer. A
// bucket that cannot be read gives cfg and the error.
func EffectiveConfig(ctx context.Context, js jetstream.JetStream, cfg *config.Config) (*config.Config, map[string]selfservice.Applied, error) {
	store, err := selfservice.OpenStore(ctx, js)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return cfg, nil, nil // an exchange from before self-service
	}
	if err != nil {
		return cfg, nil, err
	}
	stored, err := store.All(ctx)
	if err != nil {
		return cfg, nil, err
	}
	eff, applied := selfservice.Effective(cfg, stored)
	return eff, applied, nil
}

func streamInfo(ctx context.Context, js jetstream.JetStream, name string) (*jetstream.StreamInfo, error) {
	s, err := js.Stream(ctx, name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil, fmt.Errorf("stream %s is missing", name)
	}
	if err != nil {
		return nil, err
	}
	return s.Info(ctx)
}
