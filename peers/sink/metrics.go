package sink

import "github.com/prometheus/client_golang/prometheus"

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
