package exchange

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cofswitch/cofswitch/config"
	"github.com/cofswitch/cofswitch/policy"
	"github.com/cofswitch/cofswitch/routing"
)

// streamConfig is the base configuration of every stream of the exchange:
// file storage, the configured replicas and duplicate window, S2 at rest.
func streamConfig(streams config.Streams, name string, subjects []string, l config.StreamLimits) jetstream.StreamConfig {
	sc := jetstream.StreamConfig{
		Name:        name,
		Subjects:    subjects,
		Storage:     jetstream.FileStorage,
		Replicas:    streams.Replicas,
		Duplicates:  time.Duration(streams.DuplicateWindow),
		Compression: jetstream.S2Compression,
		MaxAge:      time.Duration(l.MaxAge),
		MaxBytes:    int64(l.MaxBytes),
		// -1, not 0, for no limit: the server stores -1, and a 0 here
		// would differ from it at every start (and update every stream).
		MaxMsgs:           -1,
		MaxMsgsPerSubject: -1,
		Discard:           jetstream.DiscardOld,
		// Nothing a client sends may delete or roll up what is stored.
		DenyDelete: true,
		DenyPurge:  true,
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

// InputStreamConfig is a sensor's own input stream: a work queue holding
// only its subject, so that a message id or an expected-sequence header it
// sends is judged against its own input alone, and its limits (max_bytes:
// its quota of stored bytes) refuse it alone when it is full.
func InputStreamConfig(streams config.Streams, s config.Sensor) jetstream.StreamConfig {
	sc := streamConfig(streams, routing.InStream(s.ID), []string{routing.InSubject(s.ID)}, s.Stream)
	// Sensor batches are compressed by the sensors as a rule and live only
	// until switched: not compressed again at rest.
	sc.Compression = jetstream.NoCompression
	sc.Description = "cofswitch input of sensor " + s.ID + ": batches removed once switched"
	sc.Retention = jetstream.WorkQueuePolicy
	return sc
}

// StreamConfigs returns the configurations of every stream of the exchange:
// one COF_IN_<sensor> per sensor, COF_DLQ, COF_HOLD, COF_ARCHIVE when
// configured, and one PEER_<peer> per peer.
// outputEncoding is the switch's (config.Switch): outputs it compresses
// are not compressed again at rest, since the server recompresses each
// full block, which costs CPU and a rewrite for nothing.
func StreamConfigs(streams config.Streams, sensors []config.Sensor, peers []config.Peer, outputEncoding string) []jetstream.StreamConfig {
	out := make([]jetstream.StreamConfig, 0, len(sensors)+len(peers)+1)
	for _, s := range sensors {
		out = append(out, InputStreamConfig(streams, s))
	}
	dlq := streamConfig(streams, routing.DLQStream, []string{routing.DLQPrefix + ">"}, streams.DLQ)
	dlq.Description = "cofswitch dead letters: rejected input with the reason, a share per sensor"
	// The operator purges dead letters (cofswitch dlq purge); only the
	// exchange's account reaches the stream's API, and no header can
	// delete (rollups and TTLs stay off).
	dlq.DenyPurge, dlq.DenyDelete = false, false
	dlq.MaxConsumers = dlqMaxConsumers(len(sensors))
	out = append(out, dlq)
	hold := streamConfig(streams, routing.HoldStream, []string{routing.HoldPrefix + ">", routing.ParkPrefix + "*"}, streams.Hold)
	hold.Description = "cofswitch outputs held until their coarsen_time bucket ends, or parked while a peer's stream is down; the operator's alone"
	// The switch purges what it released; no peer or sensor has rights here.
	hold.DenyPurge = false
	if e := outputEncoding; e == "s2" || e == "zstd" {
		hold.Compression = jetstream.NoCompression // compressed by the switch
	}
	out = append(out, hold)
	if streams.ArchiveOn() {
		out = append(out, ArchiveStreamConfig(streams))
	}
	for _, p := range peers {
		out = append(out, PeerStreamConfig(streams, p, outputEncoding))
	}
	return out
}

// AllStreamConfigs is every stream the exchange of c has: StreamConfigs,
// the bucket of the peers' own subscriptions and, when a policy has a
// threshold, the bucket COF_SEEN.
func AllStreamConfigs(c *config.Config) []jetstream.StreamConfig {
	scs := StreamConfigs(c.Streams, c.Sensors, c.Peers, c.Switch.OutputEncoding)
	scs = append(scs, SubscriptionsBucketConfig(c.Streams))
	if sc, ok := SeenBucketConfig(c); ok {
		scs = append(scs, sc)
	}
	return scs
}

// SeenBucketConfig is the stream of the key-value bucket COF_SEEN, made
// when a policy has a k-sensor threshold: one message per rrset (the
// bucket's conventions: $KV subjects, one per key, rollups, direct gets),
// kept for the longest window after its last write, and evicting the
// least recently written rrsets at its limits rather than refusing new
// ones (which would stall every input).
func SeenBucketConfig(c *config.Config) (jetstream.StreamConfig, bool) {
	var window time.Duration
	for _, s := range c.Policies {
		if s == nil || s.Threshold == nil {
			continue
		}
		w := policy.DefaultThresholdWindow
		if s.Threshold.Window != "" {
			if d, err := config.ParseDuration(s.Threshold.Window); err == nil {
				w = d
			}
		}
		window = max(window, w)
	}
	if window == 0 {
		return jetstream.StreamConfig{}, false
	}
	sc := streamConfig(c.Streams, "KV_"+routing.SeenBucket, []string{"$KV." + routing.SeenBucket + ".>"}, c.Streams.Seen)
	sc.Description = "cofswitch k-sensor threshold: per rrset (keyed hash), who saw it and what is held for each peer; the operator's alone"
	sc.MaxAge = window
	sc.MaxMsgsPerSubject = 1
	sc.AllowRollup, sc.DenyDelete, sc.DenyPurge = true, true, false
	sc.AllowDirect = true
	sc.Duplicates = min(2*time.Minute, window)
	return sc, true
}

// PeerStreamConfig is a peer's stream PEER_<peer>.
func PeerStreamConfig(streams config.Streams, p config.Peer, outputEncoding string) jetstream.StreamConfig {
	sc := streamConfig(streams, routing.PeerStream(p.ID), []string{routing.OutSubject(p.ID)}, p.Stream)
	sc.Description = "cofswitch deliveries to peer " + p.ID
	// Direct get lets the peer read its own stream without a consumer
	// (cofswitch tail); its account imports that and the stream's info
	// for this stream alone (see package accounts).
	sc.AllowDirect = true
	if e := outputEncoding; e == "s2" || e == "zstd" {
		sc.Compression = jetstream.NoCompression
	}
	return sc
}

// RepairPeer recreates a peer's stream and consumers from c, when the
// stream went missing under the running exchange.
func RepairPeer(ctx context.Context, js jetstream.JetStream, c *config.Config, peer string) error {
	for _, p := range c.Peers {
		if p.ID != peer {
			continue
		}
		if _, err := js.CreateOrUpdateStream(ctx, PeerStreamConfig(c.Streams, p, c.Switch.OutputEncoding)); err != nil {
			return fmt.Errorf("exchange: stream of peer %q: %w", peer, err)
		}
		var ccs []jetstream.ConsumerConfig
		for _, name := range p.Consumers {
			ccs = append(ccs, PeerConsumerConfig(name))
		}
		return ensureConsumers(ctx, js, routing.PeerStream(p.ID), ccs)
	}
	return fmt.Errorf("exchange: peer %q is not in the configuration", peer)
}

// EnsureStreams creates the exchange's streams and consumers, or updates
// existing ones to the configured limits; what already matches is left
// alone, so that a reload with a thousand sensors costs a listing, not a
// thousand updates. It is safe to run at every start, by several switch
// processes at once. Streams of removed sensors and peers are kept: their
// data is not the switch's to delete.
func EnsureStreams(ctx context.Context, js jetstream.JetStream, c *config.Config) error {
	var have map[string]jetstream.StreamConfig
	if err := retrying(ctx, func(ctx context.Context) error {
		have = map[string]jetstream.StreamConfig{}
		streams := js.ListStreams(ctx)
		for info := range streams.Info() {
			have[info.Config.Name] = info.Config
		}
		return listErr(streams.Err())
	}); err != nil {
		return fmt.Errorf("exchange: listing streams: %w", err)
	}
	for _, sc := range AllStreamConfigs(c) {
		if err := ensureStream(ctx, js, sc, have); err != nil {
			return fmt.Errorf("exchange: stream %s: %w", sc.Name, err)
		}
	}
	if c.Streams.ArchiveOn() {
		if err := ensureBackfillBucket(ctx, js, c.Streams); err != nil {
			return err
		}
	}
	var dlq []jetstream.ConsumerConfig
	for _, s := range c.Sensors {
		// A sensor reads its dead letters as itself: with an nkey user,
		// or in operator mode, where every sensor has an account.
		if s.NKey != "" || c.NATS.Auth == config.AuthJWT {
			dlq = append(dlq, SensorDLQConsumerConfig(s.ID), SensorDLQViewConfig(s.ID))
		}
	}
	if err := ensureConsumers(ctx, js, routing.DLQStream, dlq); err != nil {
		return err
	}
	for _, p := range c.Peers {
		var ccs []jetstream.ConsumerConfig
		for _, name := range p.Consumers {
			ccs = append(ccs, PeerConsumerConfig(name))
		}
		if err := ensureConsumers(ctx, js, routing.PeerStream(p.ID), ccs); err != nil {
			return err
		}
	}
	return nil
}

// ensureStream creates the stream sc or updates it to sc, unless it
// matches already. A stream missing from the listing is asked for by
// name: a cluster catching up after a node's restart may list a stream
// without its configuration, and an update it does not need could then
// be refused for want of the offline node.
func ensureStream(ctx context.Context, js jetstream.JetStream, sc jetstream.StreamConfig, have map[string]jetstream.StreamConfig) error {
	old, ok := have[sc.Name]
	if !ok {
		err := retrying(ctx, func(ctx context.Context) error {
			st, err := js.Stream(ctx, sc.Name)
			if err == nil {
				old, ok = st.CachedInfo().Config, true
			}
			return err
		})
		if err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
			return err
		}
	}
	if ok {
		keepDenials(&sc, old)
		if sameStream(old, sc) {
			return nil
		}
	}
	return retrying(ctx, func(ctx context.Context) error {
		_, err := js.CreateOrUpdateStream(ctx, sc)
		return err
	})
}

// ensureConsumers creates or updates the durable consumers ccs on stream,
// leaving those that match alone.
func ensureConsumers(ctx context.Context, js jetstream.JetStream, stream string, ccs []jetstream.ConsumerConfig) error {
	if len(ccs) == 0 {
		return nil
	}
	var st jetstream.Stream
	if err := retrying(ctx, func(ctx context.Context) (err error) {
		st, err = js.Stream(ctx, stream)
		return err
	}); err != nil {
		return fmt.Errorf("exchange: stream %s: %w", stream, err)
	}
	var have map[string]jetstream.ConsumerConfig
	if err := retrying(ctx, func(ctx context.Context) error {
		have = map[string]jetstream.ConsumerConfig{}
		list := st.ListConsumers(ctx)
		for info := range list.Info() {
			have[info.Name] = info.Config
		}
		return listErr(list.Err())
	}); err != nil {
		return fmt.Errorf("exchange: listing the consumers of %s: %w", stream, err)
	}
	for _, cc := range ccs {
		if old, ok := have[cc.Durable]; ok && sameConsumer(old, cc) {
			continue
		}
		if err := retrying(ctx, func(ctx context.Context) error {
			_, err := st.CreateOrUpdateConsumer(ctx, cc)
			return err
		}); err != nil {
			return fmt.Errorf("exchange: consumer %s on %s: %w", cc.Durable, stream, err)
		}
	}
	return nil
}

// apiTimeout bounds one JetStream API request of the provisioning: a
// request that a recovering cluster drops (a node restarting, a stream or
// consumer leader being elected) is asked again, rather than waited for
// until the whole setup times out.
const apiTimeout = 5 * time.Second

// retrying runs an API request until it succeeds, fails for good, or ctx
// ends, each attempt bounded by apiTimeout.
func retrying(ctx context.Context, req func(context.Context) error) error {
	for wait := 100 * time.Millisecond; ; wait = min(2*wait, 2*time.Second) {
		rctx, cancel := context.WithTimeout(ctx, apiTimeout)
		err := req(rctx)
		cancel()
		if err == nil || !transient(err) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
	}
}

// listErr is the error of a listing that ended: none at its end.
func listErr(err error) error {
	if errors.Is(err, jetstream.ErrEndOfData) {
		return nil
	}
	return err
}

// errCodeUnavailable is the server's "JetStream system temporarily
// unavailable" (other 503s, such as a full stream's, are not temporary).
const errCodeUnavailable jetstream.ErrorCode = 10008

// errCodeNoPeers is the server's "no suitable peers for placement": with
// a node offline, until it is back.
const errCodeNoPeers jetstream.ErrorCode = 10005

// transient reports an error that a cluster electing leaders or catching
// up answers with (or no answer at all), which the same request may not
// get a moment later.
func transient(err error) bool {
	var api *jetstream.APIError
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) ||
		errors.Is(err, nats.ErrNoResponders) || errors.Is(err, jetstream.ErrNoStreamResponse) ||
		errors.As(err, &api) && (api.ErrorCode == errCodeUnavailable || api.ErrorCode == errCodeNoPeers)
}

