package statuspage

import "testing"

func TestSparkPoints(t *testing.T) {
	for _, tc := range []struct {
		vals  []float64
		slots int
		want  string
	}{
		{nil, 10, ""},
		{[]float64{5}, 10, "120.0,1.0"},
		{[]float64{0, 0}, 2, "0.0,23.0 120.0,23.0"},
		{[]float64{0, 2, 1}, 2, "0.0,23.0 60.0,1.0 120.0,12.0"},     // more values than slots: the whole width
		{[]float64{1, 2}, 4, "80.0,12.0 120.0,1.0"},                 // a young series: its share, at the right
		{[]float64{3, 0, 3}, 180, "118.7,1.0 119.3,23.0 120.0,1.0"}, // 15 min of 5 s samples
	} {
		if got := sparkPoints(tc.vals, tc.slots); got != tc.want {
			t.Errorf("sparkPoints(%v, %d) = %q, want %q", tc.vals, tc.slots, got, tc.want)
		}
	}
}
