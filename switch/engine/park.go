package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cofswitch/cofswitch/routing"
)

// headerPeerMsgID carries, on a parked output, the message id it gets on
// the peer's stream: the same as a direct delivery would have had, so that
// an output stored before its ack was lost is deduplicated.
const headerPeerMsgID = "Cofswitch-Peer-Msg-Id"

// Parking keeps one peer's trouble from holding up the others. When a
// peer's stream cannot take an output for a reason that may pass (missing,
// unavailable, a timeout), the output is parked in COF_HOLD on
// cof.park.<peer> and the input is acked once its other outputs are
// stored: the healthy peers go on at their own pace. While a peer is down,
// its outputs go to the park at once, so no batch waits for a timeout on
// its account. The releaser delivers what is parked, in order, when the
// peer's stream takes it again (recreating a missing stream through the
// repair function), and then lifts the peer's down mark.
type parking struct {
	mu       sync.Mutex
	down     map[string]time.Time // peer -> when it went down
	repaired map[string]time.Time // peer -> last repair attempt
}

func newParking() *parking {
	return &parking{down: map[string]time.Time{}, repaired: map[string]time.Time{}}
}

func (p *parking) isDown(peer string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	_, ok := p.down[peer]
	return ok
}

func (p *parking) markDown(peer string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.down[peer]; ok {
		return false
	}
	p.down[peer] = time.Now()
	return true
}

func (p *parking) markUp(peer string) (since time.Time, was bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	since, was = p.down[peer]
	delete(p.down, peer)
	return since, was
}

// mayRepair rate-limits repairs of a peer's stream to one per interval.
func (p *parking) mayRepair(peer string, every time.Duration) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if time.Since(p.repaired[peer]) < every {
		return false
	}
	p.repaired[peer] = time.Now()
	return true
}

// parkMsg is the parked copy of an output meant for peer: same body and
// headers, its peer message id kept aside.
func parkMsg(peer string, m *nats.Msg) *nats.Msg {
	pm := nats.NewMsg(routing.ParkSubject(peer))
	pm.Data = m.Data
	for k, v := range m.Header {
		pm.Header[k] = append([]string(nil), v...)
	}
	id := m.Header.Get(jetstream.MsgIDHeader)
	pm.Header.Set(headerPeerMsgID, id)
	pm.Header.Set(jetstream.MsgIDHeader, "park:"+id)
	return pm
}

// parkable reports whether a result is a direct output that failed for a
// reason that may pass.
func parkable(r pendingResult) bool {
	return r.p.peer != "" && r.reason != "" && !r.permanent && !r.p.parked && !r.p.toHold &&
		strings.HasPrefix(r.p.fut.Msg().Subject, routing.OutPrefix)
}

// park moves the outputs that failed for a passing reason to the park,
// marks their peers down, and waits for the park to store them. What it
// stored no longer counts as failed.
func (w *worker) park(ctx context.Context, o *outcome) {
	var idx []int
	var futs []jetstream.PubAckFuture
	for i, r := range o.results {
		if !parkable(r) {
			continue
		}
		if w.e.parking.markDown(r.p.peer) {
			w.e.log.Warn("peer stream unavailable: its outputs are parked until it takes them again", "peer", r.p.peer, "reason", r.reason)
		}
		fut, err := w.e.js.PublishMsgAsync(parkMsg(r.p.peer, r.p.fut.Msg()), jetstream.WithExpectStream(routing.HoldStream))
		if err != nil {
			continue
		}
		idx, futs = append(idx, i), append(futs, fut)
	}
	for k, fut := range futs {
		select {
		case <-fut.Ok():
		case <-fut.Err():
			continue
		case <-ctx.Done():
			continue
		}
		r := &o.results[idx[k]]
		r.reason, r.p.parked = "", true
	}
	o.transient = false
	for _, r := range o.results {
		if r.reason != "" && !r.permanent && r.p.peer != "" {
			o.transient = true
		}
	}
	for peer := range o.reasons {
		if peer != "" && !failedFor(o.results, peer) {
			delete(o.reasons, peer)
		}
	}
}

func failedFor(rs []pendingResult, peer string) bool {
	for _, r := range rs {
		if r.p.peer == peer && r.reason != "" {
			return true
		}
	}
	return false
}

