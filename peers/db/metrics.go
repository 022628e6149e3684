package db

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Usage is how much a store holds.
type Usage struct {
	// RRsets is the number of rrsets: the disk store's HyperLogLog
	// estimate (within about 1%), PostgreSQL's own estimate (its
	// statistics) for PostgreSQL.
	RRsets int64
	// Bytes is the store's size on disk: the LSM's files (tables, logs,
	// manifest) of the disk store, the tables with their indexes and
	// TOAST for PostgreSQL.
	Bytes int64
}

// UsageEvery is how often PGStore.Usage asks PostgreSQL; in between it
// answers its last reading, so scrapes cost the database nothing.
const UsageEvery = 30 * time.Second

// ErrNotOpen reports a usage asked of a store that is not open yet.
var ErrNotOpen = errors.New("db: store not open yet")

// pgUsageQuery reads the size of the store's tables and its estimate of
// the rrsets: the larger of the planner's (reltuples, -1 before the
// first ANALYZE) and the statistics collector's (n_live_tup, reset by a
// crash); rrsets are never deleted, so both only lag.
const pgUsageQuery = `
SELECT COALESCE(sum(pg_total_relation_size(c.oid)), 0)::bigint,
	COALESCE(max(CASE WHEN c.oid = to_regclass('rrset') THEN greatest(c.reltuples::bigint, s.n_live_tup) END), 0)::bigint
FROM pg_class c LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid
WHERE c.oid IN (to_regclass('rrset'), to_regclass('rrset_rdata'), to_regclass('rrset_ip'), to_regclass('rrset_rname'),
	to_regclass('applied'), to_regclass('applied_floor'))`

// pgUsage caches the last reading of PGStore.Usage.
type pgUsage struct {
	mu  sync.Mutex
	at  time.Time
	u   Usage
	err error
}

// Usage returns the store's usage, read from PostgreSQL at most every
// UsageEvery (a failure too is kept that long).
func (p *PGStore) Usage(ctx context.Context) (Usage, error) {
	p.usage.mu.Lock()
	defer p.usage.mu.Unlock()
	now := p.now()
	if !p.usage.at.IsZero() && now.Sub(p.usage.at) < UsageEvery {
		return p.usage.u, p.usage.err
	}
	var u Usage
	err := p.pool.QueryRow(ctx, pgUsageQuery).Scan(&u.Bytes, &u.RRsets)
	if err != nil {
		err = fmt.Errorf("pdnsdb: postgres usage: %w", err)
	}
	p.usage.at, p.usage.u, p.usage.err = now, u, err
	return u, err
}

// Ping reports whether PostgreSQL answers.
func (p *PGStore) Ping(ctx context.Context) error {
	if err := p.pool.Ping(ctx); err != nil {
		return fmt.Errorf("pdnsdb: postgres: %w", err)
	}
	return nil
}

// Collector exposes a store's usage to Prometheus (namespace cofswitch,
// subsystem db): rrsets and store_bytes. While usage fails (the store is
// not open yet, PostgreSQL does not answer) it exposes neither.
type Collector struct {
	usage         func(context.Context) (Usage, error)
	rrsets, bytes *prometheus.Desc
}

// collectTimeout bounds one reading of the usage.
const collectTimeout = 5 * time.Second

// NewCollector returns the Collector of the usage that usage reads, such
// as Opened.Usage.
func NewCollector(usage func(context.Context) (Usage, error)) *Collector {
	d := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName("cofswitch", "db", name), help, nil, nil)
	}
	return &Collector{
		usage:  usage,
		rrsets: d("rrsets", "Rrsets in the store (PostgreSQL: its estimate, read at most every 30 s)."),
		bytes:  d("store_bytes", "Size of the store on disk: the snapshot file(s), or PostgreSQL's tables with their indexes (read at most every 30 s)."),
	}
}

// Describe sends the descriptors.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.rrsets
	ch <- c.bytes
}

// Collect sends the current values.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), collectTimeout)
	defer cancel()
	u, err := c.usage(ctx)
	if err != nil {
		return
	}
	ch <- prometheus.MustNewConstMetric(c.rrsets, prometheus.GaugeValue, float64(u.RRsets))
	ch <- prometheus.MustNewConstMetric(c.bytes, prometheus.GaugeValue, float64(u.Bytes))
}
