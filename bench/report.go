package bench

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/cofswitch/cofswitch/bus"
)

// Result is one phase's measurements.
type Result struct {
	Phase            string   `json:"phase"`
	Batch            int      `json:"batch"`
	Encoding         string   `json:"encoding"`
	Rate             float64  `json:"target_rate"` // records/s; 0 = flat out
	Workers          int      `json:"workers"`     // each child's
	Processes        int      `json:"processes"`   // the children, on the one durable consumer
	PoolRecords      int      `json:"pool_records"`
	Seconds          float64  `json:"seconds"` // first publish to last output stored
	Records          uint64   `json:"records"`
	Deliveries       uint64   `json:"deliveries"` // records stored in peer streams, summed over peers (raw: every record to every peer)
	Filtered         uint64   `json:"filtered"`   // records withheld by policy, summed over peers
	Refused          uint64   `json:"refused"`    // sensor publishes refused at the input cap and retried
	RecordsPerSec    float64  `json:"records_per_sec"`
	DeliveriesPerSec float64  `json:"deliveries_per_sec"`
	Latency          *Latency `json:"latency_ms,omitempty"`
	Child            usage    `json:"child"`             // the processes under test (the switches, or the forwarders), summed
	BenchCPU         float64  `json:"bench_cpu_seconds"` // this process over the window: server, sensors, observers
	Scaling          *Scaling `json:"scaling,omitempty"` // against the same phase with the fewest processes, when a run has several counts
}

// Scaling compares a phase run with Result.Processes processes under test
// with the same phase run with the fewest the run had, Of (usually 1).
type Scaling struct {
	Of         int     `json:"of"`
	Throughput float64 `json:"throughput"` // records/s over those with Of processes
	Efficiency float64 `json:"efficiency"` // Throughput × Of / Processes: 1 is linear
}

// Repeats is how many times the phase sent each pooled record, on average.
func (r Result) Repeats() float64 {
	if r.PoolRecords == 0 {
		return 0
	}
	return float64(r.Records) / float64(r.PoolRecords)
}

// Latency is the time from a sensor's publish (when it was due, for a
// paced phase) to the output's storing in the peer stream, in ms, over
// every output message. Flat out, it is mostly the queue the gate allows.
type Latency struct {
	P50       float64 `json:"p50"`
	P99       float64 `json:"p99"`
	P999      float64 `json:"p99_9"`
	Max       float64 `json:"max"`
	Samples   int     `json:"samples"`
	Unmatched int     `json:"unmatched"` // outputs whose input the sensors did not send, or without the header
}

// Report is a whole run.
type Report struct {
	Machine Machine            `json:"machine"`
	Options map[string]any     `json:"options"`
	Results []Result           `json:"results"`
	Ratios  map[string]float64 `json:"ratios,omitempty"`
	Targets []Target           `json:"targets,omitempty"`
}

// Target is one of the goals the benchmark checks.
type Target struct {
	Name string  `json:"name"`
	Want string  `json:"want"`
	Got  float64 `json:"got"`
	Met  bool    `json:"met"`
}

// Machine describes where the run happened.
type Machine struct {
	CPU        string `json:"cpu"`
	CPUs       int    `json:"cpus"`
	MemoryMiB  int    `json:"memory_mib"`
	GoVersion  string `json:"go"`
	OS         string `json:"os"`
	StartedUTC string `json:"started_utc"`
}

func machine() Machine {
	m := Machine{CPUs: runtime.NumCPU(), GoVersion: runtime.Version(), OS: runtime.GOOS + "/" + runtime.GOARCH,
		StartedUTC: time.Now().UTC().Format(time.RFC3339)}
	m.CPU = procField("/proc/cpuinfo", "model name")
	if v := procField("/proc/meminfo", "MemTotal"); v != "" {
		kb, _ := strconv.Atoi(strings.Fields(v)[0])
		m.MemoryMiB = kb / 1024
	}
	return m
}

