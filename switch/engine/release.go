package engine

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cofswitch/cofswitch/cof"
	"github.com/cofswitch/cofswitch/routing"
)

// headerMark marks the end of one release round on a hold subject.
const headerMark = "Cofswitch-Release-Mark"

// Limits of one release page: what is merged and delivered at once.
const (
	releasePageBytes   = 64 << 20 // decompressed
	releasePageRecords = 250_000
	releaseFetch       = 256
)

// releaser delivers held outputs once their bucket has ended. It works
// only with the hold stream, so that it is crash-safe and idempotent
// without state of its own, and several switch processes may run it at
// once:
//
//   - A round on a subject begins with a mark published with a message id
//     naming the subject's first sequence: every process, and a process
//     after a crash, finds the same mark and so the same messages before
//     it. Outputs held after the mark wait for the next round.
//   - The messages before the mark are read in pages; each page's records
//     are merged (identical rrsets: counts summed, times min/max), sorted
//     and cut into chunks whose ids name the subject, the page's first and
//     last sequence and the chunk, so that a page delivered twice is
//     deduplicated by the peer's stream.
//   - Only when every chunk of a page is stored is the page purged from the
//     hold stream. A failed delivery leaves it held for the next sweep.
type releaser struct {
	e  *Engine
	br *cof.BatchReader
}

// runReleaser sweeps the hold stream until ctx ends.
func (e *Engine) runReleaser(ctx context.Context) {
	r := &releaser{e: e, br: e.codec.NewBatchReader()}
	t := time.NewTicker(e.o.releaseEvery)
	defer t.Stop()
	var lastErr string
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		err := r.sweep(ctx)
		if ctx.Err() != nil {
			return
		}
		switch {
		case err != nil && err.Error() != lastErr:
			e.log.Warn("releasing held outputs failed; they stay held and are retried", "err", err)
			lastErr = err.Error()
		case err == nil && lastErr != "":
			e.log.Info("releasing held outputs works again")
			lastErr = ""
		}
	}
}

// due is a subject of the hold stream and whose it is.
type due struct {
	subject string
	release int64 // 0 for a park
	peer    string
}

// sweep delivers what is parked for peers whose stream may be back, and
// releases every hold subject whose time has come, oldest first. A subject
// that fails waits for the next sweep; the others go on.
func (r *releaser) sweep(ctx context.Context) error {
	s, err := r.e.js.Stream(ctx, routing.HoldStream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil // nothing was ever held: the exchange did not provision it
	}
	if err != nil {
		return err
	}
	info, err := s.Info(ctx, jetstream.WithSubjectFilter("cof.>"))
	if err != nil {
		return err
	}
	var todo, parked []due
	now := time.Now().Unix()
	for subj := range info.State.Subjects {
		if peer, err := routing.ParkedPeer(subj); err == nil {
			parked = append(parked, due{subj, 0, peer})
			continue
		}
		release, peer, err := routing.ParseHoldSubject(subj)
		if err != nil {
			r.e.log.Error("foreign subject in the hold stream, left alone", "subject", subj)
			continue
		}
		if release <= now {
			todo = append(todo, due{subj, release, peer})
		}
	}
	r.liftIdle(parked)
	var errs []error
	for _, d := range parked {
		if err := r.unpark(ctx, s, d.subject, d.peer); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", d.subject, err))
		}
	}
	slices.SortFunc(todo, func(a, b due) int { return cmp.Or(cmp.Compare(a.release, b.release), strings.Compare(a.peer, b.peer)) })
	for _, d := range todo {
		if err := r.release(ctx, s, d.subject, d.peer); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", d.subject, err))
		}
	}
	return errors.Join(errs...)
}

// release delivers one hold subject's messages up to its round's mark.
func (r *releaser) release(ctx context.Context, s jetstream.Stream, subj, peer string) error {
	first, err := s.GetMsg(ctx, 1, jetstream.WithGetMsgSubject(subj))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if first.Header.Get(headerMark) != "" { // a round that ended before its mark was purged
		return purgeBelow(ctx, s, subj, first.Sequence+1)
	}
	if !r.peerKnown(peer) {
		return r.dropRemoved(ctx, s, subj, peer, "held")
	}
	mark := nats.NewMsg(subj)
	mark.Header.Set(headerMark, "1")
	ack, err := r.e.js.PublishMsg(ctx, mark, jetstream.WithMsgID("mark:"+subj+":"+strconv.FormatUint(first.Sequence, 10)),
		jetstream.WithExpectStream(routing.HoldStream))
	if err != nil {
		return fmt.Errorf("marking the round: %w", err)
	}
	if err := r.deliver(ctx, s, subj, peer, first.Sequence, ack.Sequence); err != nil {
		return err
	}
	return purgeBelow(ctx, s, subj, ack.Sequence+1)
}

// dropRemoved purges what waits for a peer removed from the configuration,
// counting its records as dropped (peer_removed) and saying so.
func (r *releaser) dropRemoved(ctx context.Context, s jetstream.Stream, subj, peer, what string) error {
	msgs, records := 0, 0
	cons, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{FilterSubjects: []string{subj}, HeadersOnly: true})
	if err == nil {
		for {
			batch, err := cons.Fetch(releaseFetch, jetstream.FetchMaxWait(time.Second))
			if err != nil {
				break
			}
			got := 0
			for m := range batch.Messages() {
				got++
				if m.Headers().Get(headerMark) != "" {
					continue
				}
				n, _ := strconv.Atoi(m.Headers().Get(HeaderRecords))
				msgs, records = msgs+1, records+n
			}
			if got == 0 {
				break
			}
		}
	}
	if err := s.Purge(ctx, jetstream.WithPurgeSubject(subj)); err != nil {
		return err
	}
	r.e.parking.markUp(peer) // nothing waits for it any more
	r.e.stats.addDropped(peer, "peer_removed", records)
	r.e.log.Error(what+" outputs of a peer no longer configured are dropped", "peer", peer, "messages", msgs, "records", records)
	return nil
}

