package main

import (
	"flag"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cofswitch/cofswitch/batchsig"
	"github.com/cofswitch/cofswitch/peers/feed"
)

// exchangeKeyUsage is the help of --exchange-key, on every peer command.
const exchangeKeyUsage = "verify every batch against the exchange's public `key` (an nkey N... or U..., or a file of them, one a line): " +
	"a batch unsigned or badly signed is refused (not applied, logged, counted, terminated); empty: no check"

func addExchangeKeyFlag(fs *flag.FlagSet, dst *string) {
	fs.StringVar(dst, "exchange-key", "", exchangeKeyUsage)
}

// exchangeGuard is the guard of --exchange-key (nil without it); subsystem
// names its metric.
func exchangeGuard(arg, subsystem string, log *slog.Logger) (*feed.Guard, error) {
	if arg == "" {
		return nil, nil
	}
	v, err := batchsig.LoadVerifier(arg)
	if err != nil {
		return nil, usageErrorf("--exchange-key: %v", err)
	}
	log.Info("batches verified against the exchange's key", "exchange_keys", v.Keys())
	return feed.NewGuard(v, subsystem, log), nil
}

// guardCollectors is the guard's metric, if there is a guard.
func guardCollectors(g *feed.Guard) []prometheus.Collector {
	if g == nil {
		return nil
	}
	return []prometheus.Collector{g}
}