// procField reads the first "key: value" line for key from a /proc file.
func procField(path, key string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

func summarise(o Options) map[string]any {
	enc := string(o.Encoding)
	if enc == "" {
		enc = "none"
	}
	m := map[string]any{"sensors": o.Sensors, "peers": len(o.Policies), "policies": o.Policies,
		"batch": o.Batch, "compression": enc, "duration": o.Duration.String(), "pool": o.Pool,
		"seed": o.Seed, "workers": o.Workers, "phases": o.Phases, "exchange": o.Exchange,
		"replicas": o.Replicas, "switches": o.Switches}
	if o.NATSURL != "" {
		m["nats_url"] = bus.Redact(o.NATSURL)
	}
	return m
}

// find is the result of phase with n processes under test (any number,
// for n 0).
func (r *Report) find(phase string, n int) *Result {
	for i := range r.Results {
		if res := &r.Results[i]; res.Phase == phase && (n == 0 || res.Processes == n) {
			return res
		}
	}
	return nil
}

// multi reports whether the run had several counts of processes, or more
// than one process.
func (r *Report) multi() bool {
	for _, res := range r.Results {
		if res.Processes > 1 {
			return true
		}
	}
	return false
}

// The goals of the benchmark issue, for 4 peers with typical policies
// and 500-record batches on a 2-core machine.
const (
	goalRecords     = 500_000
	goalDeliveries  = 2_000_000
	goalOfRaw       = 0.5
	goalOfPerRecord = 10
	goalP99ms       = 100
	goalRSSMiB      = 300 // the switch alone
	// goalExchangeRSSMiB bounds the whole exchange (--exchange: server
	// and switch in one process, as serve runs).
	goalExchangeRSSMiB  = 512
	goalMicrosPerRecord = 2.5 // the switch's CPU per record, flat out
	// goalOfRawPerRecord: one record per message, the switch against the
	// bus's own limit for that shape.
	goalOfRawPerRecord = 0.8
)

// evaluate computes the ratios between phases (of the first count of
// processes), the scaling of each phase with its processes and, when the
// run has the shape, checks its goals.
func (r *Report) evaluate(o Options) {
	n := 0
	if len(o.Switches) > 0 {
		n = o.Switches[0]
	}
	sw, raw, per, half := r.find(PhaseSwitch, n), r.find(PhaseRaw, n), r.find(PhasePerRecord, n), r.find(PhaseHalf, n)
	r.Ratios = map[string]float64{}
	if sw != nil && raw != nil && raw.RecordsPerSec > 0 {
		r.Ratios["switch/raw"] = sw.RecordsPerSec / raw.RecordsPerSec
	}
	if sw != nil && per != nil && per.RecordsPerSec > 0 {
		r.Ratios["switch/per-record"] = sw.RecordsPerSec / per.RecordsPerSec
	}
	if rawPer := r.find(PhaseRawPerRecord, n); per != nil && rawPer != nil && rawPer.RecordsPerSec > 0 {
		r.Ratios["per-record/raw-per-record"] = per.RecordsPerSec / rawPer.RecordsPerSec
	}
	r.scale(o.Switches)
	if sw == nil || !slices.Equal(o.Policies, DefaultPolicies) || o.Batch != 500 || o.NATSURL != "" || len(o.Switches) > 1 || n > 1 {
		return // the goals are for one switch on the embedded server, 4 peers with the typical policies, 500-record batches
	}
	add := func(name, want string, got float64, met bool) {
		r.Targets = append(r.Targets, Target{Name: name, Want: want, Got: got, Met: met})
	}
	add("switch records/s in", fmt.Sprintf(">= %d", goalRecords), sw.RecordsPerSec, sw.RecordsPerSec >= goalRecords)
	add("switch deliveries/s out", fmt.Sprintf(">= %d", goalDeliveries), sw.DeliveriesPerSec, sw.DeliveriesPerSec >= goalDeliveries)
	if v, ok := r.Ratios["switch/raw"]; ok {
		add("switch / raw records/s", fmt.Sprintf(">= %.1f", goalOfRaw), v, v >= goalOfRaw)
	}
	if v, ok := r.Ratios["switch/per-record"]; ok {
		add("switch / per-record records/s", fmt.Sprintf(">= %d", goalOfPerRecord), v, v >= goalOfPerRecord)
	}
	if half != nil && half.Latency != nil {
		add("p99 latency at half rate, ms", fmt.Sprintf("<= %d", goalP99ms), half.Latency.P99, half.Latency.P99 <= goalP99ms)
	}
	if !o.Exchange {
		add("switch CPU µs per record", fmt.Sprintf("<= %.1f", goalMicrosPerRecord), sw.Child.MicrosPerRecord, sw.Child.MicrosPerRecord <= goalMicrosPerRecord)
	}
	if v, ok := r.Ratios["per-record/raw-per-record"]; ok {
		add("per-record / raw-per-record records/s", fmt.Sprintf(">= %.1f", goalOfRawPerRecord), v, v >= goalOfRawPerRecord)
	}
	if o.Exchange {
		add("exchange peak RSS, MiB", fmt.Sprintf("<= %d", goalExchangeRSSMiB), sw.Child.PeakRSSMiB, sw.Child.PeakRSSMiB <= goalExchangeRSSMiB)
	} else {
		add("switch peak RSS, MiB", fmt.Sprintf("<= %d", goalRSSMiB), sw.Child.PeakRSSMiB, sw.Child.PeakRSSMiB <= goalRSSMiB)
	}
}

// scale compares each flat-out result with the same phase run with the
// fewest processes, when the run had several counts (a paced phase's
// records/s are its rate).
func (r *Report) scale(counts []int) {
	if len(counts) < 2 {
		return
	}
	of := slices.Min(counts)
	for i := range r.Results {
		res := &r.Results[i]
		base := r.find(res.Phase, of)
		if base == nil || base.RecordsPerSec <= 0 || res.Processes < 1 || res.Rate > 0 {
			continue
		}
		t := res.RecordsPerSec / base.RecordsPerSec
		res.Scaling = &Scaling{Of: of, Throughput: t, Efficiency: t * float64(of) / float64(res.Processes)}
	}
}

// latencies joins what the sensors sent with what the observers saw.
func latencies(sent []sent, obs []*observer) *Latency {
	at := make(map[inputKey]int64, len(sent))
	for _, s := range sent {
		at[inputKey{s.sensor, s.seq}] = s.at
	}
	var ms []float64
	unmatched := 0
	for _, o := range obs {
		o.mu.Lock()
		unmatched += o.bad
		for _, a := range o.got {
			if t, ok := at[a.input]; ok {
				ms = append(ms, float64(a.at-t)/1e6)
			} else {
				unmatched++
			}
		}
		o.mu.Unlock()
	}
	if len(ms) == 0 {
		return nil
	}
	slices.Sort(ms)
	return &Latency{P50: quantile(ms, 0.5), P99: quantile(ms, 0.99), P999: quantile(ms, 0.999), Max: ms[len(ms)-1],
		Samples: len(ms), Unmatched: unmatched}
}

// quantile is the nearest-rank quantile of sorted values.
func quantile(sorted []float64, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted))+0.999999) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// line is a one-line summary, for progress; procs adds the count of
// processes under test.
func (r Result) line(procs bool) string {
	name, child := r.Phase, "child"
	if procs {
		name, child = fmt.Sprintf("%s x%d", r.Phase, r.Processes), fmt.Sprintf("%d children", r.Processes)
		if r.Processes == 1 {
			child = "1 child"
		}
	}
	s := fmt.Sprintf("%-12s %s records/s in, %s deliveries/s out over %.1fs", name,
		thousands(r.RecordsPerSec), thousands(r.DeliveriesPerSec), r.Seconds)
	if r.Latency != nil {
		s += fmt.Sprintf(", p50 %.1f ms, p99 %.1f ms", r.Latency.P50, r.Latency.P99)
	}
	return s + fmt.Sprintf(", %s %.1f CPU s (%.2f µs/record), %.0f MiB", child, r.Child.CPUSeconds, r.Child.MicrosPerRecord, r.Child.PeakRSSMiB)
}

