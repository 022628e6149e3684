package policy

import (
	"strings"
	"testing"
	"time"
)

func TestCompileThreshold(t *testing.T) {
	for _, tt := range []struct {
		name string
		spec ThresholdSpec
		want Threshold
		err  string
	}{
		{name: "sensors, default window", spec: ThresholdSpec{MinSensors: 3}, want: Threshold{MinSensors: 3, MinOrganisations: 1, Window: 30 * 24 * time.Hour}},
		{name: "organisations in days", spec: ThresholdSpec{MinOrganisations: 2, Window: "7d"}, want: Threshold{MinSensors: 1, MinOrganisations: 2, Window: 7 * 24 * time.Hour}},
		{name: "one holds nothing back", spec: ThresholdSpec{MinSensors: 1}, err: "threshold: min_sensors or min_organisations must be at least 2"},
		{name: "negative", spec: ThresholdSpec{MinSensors: -2, MinOrganisations: 2}, err: "threshold.min_sensors: -2: want 1..64"},
		{name: "too many", spec: ThresholdSpec{MinSensors: 65}, err: "threshold.min_sensors: 65: want 1..64"},
		{name: "bad window", spec: ThresholdSpec{MinSensors: 2, Window: "soon"}, err: `threshold.window: "soon"`},
		{name: "window too short", spec: ThresholdSpec{MinSensors: 2, Window: "10s"}, err: `threshold.window: "10s": want 1m to 366d`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			spec := tt.spec
			c, err := Compile("k", &Spec{Threshold: &spec}, testEnv())
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Threshold() != tt.want {
				t.Errorf("threshold %+v, want %+v", c.Threshold(), tt.want)
			}
		})
	}
	if c, err := Compile("none", &Spec{}, testEnv()); err != nil || c.Threshold().Enabled() {
		t.Errorf("a policy without threshold: %+v %v", c.Threshold(), err)
	}
}

func TestThresholdHeld(t *testing.T) {
	th := Threshold{MinSensors: 3, MinOrganisations: 2}
	if got := th.Held(1, 1); got != "seen by 1 of 3 sensors, seen by 1 of 2 organisations" {
		t.Errorf("Held(1, 1) = %q", got)
	}
	if got := th.Held(3, 1); got != "seen by 1 of 2 organisations" {
		t.Errorf("Held(3, 1) = %q", got)
	}
	if !th.Reached(3, 2) || th.Reached(2, 2) || th.Reached(3, 1) {
		t.Error("Reached")
	}
	// Sensors without an organisation meet a threshold that asks for none.
	if !(Threshold{MinSensors: 2, MinOrganisations: 1}).Reached(2, 0) {
		t.Error("Reached without organisations")
	}
}
