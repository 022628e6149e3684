package integration

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cofswitch/cofswitch/bench"
)

// TestBench runs 'cofswitch bench' end to end on small settings: every
// phase, the children it starts, the table and the JSON. The figures are
// not judged (this is no benchmark); that they are measured and agree
// with each other is.
func TestBench(t *testing.T) {
	out := filepath.Join(t.TempDir(), "bench.json")
	stdout, stderr, code := run(t, nil, "bench", "--duration", "1s", "--batch", "500",
		"--sensors", "2", "--json", out, "--dir", t.TempDir())
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	for _, s := range []string{"records/s in", "switch/raw:", "switch/per-record:", "per-record/raw-per-record:", "targets"} {
		if !strings.Contains(stdout, s) {
			t.Errorf("table lacks %q:\n%s", s, stdout)
		}
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var rep bench.Report
	if err := json.Unmarshal(data, &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Results) != len(bench.DefaultPhases) || rep.Machine.CPUs < 1 || rep.Machine.GoVersion == "" {
		t.Fatalf("report: %s", data)
	}
	byPhase := map[string]bench.Result{}
	for _, r := range rep.Results {
		byPhase[r.Phase] = r
		if r.Records == 0 || r.Deliveries == 0 || r.Seconds <= 0 || r.RecordsPerSec <= 0 ||
			r.Child.CPUSeconds <= 0 || r.Child.PeakRSSMiB < 5 || r.Child.PeakRSSMiB > 2000 {
			t.Errorf("%s: %+v", r.Phase, r)
		}
	}
	// The raw baseline copies every batch to each of the 4 peers; the
	// policies withhold some records from some peers.
	if raw := byPhase[bench.PhaseRaw]; raw.Deliveries != 4*raw.Records {
		t.Errorf("raw: %d deliveries of %d records", raw.Deliveries, raw.Records)
	}
	sw := byPhase[bench.PhaseSwitch]
	if sw.Deliveries+sw.Filtered != 4*sw.Records || sw.Filtered == 0 || sw.Latency == nil || sw.Latency.Unmatched != 0 || sw.Batch != 500 {
		t.Errorf("switch: %+v", sw)
	}
	half := byPhase[bench.PhaseHalf]
	if half.Rate < sw.RecordsPerSec/2*0.99 || half.Rate > sw.RecordsPerSec/2*1.01 || half.Latency == nil || half.Latency.Samples == 0 ||
		half.Latency.P50 > half.Latency.P99 || half.Latency.P99 > half.Latency.P999 {
		t.Errorf("half: %+v (switch %.0f records/s)", half, sw.RecordsPerSec)
	}
	if per := byPhase[bench.PhasePerRecord]; per.Batch != 1 || per.Latency != nil {
		t.Errorf("per-record: %+v", per)
	}
	// The raw per-record baseline forwards the same one-record messages
	// to each of the 4 peers.
	if rawPer := byPhase[bench.PhaseRawPerRecord]; rawPer.Batch != 1 || rawPer.Deliveries != 4*rawPer.Records || rep.Ratios["per-record/raw-per-record"] <= 0 {
		t.Errorf("raw-per-record: %+v, ratios %v", rawPer, rep.Ratios)
	}
	if rep.Ratios["switch/raw"] <= 0 || rep.Ratios["switch/per-record"] <= 0 || len(rep.Targets) != 8 || sw.Repeats() > 1.5 {
		t.Errorf("ratios %v, %d targets", rep.Ratios, len(rep.Targets))
	}
}

// TestBenchSwitchDies: a switch that dies mid-phase ends the run at once,
// with exit 1 and the reason, not a hang.
func TestBenchSwitchDies(t *testing.T) {
	p := start(t, "bench", "--duration", "60s", "--pool", "2000", "--phases", "switch", "--dir", t.TempDir())
	var child int
	waitFor(t, "the switch child", 20*time.Second, func() bool {
		kids, _ := exec.Command("pgrep", "-P", strconv.Itoa(p.cmd.Process.Pid)).Output()
		child, _ = strconv.Atoi(strings.TrimSpace(string(kids)))
		return child > 0 && strings.Contains(p.output(), "phase running")
	})
	if err := syscall.Kill(child, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		t.Fatal("bench still running 20s after its switch died")
	}
	if code := p.cmd.ProcessState.ExitCode(); code != 1 || !strings.Contains(p.output(), "exited early") {
		t.Errorf("exit %d:\n%s", code, p.output())
	}
}

// TestBenchBadOptions: options are checked before anything starts.
func TestBenchBadOptions(t *testing.T) {
	for _, args := range [][]string{
		{"--phases", "half"},
		{"--policies", "csirt,nosuch"},
		{"--compression", "gzip"},
		{"--batch", "0"},
		{"--rate", "1000"},
		{"--phases", ""},
	} {
		_, stderr, code := run(t, nil, append([]string{"bench"}, args...)...)
		if code != 2 || !strings.Contains(stderr, "cofswitch:") {
			t.Errorf("%v: exit %d, %s", args, code, stderr)
		}
	}
}
