//go:build !linux

package bench

import (
	"log/slog"
	"os/exec"
)

func procCPU(int) float64 { return 0 }

func dieWithParent(*exec.Cmd) {}

func warnMemoryStore(string, *slog.Logger) {}