// WriteTable prints the report for people.
func (r *Report) WriteTable(w io.Writer) error {
	m := r.Machine
	fmt.Fprintf(w, "machine: %s, %d CPUs, %d MiB, %s, %s\n", m.CPU, m.CPUs, m.MemoryMiB, m.OS, m.GoVersion)
	fmt.Fprintf(w, "run: %v sensors, %v peers (policies %v), %v-record %v batches, %v per phase\n",
		r.Options["sensors"], r.Options["peers"], r.Options["policies"], r.Options["batch"], r.Options["compression"], r.Options["duration"])
	if url, ok := r.Options["nats_url"]; ok {
		fmt.Fprintf(w, "cluster: %v, %v replicas per stream (its servers' CPU and memory are not measured here)\n", url, r.Options["replicas"])
	}
	fmt.Fprintln(w)
	if err := r.writeRows(w); err != nil {
		return err
	}
	r.writeNotes(w)
	if len(r.Targets) > 0 {
		fmt.Fprintf(w, "\ntargets (4 peers with typical policies, 500-record batches; this machine has %d CPUs):\n", m.CPUs)
		for _, t := range r.Targets {
			mark := "met"
			if !t.Met {
				mark = "MISSED"
			}
			fmt.Fprintf(w, "  %-32s %-12s %14s  %s\n", t.Name, t.Want, thousands(t.Got), mark)
		}
	}
	return nil
}

