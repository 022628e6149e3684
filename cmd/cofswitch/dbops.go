package main

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/cofswitch/cofswitch/ops"
	"github.com/cofswitch/cofswitch/peers/api"
	"github.com/cofswitch/cofswitch/peers/db"
	"github.com/cofswitch/cofswitch/peers/db/ingest"
	"github.com/cofswitch/cofswitch/peers/feed"
)

// dbOps is what 'db serve --metrics' serves: the metrics of the query API
// and the ingester, made before them, and the store's usage and the
// readiness, which follow the parts as they start.
type dbOps struct {
	queries *api.Metrics
	ingest  *ingest.Metrics
	store   atomic.Pointer[db.Opened]
	feed    atomic.Pointer[boundFeed]
	srv     *ops.Server // nil: --metrics is off
	offline bool        // no feed: ready once the store is
}

// boundFeed is the peer's consumer, once bound.
type boundFeed struct {
	nc   *nats.Conn
	cons jetstream.Consumer
}

// startDBOps serves the endpoints on addr ("" serves none: the metrics
// are still counted, for nothing).
func startDBOps(addr string, log *slog.Logger, extra ...prometheus.Collector) (*dbOps, error) {
	o := &dbOps{queries: api.NewMetrics(), ingest: ingest.NewMetrics()}
	if addr == "" {
		return o, nil
	}
	srv, err := ops.Serve(addr, log, o.ready, append(extra, o.queries, o.ingest, db.NewCollector(o.usage))...)
	if err != nil {
		return nil, &exitError{code: exitUsage, msg: "--metrics: " + err.Error()}
	}
	o.srv = srv
	return o, nil
}

// ready: the store is loaded (and PostgreSQL answers), and unless
// offline the peer's consumer is bound, the connection is up and the consumer still exists.
func (o *dbOps) ready(ctx context.Context) error {
	st := o.store.Load()
	if st == nil {
		return errors.New("the store is not loaded yet")
	}
	if err := st.Ready(ctx); err != nil {
		return err
	}
	if o.offline {
		return nil
	}
	f := o.feed.Load()
	if f == nil {
		return errors.New("the peer's consumer is not bound yet")
	}
	return feed.Ready(ctx, f.nc, f.cons)
}

func (o *dbOps) usage(ctx context.Context) (db.Usage, error) {
	st := o.store.Load()
	if st == nil {
		return db.Usage{}, db.ErrNotOpen
	}
	return st.Usage(ctx)
}

// close stops serving.
func (o *dbOps) close() {
	if o.srv != nil {
		_ = o.srv.Close()
	}
}
