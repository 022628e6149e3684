package main

import (
	"strings"
	"testing"
)

const thresholdConfig = `
policies:
  k3:
    tlp: amber
    threshold: {min_sensors: 3, min_organisations: 2, window: 7d}
sensors:
  - {id: s1, organisation: a}
  - {id: s2, organisation: a}
  - {id: s3, organisation: b}
peers:
  - id: p1
    organisation: c
    subscriptions:
      - sensors: ["*"]
        policy: k3
`

// TestPolicyTestThreshold: --explain says why a record is held by the
// threshold and which record releases it; only that one is printed.
func TestPolicyTestThreshold(t *testing.T) {
	cfg := writeTemp(t, "c.yaml", []byte(thresholdConfig))
	var in string
	for _, s := range []string{"s1", "s2", "s3"} {
		in += `{"rrname":"www.example.com","rrtype":"A","rdata":"192.0.2.1","time_first":1,"time_last":2,"sensor_id":"` + s + `"}` + "\n"
	}
	res := runCLI(t, nil, "policy", "test", "--config", cfg, "--peer", "p1", "--explain", writeTemp(t, "in.ndjson", []byte(in)))
	if res.code != exitOK {
		t.Fatalf("exit %d: %s", res.code, res.stderr)
	}
	for _, want := range []string{
		"1: held (subscription 0, policy k3, TLP:AMBER): seen by 1 of 3 sensors, seen by 1 of 2 organisations; released when 3 sensors and 2 organisations have seen it within 7d",
		"2: held (subscription 0, policy k3, TLP:AMBER): seen by 2 of 3 sensors, seen by 1 of 2 organisations",
		"3: kept (subscription 0, policy k3, TLP:AMBER); transforms: (none); reaches its threshold (3 sensors and 2 organisations have seen it within 7d): released with the 2 held before it",
		"held by k3: threshold",
	} {
		if !strings.Contains(res.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, res.stderr)
		}
	}
	if n := strings.Count(res.stdout, "\n"); n != 1 || !strings.Contains(res.stdout, `"sensor_id":"s3"`) {
		t.Errorf("stdout %q, want s3's record alone", res.stdout)
	}
}
