package ops

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
)

// Memory limits. A long-running process (serve, db serve) gives the Go
// runtime a soft limit, so that its collector works harder before the
// process outgrows the machine or its container, rather than after: the
// embedded NATS server's caches and a burst of large batches are garbage
// the collector would otherwise leave for later.

// MemoryAuto is the --memory-limit value that derives the limit: from
// GOMEMLIMIT when it is set (the runtime has applied it), else from the
// cgroup the process runs in (MemoryShare of its memory limit), else
// DefaultMemoryLimit.
const MemoryAuto = "auto"

// DefaultMemoryLimit is the automatic limit of a process that neither
// GOMEMLIMIT nor a cgroup bounds. Measured with 'cofswitch bench
// --exchange --phases switch' (server and switch in one process, 2
// cores, flat out): no limit, a peak RSS of 870 MiB at 292,000 records/s;
// 448 MiB, 473 MiB at 233,100 records/s; 300 MiB, 427 MiB at 216,700.
const DefaultMemoryLimit = 448 << 20

// MemoryShare is the part of a cgroup's memory limit that the automatic
// soft limit takes: the rest is for what the collector does not see (the
// runtime's own overhead, the stacks, the kernel's buffers of the
// process).
const MemoryShare = 0.8

// MemoryLimit reads a --memory-limit value: "auto" (see MemoryAuto), "0"
// or "off" for none, or a size ("512MiB", "1.5GiB", "400MB", bytes). It
// returns the limit in bytes (0: none) and where it came from, for the
// log. cgroupRoot is where the cgroup file systems are mounted
// (/sys/fs/cgroup); a test gives another.
func MemoryLimit(value, cgroupRoot string) (int64, string, error) {
	switch strings.ToLower(strings.TrimSpace(value)) {
	case "0", "off", "none":
		return 0, "off", nil
	case "", MemoryAuto:
		if env := os.Getenv("GOMEMLIMIT"); env != "" && env != "off" {
			return 0, "GOMEMLIMIT (applied by the runtime)", nil
		}
		limit, file, err := cgroupMemory(cgroupRoot)
		if err != nil {
			return 0, "", err
		}
		if limit == 0 {
			return DefaultMemoryLimit, "the default (neither GOMEMLIMIT nor a cgroup memory limit)", nil
		}
		return int64(float64(limit) * MemoryShare), fmt.Sprintf("%.0f%% of %s (%s)", MemoryShare*100, file, FormatBytes(limit)), nil
	}
	n, err := ParseBytes(value)
	if err != nil {
		return 0, "", fmt.Errorf("--memory-limit %q: %w", value, err)
	}
	if n < 64<<20 {
		return 0, "", fmt.Errorf("--memory-limit %q: below 64MiB, the collector would run without end", value)
	}
	return n, "--memory-limit", nil
}

// SetMemoryLimit reads a --memory-limit value (see MemoryLimit, the
// cgroups under /sys/fs/cgroup), gives the runtime the limit and logs it
// with where it came from.
func SetMemoryLimit(value string, log *slog.Logger) error {
	limit, source, err := MemoryLimit(value, "/sys/fs/cgroup")
	if err != nil {
		return err
	}
	if limit == 0 {
		log.Info("memory limit", "limit", "none", "from", source)
		return nil
	}
	debug.SetMemoryLimit(limit)
	log.Info("memory limit", "limit", FormatBytes(limit), "from", source)
	return nil
}

// cgroupMemory is the memory limit of the process's cgroup (v2:
// memory.max; v1: memory.limit_in_bytes), 0 when there is none. The
// process's own cgroup is read from /proc/self/cgroup; where the file
// system does not show it (a container sees its own as the root), the
// root's.
func cgroupMemory(root string) (int64, string, error) {
	v2, v1 := "/", "/"
	if b, err := os.ReadFile("/proc/self/cgroup"); err == nil {
		for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			parts := strings.SplitN(line, ":", 3)
			if len(parts) != 3 {
				continue
			}
			switch {
			case parts[0] == "0" && parts[1] == "":
				v2 = parts[2]
			case slices.Contains(strings.Split(parts[1], ","), "memory"):
				v1 = parts[2]
			}
		}
	}
	for _, f := range []string{
		filepath.Join(root, v2, "memory.max"), filepath.Join(root, "memory.max"),
		filepath.Join(root, "memory", v1, "memory.limit_in_bytes"), filepath.Join(root, "memory", "memory.limit_in_bytes"),
	} {
		b, err := os.ReadFile(f)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return 0, f, fmt.Errorf("reading the cgroup's memory limit: %w", err)
		}
		v := strings.TrimSpace(string(b))
		if v == "max" {
			return 0, f, nil
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, f, fmt.Errorf("%s: %q is not a number of bytes", f, v)
		}
		if n >= 1<<60 { // v1's "unlimited"
			return 0, f, nil
		}
		return n, f, nil
	}
	return 0, "", nil
}

// ParseBytes reads a size: a number with an optional unit, B, KB, MB,
// GB (powers of 1000) or KiB, MiB, GiB (powers of 1024).
func ParseBytes(s string) (int64, error) {
	s = strings.TrimSpace(s)
	i := strings.IndexFunc(s, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	num, unit := s, ""
	if i >= 0 {
		num, unit = s[:i], strings.TrimSpace(s[i:])
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil || f < 0 {
		return 0, fmt.Errorf("not a size (e.g. 512MiB)")
	}
	mult := map[string]float64{"": 1, "b": 1, "kb": 1e3, "mb": 1e6, "gb": 1e9, "kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30}[strings.ToLower(unit)]
	if mult == 0 {
		return 0, fmt.Errorf("unknown unit %q (B, KB, MB, GB, KiB, MiB or GiB)", unit)
	}
	return int64(f * mult), nil
}

// FormatBytes writes a size in MiB or GiB.
func FormatBytes(n int64) string {
	if n >= 1<<30 {
		return strconv.FormatFloat(float64(n)/(1<<30), 'f', 1, 64) + "GiB"
	}
	return strconv.FormatInt(n>>20, 10) + "MiB"
}
