package ops_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cofswitch/cofswitch/ops"
)

func TestMemoryLimit(t *testing.T) {
	t.Setenv("GOMEMLIMIT", "")
	v2 := t.TempDir()
	if err := os.WriteFile(filepath.Join(v2, "memory.max"), []byte("1073741824\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	unlimited := t.TempDir()
	if err := os.WriteFile(filepath.Join(unlimited, "memory.max"), []byte("max\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	v1 := t.TempDir()
	_ = os.Mkdir(filepath.Join(v1, "memory"), 0o755)
	if err := os.WriteFile(filepath.Join(v1, "memory", "memory.limit_in_bytes"), []byte("9223372036854771712\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	v1limited := t.TempDir()
	_ = os.Mkdir(filepath.Join(v1limited, "memory"), 0o755)
	if err := os.WriteFile(filepath.Join(v1limited, "memory", "memory.limit_in_bytes"), []byte("2147483648\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	garbage := t.TempDir()
	if err := os.WriteFile(filepath.Join(garbage, "memory.max"), []byte("lots\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		value, root string
		want        int64
		source, err string
	}{
		{"auto", v2, 858993459, "80% of", ""},
		{"", v2, 858993459, "80% of", ""},
		{"auto", unlimited, ops.DefaultMemoryLimit, "the default", ""},
		{"auto", v1, ops.DefaultMemoryLimit, "the default", ""},
		{"auto", t.TempDir(), ops.DefaultMemoryLimit, "the default", ""},
		{"auto", v1limited, 1717986918, "80% of", ""},
		{"auto", garbage, 0, "", "not a number"},
		{"512MiB", v2, 512 << 20, "--memory-limit", ""},
		{"1.5GiB", v2, 3 << 29, "--memory-limit", ""},
		{"400MB", v2, 400e6, "--memory-limit", ""},
		{"off", v2, 0, "off", ""},
		{"0", v2, 0, "off", ""},
		{"10MiB", v2, 0, "", "below 64MiB"},
		{"512 parsecs", v2, 0, "", "unknown unit"},
		{"-5GiB", v2, 0, "", "not a size"},
		{"lots", v2, 0, "", "not a size"},
	} {
		got, source, err := ops.MemoryLimit(tt.value, tt.root)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%q in %s: error %v, want one saying %q", tt.value, tt.root, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want || !strings.HasPrefix(source, tt.source) {
			t.Errorf("%q in %s: %d from %q (%v), want %d from %q...", tt.value, tt.root, got, source, err, tt.want, tt.source)
		}
	}
	t.Setenv("GOMEMLIMIT", "700MiB")
	if got, source, _ := ops.MemoryLimit("auto", v2); got != 0 || !strings.HasPrefix(source, "GOMEMLIMIT") {
		t.Errorf("with GOMEMLIMIT set: %d from %q, want the runtime's", got, source)
	}
}
