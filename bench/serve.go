package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"

	"github.com/nats-io/nats.go"

	"github.com/cofswitch/cofswitch/config"
	"github.com/cofswitch/cofswitch/engine"
	"github.com/cofswitch/cofswitch/policy"
)

// The processes a benchmark phase can put under test.
const (
	ChildSwitch  = "switch"  // the switch engine
	ChildForward = "forward" // the raw forwarding baseline
)

// ServeChild is the process under test: over nc, until ctx ends, it runs
// the switch of cfg (engine options opts) or, for ChildForward, the raw
// forwarder over cfg's routes with cfg.Switch.Workers workers. It writes
// Ready to out once it consumes and, when ctx ends and the work in hand is
// done, one JSON line of counts with its peak RSS.
func ServeChild(ctx context.Context, kind string, nc *nats.Conn, cfg *config.Config, opts []engine.Option, out io.Writer, log *slog.Logger) error {
	var stats any
	switch kind {
	case ChildForward:
		table, err := cfg.Table()
		if err != nil {
			return err
		}
		fw, err := NewForwarder(nc, table, engine.DefaultConsumer, cfg.Switch.Workers, log)
		if err != nil {
			return err
		}
		if err := fw.Start(ctx); err != nil {
			return err
		}
		fmt.Fprintln(out, Ready)
		if err := fw.Run(ctx); err != nil {
			return err
		}
		b, o := fw.Counts()
		stats = map[string]any{"Batches": b, "outputs": o, "peak_rss_kib": PeakRSSKiB()}
	case ChildSwitch:
		table, pols, err := cfg.Compile(policy.DefaultEnv())
		if err != nil {
			return err
		}
		eng, err := engine.New(nc, table, pols, opts...)
		if err != nil {
			return err
		}
		if err := eng.Start(ctx); err != nil {
			return err
		}
		fmt.Fprintln(out, Ready)
		<-ctx.Done()
		eng.Stop()
		stats = struct {
			engine.Snapshot
			PeakRSSKiB int64 `json:"peak_rss_kib"`
		}{eng.Stats(), PeakRSSKiB()}
	default:
		return fmt.Errorf("bench: unknown process %q (want %s or %s)", kind, ChildSwitch, ChildForward)
	}
	data, err := json.Marshal(stats)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(out, "%s\n", data)
	return err
}
