package bench

import (
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
)

// clockTicks is USER_HZ, the unit of /proc's CPU times: 100 on every
// Linux that Go supports.
const clockTicks = 100

// procCPU is the CPU time, user and system, that process pid has used so
// far, from /proc; 0 when it cannot be read.
func procCPU(pid int) float64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	// The command name may hold spaces: fields count from its ')'.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseFloat(f[11], 64)
	stime, _ := strconv.ParseFloat(f[12], 64)
	return (utime + stime) / clockTicks
}

// dieWithParent makes the child killed should this process die first, so
// that no switch outlives an interrupted benchmark.
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

// warnMemoryStore says so when the scratch directory is a tmpfs: the
// server's "file" storage would then be memory.
func warnMemoryStore(dir string, log *slog.Logger) {
	const tmpfsMagic = 0x01021994
	var st syscall.Statfs_t
	if syscall.Statfs(dir, &st) == nil && st.Type == tmpfsMagic {
		log.Warn("the scratch directory is a tmpfs: file storage will be memory; use --dir for a disk", "dir", dir)
	}
}
