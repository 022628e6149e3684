package ingest

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// checkpointBuckets span a PostgreSQL commit (milliseconds) to the
// snapshot of a store of millions of rrsets (a minute or more).
var checkpointBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120}

// Metrics counts what an Ingester applies (namespace cofswitch, subsystem
// db): records_applied_total, batches_applied_total and
// checkpoint_duration_seconds, the time of the step that makes applied
// batches durable: the embedded store's snapshot, or for a store whose
// every Apply is durable (PostgreSQL), the transaction that applies and
// commits one batch. It is a prometheus.Collector.
type Metrics struct {
	records, batches prometheus.Counter
	checkpoint       prometheus.Histogram
}

// NewMetrics returns Metrics at zero.
func NewMetrics() *Metrics {
	return &Metrics{
		records: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "cofswitch", Subsystem: "db", Name: "records_applied_total",
			Help: "Records merged into the store (redelivered batches the store had applied are not counted).",
		}),
		batches: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "cofswitch", Subsystem: "db", Name: "batches_applied_total",
			Help: "Batches of the peer's feed merged into the store.",
		}),
		checkpoint: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "cofswitch", Subsystem: "db", Name: "checkpoint_duration_seconds",
			Help:    "Time of the durable step: the embedded store's snapshot, or PostgreSQL's transaction of one batch.",
			Buckets: checkpointBuckets,
		}),
	}
}

// Describe sends the descriptors.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	m.records.Describe(ch)
	m.batches.Describe(ch)
	m.checkpoint.Describe(ch)
}

// Collect sends the current values.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	m.records.Collect(ch)
	m.batches.Collect(ch)
	m.checkpoint.Collect(ch)
}

// applied counts a batch of n records; nil counts nothing.
func (m *Metrics) applied(n int) {
	if m != nil {
		m.batches.Inc()
		m.records.Add(float64(n))
	}
}

// durable times a durable step that started at start; nil times nothing.
func (m *Metrics) durable(start time.Time) {
	if m != nil {
		m.checkpoint.Observe(time.Since(start).Seconds())
	}
}
