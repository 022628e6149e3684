package demo

import (
	"bytes"
	"testing"

	"github.com/cofswitch/cofswitch/cof"
)

func TestDemoRegistryAndBatches(t *testing.T) {
	cfg, err := Config()
	if err != nil {
		t.Fatal(err)
	}
	tab, err := cfg.Table()
	if err != nil {
		t.Fatal(err)
	}
	batches := Batches()
	total, invalid, spoofs := 0, 0, 0
	for sensor, body := range batches {
		if _, ok := tab.Sensor(sensor); !ok {
			t.Errorf("demo batch for unregistered sensor %q", sensor)
		}
		for _, line := range bytes.Split(bytes.TrimSpace(body), []byte{'\n'}) {
			total++
			r, err := cof.Parse(line)
			if err != nil {
				invalid++
				continue
			}
			if r.SensorID != "" && !tab.MayPublishAs(sensor, r.SensorID) {
				spoofs++
			}
		}
	}
	// The demo must show both kinds of dead letter and mostly deliveries.
	if invalid != 1 || spoofs != 1 || total != 10 {
		t.Errorf("demo data: %d records, %d invalid, %d spoofed; want 10, 1, 1", total, invalid, spoofs)
	}
	for _, p := range cfg.Peers {
		if len(p.Subscriptions) == 0 {
			t.Errorf("demo peer %s subscribes to nothing", p.ID)
		}
	}
}
