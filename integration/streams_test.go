package integration

import (
	"context"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/cofswitch/cofswitch/config"
	"github.com/cofswitch/cofswitch/switch/exchange"
)

// ensureStreams provisions the exchange's streams from a config file, as
// 'serve' does at start, so input can be stored before any switch runs.
func ensureStreams(ctx context.Context, js jetstream.JetStream, path string) error {
	cfg, err := config.Load(path)
	if err != nil {
		return err
	}
	return exchange.EnsureStreams(ctx, js, cfg)
}