// keepDenials keeps the deny_purge and deny_delete of a stream that has
// them: the server never lifts them (a COF_DLQ made before 'dlq purge'
// keeps refusing purges; 'dlq purge' says so).
func keepDenials(want *jetstream.StreamConfig, have jetstream.StreamConfig) {
	want.DenyPurge = want.DenyPurge || have.DenyPurge
	want.DenyDelete = want.DenyDelete || have.DenyDelete
}

// sameStream reports whether a stream as the server holds it already has
// every setting the exchange gives it (the server fills in others).
// dlqMaxConsumers is COF_DLQ's limit of consumers: two a sensor (its
// dead letters' consumer and its view) and room for the operator's tools.
// nats-server caps a stream that sets no limit at 1,000 consumers, which
// would stop an exchange of 492 sensors; below that the stream sets none.
func dlqMaxConsumers(sensors int) int {
	if n := 2*sensors + 16; n > 1000 {
		return n
	}
	return 0
}

// sameMaxConsumers compares consumer limits, the server's default (which
// reads -1) and none asked (0) being the same.
func sameMaxConsumers(have, want int) bool {
	return have == want || (have <= 0 && want <= 0)
}

func sameStream(have, want jetstream.StreamConfig) bool {
	return slices.Equal(have.Subjects, want.Subjects) && have.Retention == want.Retention &&
		have.MaxAge == want.MaxAge && have.MaxBytes == want.MaxBytes && have.MaxMsgs == want.MaxMsgs &&
		have.MaxMsgsPerSubject == want.MaxMsgsPerSubject && have.Discard == want.Discard &&
		have.DiscardNewPerSubject == want.DiscardNewPerSubject && have.Duplicates == want.Duplicates &&
		have.Compression == want.Compression && have.Replicas == want.Replicas &&
		have.Description == want.Description && have.DenyDelete == want.DenyDelete &&
		have.DenyPurge == want.DenyPurge && have.AllowDirect == want.AllowDirect &&
		have.Storage == want.Storage && sameMaxConsumers(have.MaxConsumers, want.MaxConsumers)
}

