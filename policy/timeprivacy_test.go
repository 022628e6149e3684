package policy

import (
	"strings"
	"testing"
	"time"
)

func TestRelease(t *testing.T) {
	tests := []struct {
		spec TransformSpec
		want time.Duration
		err  string
	}{
		{TransformSpec{}, 0, ""},
		{TransformSpec{CoarsenTime: "1h"}, time.Hour, ""},
		{TransformSpec{CoarsenTime: "1d", Release: ReleaseBucketEnd}, 24 * time.Hour, ""},
		{TransformSpec{CoarsenTime: "15m", Release: ReleaseImmediate}, 0, ""},
		{TransformSpec{CoarsenTime: "1h", Release: "later"}, 0, `transforms.release: "later": want bucket_end or immediate`},
		{TransformSpec{Release: ReleaseImmediate}, 0, "transforms.release: release applies to coarsen_time, which is not set"},
		{TransformSpec{CoarsenTime: "7m"}, 0, "transforms.coarsen_time: 7m: want a divisor of a day"},
		{TransformSpec{CoarsenTime: "25h"}, 0, "transforms.coarsen_time: 25h: want a divisor of a day"},
		{TransformSpec{CoarsenTime: "2d"}, 48 * time.Hour, ""},
	}
	for _, tt := range tests {
		c, err := Compile("p", &Spec{Transforms: tt.spec}, testEnv())
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%+v: error %v, want %q", tt.spec, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%+v: %v", tt.spec, err)
		}
		if c.Release() != tt.want {
			t.Errorf("%+v: release %v, want %v", tt.spec, c.Release(), tt.want)
		}
	}
}

func TestTimeLike(t *testing.T) {
	for name, want := range map[string]bool{
		"seen_at": true, "time_observed": true, "first_seen": true, "timestamp": true, "event_ts": true,
		"queryTime": true, "date": true, "ts": true, "at": true, "when": true, "obs.epoch": true,
		"rcode": false, "client_ip": false, "sensor_hostname": false, "answers": false, "status": false,
		"tags": false, "attempts": false,
	} {
		if got := TimeLike(name); got != want {
			t.Errorf("TimeLike(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestPolicyVersion(t *testing.T) {
	a := mustCompile(t, &Spec{Transforms: TransformSpec{CoarsenTime: "1h"}})
	b := mustCompile(t, &Spec{Transforms: TransformSpec{CoarsenTime: "1h"}})
	c := mustCompile(t, &Spec{Transforms: TransformSpec{CoarsenTime: "1d"}})
	if a.Version() != b.Version() || a.Version() == c.Version() || len(a.Version()) != 12 {
		t.Errorf("versions %q %q %q: want equal specs equal, others different, 12 hex digits", a.Version(), b.Version(), c.Version())
	}
	if (Pass{}).Version() != PassName {
		t.Errorf("pass version %q", Pass{}.Version())
	}
}
