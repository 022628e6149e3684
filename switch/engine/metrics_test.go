package engine_test

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/cofswitch/cofswitch/cof"
	"github.com/cofswitch/cofswitch/policy"
	"github.com/cofswitch/cofswitch/switch/engine"
)

func TestMetrics(t *testing.T) {
	x := newExchange(t, exchangeYAML)
	e := x.startSwitch()
	x.publish("org-a-s2", append(records("m-", 4, ""), "garbage\n"...), cof.Identity)
	waitFor(t, "input drained", 10*time.Second, x.inputDrained)
	waitFor(t, "stats", 2*time.Second, func() bool { return e.Stats().Batches == 1 })
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(engine.NewCollector(e)); err != nil {
		t.Fatal(err)
	}
	want := `
# HELP cofswitch_switch_deliveries_total Records stored on a peer's stream (not those it already had; see duplicate_records_total).
# TYPE cofswitch_switch_deliveries_total counter
cofswitch_switch_deliveries_total{peer="peer-b"} 4
cofswitch_switch_deliveries_total{peer="peer-c"} 4
cofswitch_switch_deliveries_total{peer="peer-d"} 4
# HELP cofswitch_switch_policy_info The policy version in force (value 1).
# TYPE cofswitch_switch_policy_info gauge
cofswitch_switch_policy_info{version="builtin"} 1
# HELP cofswitch_switch_records_total Input records, by result: valid, invalid (dead-lettered).
# TYPE cofswitch_switch_records_total counter
cofswitch_switch_records_total{result="invalid"} 1
cofswitch_switch_records_total{result="valid"} 4
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"cofswitch_switch_deliveries_total", "cofswitch_switch_policy_info", "cofswitch_switch_records_total"); err != nil {
		t.Error(err)
	}
	tab, _ := x.cfg.Table()
	e.SetRegistry(tab, policy.NewSet("v2", nil))
	if err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP cofswitch_switch_policy_info The policy version in force (value 1).
# TYPE cofswitch_switch_policy_info gauge
cofswitch_switch_policy_info{version="v2"} 1
`), "cofswitch_switch_policy_info"); err != nil {
		t.Error(err)
	}
}

// TestDeadLetterCounts: input records and dead letters are counted per
// publishing sensor, dead letters by kind.
func TestDeadLetterCounts(t *testing.T) {
	x := newExchange(t, exchangeYAML)
	e := x.startSwitch()
	body := append(records("ok-", 3, ""), "not json\n"...)
	body = append(body, records("spoof-", 2, "org-b/s1")...)
	x.publish("org-a-s1", body, cof.Identity)
	waitFor(t, "input drained", 10*time.Second, x.inputDrained)
	waitFor(t, "stats", 2*time.Second, func() bool { return e.Stats().Batches == 1 })
	s := e.Stats()
	if s.SensorRecords["org-a-s1"] != 3 || s.DeadLetters["org-a-s1\x00sensor_mismatch"] != 2 || len(s.DeadLetters) != 2 {
		t.Errorf("sensor records %v, dead letters %v", s.SensorRecords, s.DeadLetters)
	}
}

// TestHistograms: every acked batch is observed in the batch size,
// processing time and latency histograms.
func TestHistograms(t *testing.T) {
	x := newExchange(t, exchangeYAML)
	e := x.startSwitch()
	x.publish("org-a-s1", records("h-", 7, ""), cof.Zstd)
	x.publish("org-a-s2", records("h-", 3, ""), cof.Zstd)
	waitFor(t, "input drained", 10*time.Second, x.inputDrained)
	waitFor(t, "stats", 2*time.Second, func() bool { return e.Stats().Batches == 2 })
	reg := prometheus.NewRegistry()
	reg.MustRegister(engine.NewCollector(e))
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]uint64{}
	sums := map[string]float64{}
	for _, mf := range mfs {
		if h := mf.GetMetric()[0].GetHistogram(); h != nil {
			got[mf.GetName()], sums[mf.GetName()] = h.GetSampleCount(), h.GetSampleSum()
		}
	}
	for _, name := range []string{"cofswitch_switch_batch_records", "cofswitch_switch_batch_bytes", "cofswitch_switch_batch_processing_seconds", "cofswitch_switch_batch_latency_seconds"} {
		if got[name] != 2 {
			t.Errorf("%s: %d observations, want 2", name, got[name])
		}
	}
	if sums["cofswitch_switch_batch_records"] != 10 {
		t.Errorf("batch records sum %v, want 10", sums["cofswitch_switch_batch_records"])
	}
}

// TestLastInput: each sensor's last batch with valid records is the
// sensor_last_input_timestamp_seconds gauge; a batch of invalid records
// alone does not move it (the dead-letter counts say that sensor is broken,
// not silent).
func TestLastInput(t *testing.T) {
	x := newExchange(t, exchangeYAML)
	e := x.startSwitch()
	before := time.Now()
	x.publish("org-a-s1", records("t-", 2, ""), cof.Identity)
	x.publish("org-a-s2", []byte("garbage\n"), cof.Identity)
	waitFor(t, "input drained", 10*time.Second, x.inputDrained)
	waitFor(t, "stats", 2*time.Second, func() bool { return e.Stats().Batches == 2 })
	after := time.Now()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(engine.NewCollector(e))
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "cofswitch_switch_sensor_last_input_timestamp_seconds" {
			continue
		}
		for _, m := range mf.GetMetric() {
			got[m.GetLabel()[0].GetValue()] = m.GetGauge().GetValue()
		}
	}
	ts, ok := got["org-a-s1"]
	if !ok || ts < float64(before.UnixNano())/1e9 || ts > float64(after.UnixNano())/1e9 {
		t.Errorf("org-a-s1's last input %v (present %v), want between %v and %v", ts, ok, before, after)
	}
	if _, ok := got["org-a-s2"]; ok || len(got) != 1 {
		t.Errorf("last input gauges %v: want org-a-s1's alone", got)
	}
}
