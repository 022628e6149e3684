package exchange

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cofswitch/cofswitch/routing"
)

// Evictions watches the peers' streams and consumers: how far each
// consumer is behind (pending, ack pending), and what a peer lost without
// anyone noticing: messages its
// stream evicted (discard old, max_age, max_msgs) before one of its
// consumers acked them. The switch counted them as delivered, since they
// were stored; the peer never read them. Every interval it compares each
// peer stream's first sequence with each consumer's ack floor, counts the
// newly evicted messages per peer and consumer, and warns.
type Evictions struct {
	x   *Exchange
	log *slog.Logger

	mu      sync.Mutex
	seen    map[[2]string]uint64    // peer, consumer -> last evicted-unread sequence counted
	evicted map[[2]string]uint64    // peer, consumer -> messages evicted unread
	lag     map[[2]string][2]uint64 // peer, consumer -> pending, ack pending at the last check
}

// NewEvictions returns the eviction watch of x.
func NewEvictions(x *Exchange) *Evictions {
	return &Evictions{x: x, log: x.log, seen: map[[2]string]uint64{}, evicted: map[[2]string]uint64{}, lag: map[[2]string][2]uint64{}}
}

// Run checks at once, then every interval until ctx ends.
func (ev *Evictions) Run(ctx context.Context, every time.Duration) {
	runEvery(ctx, every, ev.log, "eviction check", ev.Check)
}

// Check compares every peer stream with its consumers once.
func (ev *Evictions) Check(ctx context.Context) error {
	cfg := ev.x.cfg.Load()
	var errs []error
	for _, p := range cfg.Peers {
		s, err := ev.x.js.Stream(ctx, routing.PeerStream(p.ID))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		info, err := s.Info(ctx)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, name := range p.Consumers {
			c, err := s.Consumer(ctx, name)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			ci, err := c.Info(ctx)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			ev.note(p.ID, name, ci.AckFloor.Stream, info.State.FirstSeq)
			k := [2]string{p.ID, name}
			ev.mu.Lock()
			ev.lag[k] = [2]uint64{ci.NumPending, uint64(ci.NumAckPending)}
			// The counter starts at 0 for every consumer seen, so that
			// increase() in an alert sees the first eviction too.
			ev.evicted[k] += 0
			ev.mu.Unlock()
		}
	}
	return errors.Join(errs...)
}

// note counts the messages below first that the consumer had not acked.
func (ev *Evictions) note(peer, consumer string, ackFloor, first uint64) {
	if first == 0 || first-1 <= ackFloor {
		return
	}
	k := [2]string{peer, consumer}
	ev.mu.Lock()
	from := max(ackFloor, ev.seen[k])
	n := uint64(0)
	if first-1 > from {
		n = first - 1 - from
		ev.evicted[k] += n
		ev.seen[k] = first - 1
	}
	total := ev.evicted[k]
	ev.mu.Unlock()
	if n > 0 {
		ev.log.Warn("peer stream evicted messages its consumer had not read: they are lost to the peer", "peer", peer,
			"consumer", consumer, "messages", n, "total", total, "ack_floor", ackFloor, "first_seq", first)
	}
}

// Snapshot returns the messages evicted unread, by peer and consumer.
func (ev *Evictions) Snapshot() map[[2]string]uint64 {
	ev.mu.Lock()
	defer ev.mu.Unlock()
	out := make(map[[2]string]uint64, len(ev.evicted))
	for k, v := range ev.evicted {
		out[k] = v
	}
	return out
}

var (
	evictedDesc = prometheus.NewDesc("cofswitch_peer_evicted_unread_messages_total",
		"Messages a peer's stream evicted (limits, age) before the consumer acked them: lost to that peer.", []string{"peer", "consumer"}, nil)
	pendingDesc = prometheus.NewDesc("cofswitch_peer_consumer_pending_messages",
		"Messages in a peer's stream its consumer has not been delivered yet (at the last check, every 30 s): how far the peer is behind.", []string{"peer", "consumer"}, nil)
	ackPendingDesc = prometheus.NewDesc("cofswitch_peer_consumer_ack_pending_messages",
		"Messages delivered to a peer's consumer and not acked yet (at the last check).", []string{"peer", "consumer"}, nil)
)

// Describe sends the descriptors.
func (ev *Evictions) Describe(ch chan<- *prometheus.Desc) {
	ch <- evictedDesc
	ch <- pendingDesc
	ch <- ackPendingDesc
}

// Collect sends the counts and the consumers' lag.
func (ev *Evictions) Collect(ch chan<- prometheus.Metric) {
	for k, v := range ev.Snapshot() {
		ch <- prometheus.MustNewConstMetric(evictedDesc, prometheus.CounterValue, float64(v), k[0], k[1])
	}
	ev.mu.Lock()
	defer ev.mu.Unlock()
	for k, v := range ev.lag {
		ch <- prometheus.MustNewConstMetric(pendingDesc, prometheus.GaugeValue, float64(v[0]), k[0], k[1])
		ch <- prometheus.MustNewConstMetric(ackPendingDesc, prometheus.GaugeValue, float64(v[1]), k[0], k[1])
	}
}
