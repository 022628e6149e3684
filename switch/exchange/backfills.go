package exchange

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/cofswitch/cofswitch/batchsig"
	"github.com/cofswitch/cofswitch/config"
	"github.com/cofswitch/cofswitch/routing"
	"github.com/cofswitch/cofswitch/switch/backfill"
)

// backfillLogEvery is how often a background backfill logs its progress.
const backfillLogEvery = 30 * time.Second

// backfills runs, in the background, the backfills of peers whose
// subscriptions ask for one (config.Subscription.Backfill): when the
// peer is first provisioned (its stream did not exist), and again after
// a restart when such a run was cut short. One run per peer at a time;
// Stop ends them with their progress saved.
type backfills struct {
	js     jetstream.JetStream
	secret []byte
	signer *batchsig.Signer
	// settle is how long a run waits before it reads the archive's end:
	// batches switched under the previous configuration (without the
	// peer) are archived within the publish timeout of the swap.
	settle time.Duration
	log    *slog.Logger

	ctx     context.Context
	cancel  context.CancelFunc
	mu      sync.Mutex
	running map[string]bool
	wg      sync.WaitGroup
}

func newBackfills(js jetstream.JetStream, secret []byte, signer *batchsig.Signer, settle time.Duration, log *slog.Logger) *backfills {
	ctx, cancel := context.WithCancel(context.Background())
	return &backfills{js: js, secret: secret, signer: signer, settle: settle, log: log, ctx: ctx, cancel: cancel, running: map[string]bool{}}
}

// due returns the peers of cfg to backfill once cfg is applied: those
// with a subscription's backfill whose stream does not exist yet, and
// those whose last background backfill did not finish. Call it before
// the streams are provisioned.
func backfillsDue(ctx context.Context, js jetstream.JetStream, cfg *config.Config) ([]string, error) {
	if !cfg.Streams.ArchiveOn() {
		return nil, nil
	}
	var due []string
	for _, p := range cfg.Peers {
		if p.Backfill() == 0 {
			continue
		}
		_, err := js.Stream(ctx, routing.PeerStream(p.ID))
		switch {
		case errors.Is(err, jetstream.ErrStreamNotFound):
			due = append(due, p.ID)
			continue
		case err != nil:
			return nil, err
		}
		st, err := backfill.ReadState(ctx, js, p.ID)
		if err == nil && st.Open != nil && st.Open.By == "serve" {
			due = append(due, p.ID)
		}
	}
	return due, nil
}

// start runs the backfills of peers under cfg, each unless one runs.
func (b *backfills) start(cfg *config.Config, peers []string) {
	for _, id := range peers {
		b.mu.Lock()
		if b.running[id] || b.ctx.Err() != nil {
			b.mu.Unlock()
			continue
		}
		b.running[id] = true
		b.mu.Unlock()
		b.wg.Add(1)
		go func() {
			defer b.wg.Done()
			defer func() { b.mu.Lock(); delete(b.running, id); b.mu.Unlock() }()
			b.run(cfg, id)
		}()
	}
}

// run backfills one peer, logging its progress.
func (b *backfills) run(cfg *config.Config, peer string) {
	p, _ := backfill.CheckPeer(cfg, peer)
	since := p.Backfill()
	var until uint64
	if st, err := backfill.ReadState(b.ctx, b.js, peer); err == nil && st.Open != nil && st.Open.By == "serve" {
		// A run cut short: the same range again.
		until = st.Open.Until
		if !st.Open.From.IsZero() {
			since = time.Since(st.Open.From)
		}
	} else {
		t := time.NewTimer(b.settle)
		select {
		case <-b.ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
	log := b.log.With("peer", peer)
	log.Info("backfill started", "since", since, "rate", backfill.DefaultRate)
	last := time.Now()
	res, err := backfill.Run(b.ctx, b.js, backfill.Options{Config: cfg, Peer: peer, Since: since, Until: until,
		Secret: b.secret, Signer: b.signer, By: "serve", Log: log, Progress: func(p backfill.Progress) {
			if time.Since(last) >= backfillLogEvery {
				last = time.Now()
				log.Info("backfill progress", "records", p.Records, "position", p.Position, "total", p.Total)
			}
		}})
	switch {
	case b.ctx.Err() != nil:
		log.Info("backfill stopped; it goes on at the next start", "records", res.Records)
	case err != nil:
		log.Error("backfill failed; it is tried again at the next start or reload", "records", res.Records, "err", err)
	default:
		log.Info("backfill done", "records", res.Records, "batches", res.Batches, "skipped", res.Skipped, "took", res.Elapsed)
	}
}

// stop ends the runs, their progress saved, and waits for them.
func (b *backfills) stop() {
	b.cancel()
	b.wg.Wait()
}