func (r *releaser) peerKnown(peer string) bool {
	for _, p := range r.e.reg.Load().table.Peers() {
		if p.ID == peer {
			return true
		}
	}
	return false
}

// purgeBelow removes the subject's messages below sequence seq.
func purgeBelow(ctx context.Context, s jetstream.Stream, subj string, seq uint64) error {
	if err := s.Purge(ctx, jetstream.WithPurgeSubject(subj), jetstream.WithPurgeSequence(seq)); err != nil {
		return fmt.Errorf("purging what was released: %w", err)
	}
	return nil
}

// deliver reads the subject's messages in [from, mark) page by page and
// delivers each page merged.
func (r *releaser) deliver(ctx context.Context, s jetstream.Stream, subj, peer string, from, mark uint64) error {
	cons, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{subj}, DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: from,
	})
	if err != nil {
		return err
	}
	p := newPage(subj, peer)
	for {
		batch, err := cons.Fetch(releaseFetch, jetstream.FetchMaxWait(2*time.Second))
		if err != nil {
			return err
		}
		got := 0
		for msg := range batch.Messages() {
			got++
			meta, err := msg.Metadata()
			if err != nil {
				return err
			}
			seq := meta.Sequence.Stream
			if seq >= mark {
				return r.flush(ctx, s, p)
			}
			if err := r.add(p, msg, seq); err != nil {
				return err
			}
			if p.full() {
				if err := r.flush(ctx, s, p); err != nil {
					return err
				}
				p = newPage(subj, peer)
			}
		}
		if err := batch.Error(); err != nil {
			return err
		}
		if got == 0 {
			return fmt.Errorf("the round's mark (sequence %d) was not reached", mark)
		}
	}
}

// add merges one held message's records into the page.
func (r *releaser) add(p *page, msg jetstream.Msg, seq uint64) error {
	enc, err := cof.ParseEncoding(msg.Headers().Get(HeaderEncoding))
	if err == nil {
		err = r.br.Reset(msg.Data(), enc)
	}
	if err != nil {
		// The switch wrote it: only a damaged store gets here. Holding it
		// forever would stop the subject; say so loudly and skip it.
		r.e.log.Error("held message unreadable, skipped", "subject", p.subject, "seq", seq, "err", err)
		p.note(seq)
		return nil
	}
	g := p.group(msg.Headers().Get(HeaderTLP))
	for _, v := range strings.Split(msg.Headers().Get(HeaderPolicyVersion), ",") {
		if v != "" && !slices.Contains(g.versions, v) {
			g.versions = append(g.versions, v)
		}
	}
	for r.br.Next() {
		if rec := r.br.Record(); rec != nil {
			g.merge(rec)
			p.records++
		}
	}
	p.bytes += len(r.br.Body())
	p.note(seq)
	return nil
}

// flush delivers a page's merged records to the peer and, once stored,
// purges the page from the hold stream.
func (r *releaser) flush(ctx context.Context, s jetstream.Stream, p *page) error {
	if p.first == 0 {
		return nil
	}
	e := r.e
	var futs []jetstream.PubAckFuture
	var msgs []*nats.Msg
	in, out := 0, 0
	for _, tlp := range slices.Sorted(mapsKeys(p.groups)) {
		g := p.groups[tlp]
		slices.Sort(g.versions)
		body := g.body()
		for i, chunk := range splitLines(body, e.o.maxOutput) {
			data, err := e.codec.Compress(nil, chunk, e.o.outEnc)
			if err != nil {
				return err
			}
			m := nats.NewMsg(routing.OutSubject(p.peer))
			m.Data = data
			id := "rel:" + p.subject + ":" + strconv.FormatUint(p.first, 10) + ":" + strconv.FormatUint(p.last, 10) + ":" + tlp + ":" + strconv.Itoa(i)
			m.Header.Set(jetstream.MsgIDHeader, e.sec.msgID(id))
			n := bytes.Count(chunk, []byte{'\n'})
			setBatchHeaders(m.Header, tlp, e.o.outEnc, n, strings.Join(g.versions, ","))
			msgs = append(msgs, m)
			out += n
		}
		in += g.in
	}
	// Signed in one call: one after the other, each would wait out the
	// group's linger.
	e.signOutputs(msgs...)
	for _, m := range msgs {
		fut, err := e.js.PublishMsgAsync(m, jetstream.WithExpectStream(routing.PeerStream(p.peer)))
		if err != nil {
			return err
		}
		futs = append(futs, fut)
	}
	wait, cancel := context.WithTimeout(ctx, e.o.publishTimeout)
	defer cancel()
	for _, f := range futs {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			return fmt.Errorf("delivering to peer %q: %w", p.peer, err)
		case <-wait.Done():
			return fmt.Errorf("delivering to peer %q: %w", p.peer, wait.Err())
		}
	}
	if err := purgeBelow(ctx, s, p.subject, p.last+1); err != nil {
		return err
	}
	e.stats.addReleased(p.peer, in, out)
	e.log.Info("released held records", "peer", p.peer, "subject", p.subject, "records", in, "merged", out, "messages", len(futs))
	return nil
}
