package exchange

import (
	"context"
	"syscall"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Free space of the embedded server's store: below fullBelow it counts as
// full; JetStream is started again once minFreeToResume is free.
const (
	fullBelow       = 8 << 20
	minFreeToResume = 64 << 20
)

// HealJetStream watches the embedded server's store. When its disk fills,
// nats-server fails every write with a sticky error per stream ("critical
// write error") and may shut JetStream down; either way it stays so until
// restarted. While the disk is full, publishes are refused (a sensor is
// told its batch was not stored), the switch's outputs wait (parked or
// stalled, never dropped) and what was stored stays on disk. Once the
// store has minFreeToResume bytes free again after it was seen full,
// JetStream is restarted in process (its streams reloaded from disk, which
// clears the write errors), the streams ensured, and the switch's feeders,
// which retry, resume. An external server is its operator's to restart;
// HealJetStream returns at once for one.
func (x *Exchange) HealJetStream(ctx context.Context, every time.Duration) {
	if x.emb == nil {
		return
	}
	srv, dir := x.emb.srv, x.emb.cfg.StoreDir
	t := time.NewTicker(every)
	defer t.Stop()
	full := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		free, err := freeBytes(dir)
		if err != nil {
			continue
		}
		enabled := srv.JetStreamEnabled()
		if free < fullBelow || !enabled {
			if !full {
				x.log.Error("the store's disk is full (or JetStream is down): sensors' publishes are refused and outputs wait; nothing stored is dropped; the exchange resumes when space is back",
					"store", dir, "free_bytes", free, "jetstream", enabled)
			}
			full = true
		}
		if !full || free < minFreeToResume {
			continue
		}
		if enabled {
			srv.ShutdownJetStream()
		}
		if err := srv.EnableJetStream(&server.JetStreamConfig{StoreDir: dir}); err != nil {
			x.log.Warn("restarting JetStream failed; will retry", "err", err)
			continue
		}
		full = false
		sctx, cancel := context.WithTimeout(ctx, setupTimeout)
		err = EnsureStreams(sctx, x.js, x.cfg.Load())
		cancel()
		x.log.Info("disk space is back: JetStream restarted in process, the exchange resumes", "free_bytes", free, "streams_err", err)
	}
}

// freeBytes is the space an unprivileged writer has on dir's file system.
func freeBytes(dir string) (uint64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, err
	}
	return st.Bavail * uint64(st.Bsize), nil
}
