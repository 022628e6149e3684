package pipeline

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/cofswitch/cofswitch/sensor/publish"
)

// Collector exposes a sensor's counters to Prometheus (namespace
// cofswitch, subsystem sensor): the pipeline's, and its spooled
// publisher's through spooled.
type Collector struct {
	p       *Pipeline
	spooled func() publish.SpooledStats

	observations, withheld, published, lineErrors, reduction            *prometheus.Desc
	spoolBatches, spoolBytes, dropped, rejected, stored, dups, failures *prometheus.Desc
	frames, connections, malformed, negative                            *prometheus.Desc
}

// NewCollector returns the Collector of p and its publisher's stats.
func NewCollector(p *Pipeline, spooled func() publish.SpooledStats) *Collector {
	d := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName("cofswitch", "sensor", name), help, nil, nil)
	}
	return &Collector{p: p, spooled: spooled,
		observations: d("observations_total", "Records read from the inputs (one per RRset of a dnstap answer, one per answer of a log line)."),
		withheld:     d("withheld_total", "Observations the sensor's filter kept from leaving the site."),
		published:    d("published_records_total", "Records handed to the spool, after aggregation."),
		lineErrors:   d("line_errors_total", "Input log lines that could not be read (skipped)."),
		reduction:    d("aggregation_reduction_ratio", "Observations kept per published record since the start (1: the window merged nothing)."),
		spoolBatches: d("spool_batches", "Batches in the spool, not yet stored by the exchange."),
		spoolBytes:   d("spool_bytes", "Bytes of those batches on disk."),
		dropped:      d("spool_dropped_batches_total", "Batches dropped from a full spool (the oldest first)."),
		rejected:     d("rejected_batches_total", "Batches larger than the server's max payload, dropped."),
		stored:       d("stored_batches_total", "Batches the exchange stored."),
		dups:         d("duplicate_batches_total", "Batches the exchange already had (replayed after a restart or a lost ack)."),
		failures:     d("send_failures_total", "Rounds of sending that failed (the exchange out of reach); the batches stay spooled."),
		frames:       d("dnstap_frames_total", "dnstap data frames read."),
		connections:  d("dnstap_connections", "dnstap connections open now."),
		malformed: prometheus.NewDesc("cofswitch_sensor_dnstap_malformed_total",
			"Malformed dnstap frames and DNS messages, by reason (a fixed set).", []string{"reason"}, nil),
		negative: prometheus.NewDesc("cofswitch_sensor_dnstap_negative_answers_total",
			"Responses with a non-zero RCODE, by its name: COF cannot carry them.", []string{"rcode"}, nil),
	}
}

// Describe sends the descriptors.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.observations, c.withheld, c.published, c.lineErrors, c.reduction,
		c.spoolBatches, c.spoolBytes, c.dropped, c.rejected, c.stored, c.dups, c.failures,
		c.frames, c.connections, c.malformed, c.negative} {
		ch <- d
	}
}

// Collect sends the current values.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	s, sp := c.p.Stats(), c.spooled()
	counter := func(d *prometheus.Desc, v int64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v))
	}
	gauge := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v)
	}
	counter(c.observations, s.Observations)
	counter(c.withheld, s.Withheld)
	counter(c.published, s.Published)
	counter(c.lineErrors, s.LineErrors)
	gauge(c.reduction, s.Reduction())
	gauge(c.spoolBatches, float64(sp.Backlog))
	gauge(c.spoolBytes, float64(sp.BacklogBytes))
	counter(c.dropped, sp.Dropped)
	counter(c.rejected, sp.Rejected)
	counter(c.stored, sp.Stored)
	counter(c.dups, sp.Duplicates)
	counter(c.failures, sp.Failures)
	ds := c.p.o.DnstapStats.Snapshot()
	counter(c.frames, int64(ds.Frames))
	gauge(c.connections, float64(ds.Active))
	for reason, n := range ds.Malformed {
		ch <- prometheus.MustNewConstMetric(c.malformed, prometheus.CounterValue, float64(n), reason)
	}
	for rcode, n := range ds.Negative {
		ch <- prometheus.MustNewConstMetric(c.negative, prometheus.CounterValue, float64(n), rcode)
	}
}
