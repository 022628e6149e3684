package engine

import (
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cofswitch/cofswitch/policy"
)

// Collector exposes an Engine's counters to Prometheus. It reads a Stats
// snapshot at each scrape, so the hot path keeps one set of counters.
// Register it on a registry of your own (serve does, under --metrics).
type Collector struct {
	e *Engine

	batches, records, deliveries, filtered, withheld, dropped, retries, lostDead, policy, throttled, released, threshold, thresholdLost, thresholdRRsets, sightings, duplicates, parked, sensorRecords, deadLetters, lastInput *prometheus.Desc
}

// NewCollector returns the Collector of e. Metric names use the namespace
// cofswitch and the subsystem switch.
func NewCollector(e *Engine) *Collector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName("cofswitch", "switch", name), help, labels, nil)
	}
	return &Collector{
		e:               e,
		batches:         d("batches_total", "Input batches finished, by result: switched, dead_lettered (whole), given_up.", "result"),
		records:         d("records_total", "Input records, by result: valid, invalid (dead-lettered).", "result"),
		deliveries:      d("deliveries_total", "Records stored on a peer's stream (not those it already had; see duplicate_records_total).", "peer"),
		filtered:        d("filtered_total", "Records withheld from a peer by its policy.", "peer"),
		withheld:        d("withheld_records_total", "Records withheld from a peer by its policy, by the kind of filter that withheld each (the first, as 'policy test --explain' names it): include.<filter>, exclude.<filter>, transforms.<transform>.embedded_address, no_policy.", "peer", "rule"),
		dropped:         d("dropped_total", "Records a peer should have received but did not, by reason.", "peer", "reason"),
		retries:         d("retries_total", "Input batches handed back for another attempt."),
		lostDead:        d("lost_dead_letters_total", "Invalid records whose dead letters could not be stored."),
		policy:          d("policy_info", "The policy version in force (value 1).", "version"),
		throttled:       d("throttled_seconds_total", "Time a sensor's batches were held to its rate quota.", "sensor"),
		duplicates:      d("duplicate_records_total", "Records of outputs a peer's stream already had (redelivered input): stored once, not counted in deliveries.", "peer"),
		parked:          d("parked_records_total", "Records parked while a peer's stream was down, by stage: parked, delivered (from the park).", "peer", "stage"),
		sensorRecords:   d("sensor_records_total", "Valid input records, by publishing sensor.", "sensor"),
		deadLetters:     d("dead_letters_total", "Records dead-lettered (a batch dead-lettered whole counts one), by sensor and kind.", "sensor", "kind"),
		lastInput:       d("sensor_last_input_timestamp_seconds", "When the switch last counted a batch with valid records of the sensor (Unix time): a silent sensor stops moving it.", "sensor"),
		released:        d("released_records_total", "Held records (coarsen_time) released when their bucket ended, by stage: held (as switched), merged (as delivered).", "stage"),
		threshold:       d("threshold_records_total", "Records of a peer under a k-sensor threshold, by stage: held (until enough sensors saw their rrset), released (merged, delivered when it did).", "peer", "stage"),
		thresholdLost:   d("threshold_lost_records_total", "Held records never released, by reason: expired (nobody saw the rrset again within the window), overflow (an rrset held too many distinct observations).", "reason"),
		thresholdRRsets: d("threshold_rrsets_created_total", "Rrsets this process added to the threshold bucket COF_SEEN: its growth (the bucket's size less what it evicted)."),
		sightings:       d("threshold_sightings_total", "Sightings alone (records no threshold policy kept, which count towards every threshold), by outcome: written (rrsets whose entry got them), dropped (the queue full or the bucket failing: an rrset can only be held back longer).", "outcome"),
	}
}

// Describe sends the descriptors.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.batches, c.records, c.deliveries, c.filtered, c.withheld, c.dropped, c.retries, c.lostDead, c.policy, c.throttled, c.released, c.threshold, c.thresholdLost, c.thresholdRRsets, c.sightings, c.duplicates, c.parked, c.sensorRecords, c.deadLetters, c.lastInput} {
		ch <- d
	}
	c.e.hist.describe(ch)
}

// Collect sends the current values.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	c.e.hist.collect(ch)
	s := c.e.Stats()
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	counter(c.batches, s.Batches-s.WholeDLQ, "switched")
	counter(c.batches, s.WholeDLQ, "dead_lettered")
	counter(c.batches, s.GivenUp, "given_up")
	counter(c.records, s.Records, "valid")
	counter(c.records, s.Invalid, "invalid")
	for p, v := range s.Delivered {
		counter(c.deliveries, v, p)
	}
	for p, v := range s.Filtered {
		counter(c.filtered, v, p)
	}
	for p, wh := range s.Withheld {
		for r, v := range wh {
			if v > 0 {
				counter(c.withheld, v, p, policy.Rule(r).String())
			}
		}
	}
	for p, m := range s.Dropped {
		for r, v := range m {
			counter(c.dropped, v, p, r)
		}
	}
	for sensor, d := range s.Throttled {
		ch <- prometheus.MustNewConstMetric(c.throttled, prometheus.CounterValue, d.Seconds(), sensor)
	}
	counter(c.retries, s.Retries)
	counter(c.lostDead, s.LostDead)
	for p, v := range s.Duplicates {
		counter(c.duplicates, v, p)
	}
	for p, v := range s.Parked {
		counter(c.parked, v, p, "parked")
	}
	for p, v := range s.Unparked {
		counter(c.parked, v, p, "delivered")
	}
	for sensor, v := range s.SensorRecords {
		counter(c.sensorRecords, v, sensor)
	}
	for sensor, t := range s.LastInput {
		ch <- prometheus.MustNewConstMetric(c.lastInput, prometheus.GaugeValue, float64(t.UnixNano())/1e9, sensor)
	}
	for k, v := range s.DeadLetters {
		sensor, kind, _ := strings.Cut(k, "\x00")
		counter(c.deadLetters, v, sensor, kind)
	}
	counter(c.released, s.Released, "held")
	counter(c.released, s.ReleasedMerged, "merged")
	for p, v := range s.ThresholdHeld {
		counter(c.threshold, v, p, "held")
	}
	for p, v := range s.ThresholdReleased {
		counter(c.threshold, v, p, "released")
	}
	counter(c.thresholdLost, s.ThresholdExpired, "expired")
	counter(c.thresholdLost, s.ThresholdOverflow, "overflow")
	counter(c.thresholdRRsets, s.ThresholdCreated)
	counter(c.sightings, s.SightingsWritten, "written")
	counter(c.sightings, s.SightingsDropped, "dropped")
	ch <- prometheus.MustNewConstMetric(c.policy, prometheus.GaugeValue, 1, c.e.PolicyVersion())
}
