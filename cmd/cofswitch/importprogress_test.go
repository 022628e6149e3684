package main

import (
	"testing"
	"time"
)

func TestProgressLine(t *testing.T) {
	for _, tt := range []struct {
		records     int
		read, total int64
		elapsed     time.Duration
		want        string
	}{
		{1000, 0, 0, time.Second, "1000 records, 1000 records/s"},
		{5000, 25 << 20, 100 << 20, 10 * time.Second, "5000 records, 500 records/s, 25.0% of 100.0 MiB, about 30s left"},
		{9000, 100 << 20, 100 << 20, 20 * time.Second, "9000 records, 450 records/s, 100.0% of 100.0 MiB"},
	} {
		if got := progressLine(tt.records, tt.read, tt.total, tt.elapsed); got != tt.want {
			t.Errorf("progressLine(%d, %d, %d, %v) = %q, want %q", tt.records, tt.read, tt.total, tt.elapsed, got, tt.want)
		}
	}
}