// writeRows prints a row per result; with several processes under test,
// their count and the scaling too.
func (r *Report) writeRows(w io.Writer) error {
	multi, of := r.multi(), 1
	for _, res := range r.Results {
		if res.Scaling != nil {
			of = res.Scaling.Of
		}
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	head := []string{"phase"}
	if multi {
		head = append(head, "procs")
	}
	head = append(head, "batch", "rate", "records/s in", "deliveries/s", "p50 ms", "p99 ms", "p99.9 ms", "child CPU s", "µs/record", "child RSS MiB", "bench CPU s", "repeats")
	if multi {
		head = append(head, fmt.Sprintf("vs %d", of), "efficiency")
	}
	fmt.Fprintln(tw, strings.Join(head, "\t")+"\t")
	for _, res := range r.Results {
		row := []string{res.Phase}
		if multi {
			row = append(row, strconv.Itoa(res.Processes))
		}
		rate := "max"
		if res.Rate > 0 {
			rate = thousands(res.Rate)
		}
		p50, p99, p999 := "-", "-", "-"
		if l := res.Latency; l != nil {
			p50, p99, p999 = fmt.Sprintf("%.1f", l.P50), fmt.Sprintf("%.1f", l.P99), fmt.Sprintf("%.1f", l.P999)
		}
		row = append(row, strconv.Itoa(res.Batch), rate, thousands(res.RecordsPerSec), thousands(res.DeliveriesPerSec), p50, p99, p999,
			fmt.Sprintf("%.1f", res.Child.CPUSeconds), fmt.Sprintf("%.2f", res.Child.MicrosPerRecord), fmt.Sprintf("%.0f", res.Child.PeakRSSMiB),
			fmt.Sprintf("%.1f", res.BenchCPU), fmt.Sprintf("%.1f", res.Repeats()))
		if multi {
			t, e := "-", "-"
			if sc := res.Scaling; sc != nil {
				t, e = fmt.Sprintf("%.2fx", sc.Throughput), fmt.Sprintf("%.0f%%", 100*sc.Efficiency)
			}
			row = append(row, t, e)
		}
		fmt.Fprintln(tw, strings.Join(row, "\t")+"\t")
	}
	return tw.Flush()
}

// writeNotes says what the columns measured.
func (r *Report) writeNotes(w io.Writer) {
	_, external := r.Options["nats_url"]
	switch {
	case r.Options["exchange"] == true:
		fmt.Fprintln(w, "\nchild: the exchange, server and switch in one process (raw: server and forwarder); CPU over the window.")
		fmt.Fprintln(w, "bench CPU: this process over the window: sensors, observers.")
	case external:
		fmt.Fprintln(w, "\nchild: the switch alone (raw: the forwarder); CPU over the window.")
		fmt.Fprintln(w, "bench CPU: this process over the window: sensors, observers (the cluster's servers are not measured).")
	default:
		fmt.Fprintln(w, "\nchild: the switch alone (raw: the forwarder); CPU over the window.")
		fmt.Fprintln(w, "bench CPU: this process over the window: the server, sensors, observers.")
	}
	if r.multi() {
		fmt.Fprintln(w, "procs: processes under test on the one durable consumer; their CPU and peak RSS are summed.")
		fmt.Fprintln(w, "vs N: records/s over the same phase's with the fewest (N) processes; efficiency: that ratio × N / procs.")
	}
	fmt.Fprintln(w, "raw deliveries count every record to every peer; the switch's, those its policies let through.")
	if len(r.Ratios) > 0 {
		fmt.Fprintln(w)
		for _, k := range []string{"switch/raw", "switch/per-record", "per-record/raw-per-record"} {
			if v, ok := r.Ratios[k]; ok {
				fmt.Fprintf(w, "%s: %.2fx\n", k, v)
			}
		}
	}
}

// thousands formats v with thousands separators; small values keep two
// decimals.
func thousands(v float64) string {
	if v < 100 {
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
	s := strconv.FormatInt(int64(v+0.5), 10)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}
