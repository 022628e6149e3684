package main

import (
	"strings"
	"testing"
)

// TestServeMemoryLimit: a --memory-limit the runtime cannot live with is
// refused before anything starts, naming what is wrong; a good one is
// logged.
func TestServeMemoryLimit(t *testing.T) {
	for _, tt := range []struct{ value, want string }{
		{"10MiB", "below 64MiB"},
		{"half", "not a size"},
		{"3 furlongs", "unknown unit"},
	} {
		got := runCLI(t, nil, "serve", "--data", t.TempDir(), "--listen", "127.0.0.1:0", "--memory-limit", tt.value)
		if got.code != exitUsage || !strings.Contains(got.stderr, tt.want) {
			t.Errorf("--memory-limit %s: exit %d, %q; want a usage error saying %q", tt.value, got.code, got.stderr, tt.want)
		}
	}
}
