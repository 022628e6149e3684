package engine

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// histograms are the distributions an operator needs beside the counters:
// how big input batches are, how long the switch works on one, and how
// long a batch waits from its storing in the sensor's input to the storing
// of its outputs. They belong to one Engine (no global registry) and are
// exported through its Collector.
type histograms struct {
	records, bytes, seconds, latency prometheus.Histogram
}

func newHistograms() *histograms {
	h := func(name, help string, buckets []float64) prometheus.Histogram {
		return prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "cofswitch", Subsystem: "switch", Name: name, Help: help, Buckets: buckets,
		})
	}
	return &histograms{
		records: h("batch_records", "Records per input batch (valid and invalid).",
			[]float64{1, 10, 50, 100, 250, 500, 1000, 2500, 5000, 10000}),
		bytes: h("batch_bytes", "Size of an input batch as published (compressed).",
			prometheus.ExponentialBuckets(256, 4, 9)),
		seconds: h("batch_processing_seconds", "Time the switch works on one input batch, from its pull to its ack.",
			prometheus.ExponentialBuckets(0.0005, 2.5, 12)),
		latency: h("batch_latency_seconds", "Time from an input batch's storing in its sensor's stream to its outputs' storing (held outputs: in COF_HOLD).",
			prometheus.ExponentialBuckets(0.001, 2.5, 14)),
	}
}

// observe records one acked batch.
func (h *histograms) observe(records, bytes int, started, stored time.Time) {
	h.records.Observe(float64(records))
	h.bytes.Observe(float64(bytes))
	now := time.Now()
	h.seconds.Observe(now.Sub(started).Seconds())
	if !stored.IsZero() {
		h.latency.Observe(now.Sub(stored).Seconds())
	}
}

func (h *histograms) describe(ch chan<- *prometheus.Desc) {
	for _, m := range []prometheus.Histogram{h.records, h.bytes, h.seconds, h.latency} {
		m.Describe(ch)
	}
}

func (h *histograms) collect(ch chan<- prometheus.Metric) {
	for _, m := range []prometheus.Histogram{h.records, h.bytes, h.seconds, h.latency} {
		m.Collect(ch)
	}
}