func sameConsumer(have, want jetstream.ConsumerConfig) bool {
	return have.Description == want.Description && have.AckPolicy == want.AckPolicy &&
		have.AckWait == want.AckWait && have.MaxAckPending == want.MaxAckPending &&
		have.FilterSubject == want.FilterSubject && have.MaxWaiting == want.MaxWaiting &&
		have.MaxRequestBatch == want.MaxRequestBatch && have.MaxRequestExpires == want.MaxRequestExpires &&
		have.MaxRequestMaxBytes == want.MaxRequestMaxBytes
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

// SensorDLQConsumerConfig is the durable consumer through which a sensor
// reads its own dead letters, filtered to its subject of COF_DLQ.
func SensorDLQConsumerConfig(sensorID string) jetstream.ConsumerConfig {
	cc := PeerConsumerConfig(routing.DLQConsumer(sensorID))
	cc.Description = "cofswitch: the dead letters of sensor " + sensorID
	cc.FilterSubject = routing.DLQSubject(sensorID)
	cc.MaxAckPending = 100
	cc.MaxWaiting = 4
	return cc
}

// SensorDLQViewConfig is the durable consumer through which a sensor lists
// its own dead letters ('cofswitch dlq' with its seed): filtered to its
// subject of COF_DLQ like SensorDLQConsumerConfig, but acking nothing, so
// that listing takes nothing from 'dead-letters'; the sensor rewinds it
// (the consumer reset API, the one grant beyond fetch and info) to list
// again or to show one sequence.
func SensorDLQViewConfig(sensorID string) jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{
		Durable:            routing.DLQViewConsumer(sensorID),
		Description:        "cofswitch: the dead letters of sensor " + sensorID + ", to list",
		AckPolicy:          jetstream.AckNonePolicy,
		DeliverPolicy:      jetstream.DeliverAllPolicy,
		FilterSubject:      routing.DLQSubject(sensorID),
		MaxAckPending:      -1,
		MaxWaiting:         4,
		MaxRequestBatch:    1000,
		MaxRequestExpires:  time.Minute,
		MaxRequestMaxBytes: 64 << 20,
	}
}