// unpark delivers a peer's parked outputs in order, in fetches, purging
// each fetch from the park once the peer's stream has stored all of it.
// When the park is empty the peer's down mark is lifted.
func (r *releaser) unpark(ctx context.Context, s jetstream.Stream, subj, peer string) error {
	e := r.e
	if !r.peerKnown(peer) {
		return r.dropRemoved(ctx, s, subj, peer, "parked")
	}
	first, err := s.GetMsg(ctx, 1, jetstream.WithGetMsgSubject(subj))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		r.lifted(peer)
		return nil
	}
	if err != nil {
		return err
	}
	cons, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{subj}, DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: first.Sequence,
	})
	if err != nil {
		return err
	}
	for {
		info, err := cons.Info(ctx)
		if err != nil {
			return err
		}
		if info.NumPending == 0 {
			r.lifted(peer)
			return nil
		}
		// Ask for what is pending, no more: a fetch for more waits out its
		// whole wait before the deliveries start.
		batch, err := cons.Fetch(int(min(uint64(releaseFetch), info.NumPending)), jetstream.FetchMaxWait(2*time.Second))
		if err != nil {
			return err
		}
		var futs []jetstream.PubAckFuture
		var msgs []*nats.Msg
		var counts []int
		var last uint64
		for msg := range batch.Messages() {
			meta, err := msg.Metadata()
			if err != nil {
				return err
			}
			m := nats.NewMsg(routing.OutSubject(peer))
			m.Data = msg.Data()
			for k, v := range msg.Headers() {
				m.Header[k] = v
			}
			m.Header.Set(jetstream.MsgIDHeader, m.Header.Get(headerPeerMsgID))
			m.Header.Del(headerPeerMsgID)
			m.Header.Del("Nats-Expected-Stream")
			n, _ := strconv.Atoi(m.Header.Get(HeaderRecords))
			msgs, counts, last = append(msgs, m), append(counts, n), meta.Sequence.Stream
		}
		if err := batch.Error(); err != nil {
			return err
		}
		// Signed again: parked before the switch signed, or under a key
		// since replaced. In one call: one after the other, each would
		// wait out the group's linger.
		e.signOutputs(msgs...)
		for _, m := range msgs {
			fut, err := e.js.PublishMsgAsync(m, jetstream.WithExpectStream(routing.PeerStream(peer)), jetstream.WithRetryAttempts(0))
			if err != nil {
				return err
			}
			futs = append(futs, fut)
		}
		stored, dropped, err := r.awaitPeer(ctx, peer, futs, counts)
		if err != nil {
			return err
		}
		if last > 0 {
			if err := purgeBelow(ctx, s, subj, last+1); err != nil {
				return err
			}
			e.stats.addUnparked(peer, stored)
			for reason, n := range dropped {
				e.stats.addDropped(peer, reason, n)
				e.drops.add(peer, reason, "", uint64(n))
			}
		}
	}
}

// awaitPeer waits for the acks of a delivery to peer, counts records[i]
// of each stored output and, by reason, of each the peer's own limit
// refused for good (a full stream with discard new: dropped, as it would
// have been without the park). A failure that may pass ends it with an
// error, and a missing stream is repaired (at most every 5 s) for the next
// sweep.
func (r *releaser) awaitPeer(ctx context.Context, peer string, futs []jetstream.PubAckFuture, records []int) (stored int, dropped map[string]int, err error) {
	wait, cancel := context.WithTimeout(ctx, r.e.o.publishTimeout)
	defer cancel()
	for i, f := range futs {
		select {
		case <-f.Ok():
			stored += records[i]
		case err := <-f.Err():
			reason, permanent := classify(err)
			if permanent {
				if dropped == nil {
					dropped = map[string]int{}
				}
				dropped[reason] += records[i]
				continue
			}
			if reason == "no_stream" && r.e.o.repair != nil && r.e.parking.mayRepair(peer, 5*time.Second) {
				if rerr := r.e.o.repair(ctx, peer); rerr != nil {
					r.e.log.Warn("recreating a peer's stream failed", "peer", peer, "err", rerr)
				} else {
					r.e.log.Info("peer stream recreated", "peer", peer)
				}
			}
			return 0, nil, fmt.Errorf("delivering parked outputs to peer %q: %w", peer, err)
		case <-wait.Done():
			return 0, nil, fmt.Errorf("delivering parked outputs to peer %q: %w", peer, wait.Err())
		}
	}
	return stored, dropped, nil
}

// lifted ends a peer's down mark once its park is empty.
func (r *releaser) lifted(peer string) {
	if since, was := r.e.parking.markUp(peer); was {
		r.e.log.Info("peer stream takes outputs again; its parked outputs are delivered", "peer", peer, "down_for", time.Since(since).Round(time.Second))
	}
}

// liftIdle lifts the down mark of peers with nothing parked: their next
// output tries their stream again.
func (r *releaser) liftIdle(parked []due) {
	r.e.parking.mu.Lock()
	var idle []string
	for peer := range r.e.parking.down {
		if !slices.ContainsFunc(parked, func(d due) bool { return d.peer == peer }) {
			idle = append(idle, peer)
		}
	}
	r.e.parking.mu.Unlock()
	for _, peer := range idle {
		r.lifted(peer)
	}
}
