package policy

import (
	"strconv"
	"strings"
	"time"
)

// ThresholdSpec is the k-sensor release threshold of a policy, as
// written under policies.<name>.threshold: an rrset (owner name, type and
// set of rdata) reaches the peer only once at least MinSensors distinct
// sensors, and MinOrganisations distinct organisations, have seen it
// within Window. Until then its observations are held by the switch, and
// released merged (counts summed, times widened) once it is reached.
//
// It protects what no filter list can name in advance: the name only one
// site ever sees (a family's home router, a small office's host leaking to
// a public resolver).
type ThresholdSpec struct {
	MinSensors       int    `yaml:"min_sensors"`
	MinOrganisations int    `yaml:"min_organisations"`
	Window           string `yaml:"window"` // default 30d
}

// DefaultThresholdWindow is the window of a threshold that names none.
const DefaultThresholdWindow = 30 * 24 * time.Hour

// Threshold is a compiled ThresholdSpec; the zero value is none.
type Threshold struct {
	MinSensors       int
	MinOrganisations int
	Window           time.Duration
}

// Enabled says whether the threshold holds anything back.
func (t Threshold) Enabled() bool { return t.MinSensors > 1 || t.MinOrganisations > 1 }

// Reached says whether sensors distinct sensors and orgs distinct
// organisations meet it. Sensors without an organisation count for no
// organisation: a threshold that asks for none (MinOrganisations 1) is
// met by them alone.
func (t Threshold) Reached(sensors, orgs int) bool {
	return sensors >= t.MinSensors && (orgs >= t.MinOrganisations || t.MinOrganisations <= 1)
}

// Held describes why an rrset seen by sensors sensors and orgs
// organisations is still held: "seen by 1 of 3 sensors".
func (t Threshold) Held(sensors, orgs int) string {
	var why []string
	if sensors < t.MinSensors {
		why = append(why, "seen by "+strconv.Itoa(sensors)+" of "+strconv.Itoa(t.MinSensors)+" sensors")
	}
	if orgs < t.MinOrganisations && t.MinOrganisations > 1 {
		why = append(why, "seen by "+strconv.Itoa(orgs)+" of "+strconv.Itoa(t.MinOrganisations)+" organisations")
	}
	return strings.Join(why, ", ")
}

// MaxThresholdSensors bounds min_sensors and min_organisations: the
// switch remembers, per rrset, every sensor that saw it within the window.
const MaxThresholdSensors = 64

func compileThreshold(s *ThresholdSpec, errs *errList) Threshold {
	if s == nil {
		return Threshold{}
	}
	t := Threshold{MinSensors: max(s.MinSensors, 1), MinOrganisations: max(s.MinOrganisations, 1), Window: DefaultThresholdWindow}
	if s.MinSensors < 0 || s.MinSensors > MaxThresholdSensors {
		errs.add("threshold.min_sensors", "%d: want 1..%d", s.MinSensors, MaxThresholdSensors)
	}
	if s.MinOrganisations < 0 || s.MinOrganisations > MaxThresholdSensors {
		errs.add("threshold.min_organisations", "%d: want 1..%d", s.MinOrganisations, MaxThresholdSensors)
	}
	if !t.Enabled() {
		errs.add("threshold", "min_sensors or min_organisations must be at least 2 (1 holds nothing back)")
	}
	if s.Window != "" {
		d, err := parseDuration(s.Window)
		switch {
		case err != nil:
			errs.add("threshold.window", "%q: %v", s.Window, err)
		case d < time.Minute || d > 366*24*time.Hour:
			errs.add("threshold.window", "%q: want 1m to 366d", s.Window)
		default:
			t.Window = d
		}
	}
	return t
}
