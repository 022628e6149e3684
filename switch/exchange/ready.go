package exchange

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cofswitch/cofswitch/routing"
)

// Ready says whether the exchange can switch: connected to the bus,
// JetStream answering, and every stream of the configuration in force
// present (each sensor's input, the dead letters, the hold, each peer's).
// The error names what is missing. It is /readyz of 'serve'.
func (x *Exchange) Ready(ctx context.Context) error {
	if x.conn == nil || x.conn.Status() != nats.CONNECTED {
		return errors.New("not connected to NATS")
	}
	have := map[string]bool{}
	names := x.js.StreamNames(ctx)
	for n := range names.Name() {
		have[n] = true
	}
	if err := names.Err(); err != nil && !errors.Is(err, jetstream.ErrEndOfData) {
		return fmt.Errorf("JetStream does not answer: %w", err)
	}
	cfg := x.cfg.Load()
	want := []string{routing.DLQStream, routing.HoldStream}
	for _, s := range cfg.Sensors {
		want = append(want, routing.InStream(s.ID))
	}
	for _, p := range cfg.Peers {
		want = append(want, routing.PeerStream(p.ID))
	}
	var missing []string
	for _, n := range want {
		if !have[n] {
			missing = append(missing, n)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("streams missing: %v", missing)
	}
	return nil
}
