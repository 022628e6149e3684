package exchange

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/cofswitch/cofswitch/config"
	"github.com/cofswitch/cofswitch/routing"
)

// StreamConfigs returns the configurations of every stream of the exchange:
// COF_IN, COF_DLQ and one PEER_<peer> per peer. All use file storage, the
// configured replicas and duplicate window, and S2 compression at rest
// where the messages are not compressed already (outputEncoding is the
// switch's, see config.Switch).
func StreamConfigs(streams config.Streams, peers []config.Peer, outputEncoding string) []jetstream.StreamConfig {
	base := func(name string, subjects []string, l config.StreamLimits) jetstream.StreamConfig {
		sc := jetstream.StreamConfig{
			Name:        name,
			Subjects:    subjects,
			Storage:     jetstream.FileStorage,
			Replicas:    streams.Replicas,
			Duplicates:  time.Duration(streams.DuplicateWindow),
			Compression: jetstream.S2Compression,
			MaxAge:      time.Duration(l.MaxAge),
			MaxBytes:    int64(l.MaxBytes),
			MaxMsgs:     -1,
			Discard:     jetstream.DiscardOld,
		}
		if l.MaxMsgs > 0 {
			sc.MaxMsgs = l.MaxMsgs
		}
		if l.MaxMsgsPerSubject > 0 {
			sc.MaxMsgsPerSubject = l.MaxMsgsPerSubject
		}
		if sc.MaxBytes == 0 {
			sc.MaxBytes = -1
		}
		if l.Discard == "new" {
			sc.Discard = jetstream.DiscardNew
		}
		if sc.Duplicates > sc.MaxAge && sc.MaxAge > 0 {
			sc.Duplicates = sc.MaxAge
		}
		return sc
	}
	// Compress at rest only what is not compressed already: the server
	// recompresses each full block, which costs CPU and a rewrite for
	// nothing on zstd or S2 payloads. Sensor batches are compressed by the
	// sensors as a rule and live only until switched; outputs are
	// compressed by the switch unless output_encoding says otherwise.
	in := base(routing.InStream, []string{routing.InPrefix + ">"}, streams.In)
	in.Compression = jetstream.NoCompression
	in.Description = "cofswitch input: batches from sensors, removed once switched"
	in.Retention = jetstream.WorkQueuePolicy
	// A sensor at its own limit is refused alone; the others go on.
	in.DiscardNewPerSubject = in.Discard == jetstream.DiscardNew && in.MaxMsgsPerSubject > 0
	dlq := base(routing.DLQStream, []string{routing.DLQPrefix + ">"}, streams.DLQ)
	dlq.Description = "cofswitch dead letters: rejected input with the reason"
	out := []jetstream.StreamConfig{in, dlq}
	for _, p := range peers {
		sc := base(routing.PeerStream(p.ID), []string{routing.OutSubject(p.ID)}, p.Stream)
		sc.Description = "cofswitch deliveries to peer " + p.ID
		// Direct get lets the peer read its own stream without a consumer
		// (cofswitch tail); its account imports that and the stream's info
		// for this stream alone (see package accounts).
		sc.AllowDirect = true
		if e := outputEncoding; e == "s2" || e == "zstd" {
			sc.Compression = jetstream.NoCompression
		}
		out = append(out, sc)
	}
	return out
}

// EnsureStreams creates the exchange's streams, or updates existing ones
// to the configured limits. It is safe to run at every start, by several
// switch processes at once.
func EnsureStreams(ctx context.Context, js jetstream.JetStream, c *config.Config) error {
	for _, sc := range StreamConfigs(c.Streams, c.Peers, c.Switch.OutputEncoding) {
		if _, err := js.CreateOrUpdateStream(ctx, sc); err != nil {
			return fmt.Errorf("exchange: stream %s: %w", sc.Name, err)
		}
	}
	for _, p := range c.Peers {
		for _, name := range p.Consumers {
			if _, err := js.CreateOrUpdateConsumer(ctx, routing.PeerStream(p.ID), PeerConsumerConfig(name)); err != nil {
				return fmt.Errorf("exchange: consumer %s on %s: %w", name, routing.PeerStream(p.ID), err)
			}
		}
	}
	return nil
}

// PeerConsumerConfig is the durable pull consumer provisioned for a peer:
// the peer binds it and can create none of its own.
func PeerConsumerConfig(name string) jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{
		Durable:       name,
		Description:   "cofswitch: the peer's " + name + " consumer",
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       30 * time.Second,
		MaxAckPending: 1000,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		// A peer holds these consumers' API: bound what it can ask of the
		// server with them.
		MaxWaiting:         8,
		MaxRequestBatch:    1000,
		MaxRequestExpires:  time.Minute,
		MaxRequestMaxBytes: 64 << 20,
	}
}
