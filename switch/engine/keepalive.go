package engine

import (
	"context"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// inHand is the batches the workers hold. One goroutine tells the server
// they are in progress, all of them every third of the ack wait: a
// goroutine and a ticker of its own for each batch cost the switch a few
// microseconds a batch, a good part of a one-record batch's cost.
type inHand struct {
	mu   sync.Mutex
	msgs map[jetstream.Msg]struct{}
}

func newInHand() *inHand { return &inHand{msgs: map[jetstream.Msg]struct{}{}} }

// hold adds msg until the returned func is called.
func (h *inHand) hold(msg jetstream.Msg) func() {
	h.mu.Lock()
	h.msgs[msg] = struct{}{}
	h.mu.Unlock()
	return func() {
		h.mu.Lock()
		delete(h.msgs, msg)
		h.mu.Unlock()
	}
}

// run sends InProgress for every batch held, every period, until ctx
// ends. A batch acked meanwhile is refused by the client, not sent.
func (h *inHand) run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	var batch []jetstream.Msg
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		h.mu.Lock()
		for m := range h.msgs {
			batch = append(batch, m)
		}
		h.mu.Unlock()
		for _, m := range batch {
			_ = m.InProgress()
		}
		clear(batch)
		batch = batch[:0]
	}
}
