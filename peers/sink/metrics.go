package sink

import (
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Collector exposes a Runner's counters to Prometheus (namespace cofswitch,
// subsystem sink).
type Collector struct {
	r                                   *Runner
	batches, records, refusals, failing *prometheus.Desc
}

// NewCollector returns the Collector of r.
func NewCollector(r *Runner) *Collector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName("cofswitch", "sink", name), help, labels, nil)
	}
	return &Collector{
		r:        r,
		batches:  d("batches_total", "Batches the destination confirmed and that were acked."),
		records:  d("records_total", "Records in those batches."),
		refusals: d("refusals_total", "Deliveries the destination refused, by kind (permanent: a 4xx, a full disk).", "kind"),
		failing:  d("failing", "1 while the current batch is being refused (it is kept and retried)."),
	}
}

// Describe sends the descriptors.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.batches
	ch <- c.records
	ch <- c.refusals
	ch <- c.failing
}

// Collect sends the current values.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	s := c.r.Stats()
	ch <- prometheus.MustNewConstMetric(c.batches, prometheus.CounterValue, float64(s.Batches))
	ch <- prometheus.MustNewConstMetric(c.records, prometheus.CounterValue, float64(s.Records))
	ch <- prometheus.MustNewConstMetric(c.refusals, prometheus.CounterValue, float64(s.Permanent), "permanent")
	ch <- prometheus.MustNewConstMetric(c.refusals, prometheus.CounterValue, float64(s.Failures-s.Permanent), "transient")
	failing := 0.0
	if s.Failing {
		failing = 1
	}
	ch <- prometheus.MustNewConstMetric(c.failing, prometheus.GaugeValue, failing)
}

// The outcomes of an attempt at the destination (label outcome).
const (
	outcomeOK      = "ok"      // confirmed: a 2xx, or written and fsynced
	outcomeRefused = "refused" // the destination answered no: another HTTP status, a full disk
	outcomeError   = "error"   // no answer: a connection or I/O error
)

// attemptBuckets span a local fsync to the HTTP sink's 30 s timeout.
var attemptBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}

// Metrics times each attempt at the destination and counts the attempts
// that will be retried (namespace cofswitch, subsystem sink):
// destination_duration_seconds by outcome (ok, refused, error) and
// retries_total. One Metrics is shared by a sink (Options.Metrics) and its
// Runner (Runner.Metrics): the HTTP sink retries within one delivery, the
// Runner retries a delivery that failed. A nil *Metrics counts nothing. It
// is a prometheus.Collector.
type Metrics struct {
	retries  prometheus.Counter
	duration *prometheus.HistogramVec
}

// NewMetrics returns Metrics at zero, every outcome present.
func NewMetrics() *Metrics {
	m := &Metrics{
		retries: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "cofswitch", Subsystem: "sink", Name: "retries_total",
			Help: "Attempts at the destination that failed and will be retried (the batch is kept).",
		}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "cofswitch", Subsystem: "sink", Name: "destination_duration_seconds",
			Help:    "Time the destination took per delivery attempt, by outcome (ok, refused: it answered no, error: no answer).",
			Buckets: attemptBuckets,
		}, []string{"outcome"}),
	}
	for _, o := range []string{outcomeOK, outcomeRefused, outcomeError} {
		m.duration.WithLabelValues(o)
	}
	return m
}

// Describe sends the descriptors.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	m.retries.Describe(ch)
	m.duration.Describe(ch)
}

// Collect sends the current values.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	m.retries.Collect(ch)
	m.duration.Collect(ch)
}

// attempt times an attempt that started at start and ended so.
func (m *Metrics) attempt(start time.Time, outcome string) {
	if m != nil {
		m.duration.WithLabelValues(outcome).Observe(time.Since(start).Seconds())
	}
}

// retry counts a failed attempt that will be made again.
func (m *Metrics) retry() {
	if m != nil {
		m.retries.Inc()
	}
}

// outcomeOf classifies a local destination's error: ErrPermanent (a full
// disk) is a refusal, any other an error.
func outcomeOf(err error) string {
	switch {
	case err == nil:
		return outcomeOK
	case errors.Is(err, ErrPermanent):
		return outcomeRefused
	}
	return outcomeError
}
