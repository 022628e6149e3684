package bench

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/cofswitch/cofswitch/config"
	"github.com/cofswitch/cofswitch/switch/engine"
	"github.com/cofswitch/cofswitch/switch/exchange"
)

// childEnv makes this test binary the process under test, as
// "cofswitch bench switch|forward" would be, so that Run can be tested in
// process (and under the race detector) without building cofswitch.
const childEnv = "COFSWITCH_BENCH_TEST_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		os.Exit(testChild(os.Args[1:]))
	}
	os.Exit(m.Run())
}

// testChild parses what runPhase passes: bench KIND (--data DIR |
// --nats-url URL) --config FILE --workers N [--cpuprofile FILE].
func testChild(args []string) int {
	if len(args) < 2 || args[0] != "bench" {
		fmt.Fprintln(os.Stderr, "test child: want bench KIND FLAGS, got", args)
		return 2
	}
	fs := flag.NewFlagSet("child", flag.ContinueOnError)
	url := fs.String("nats-url", "", "")
	data := fs.String("data", "", "")
	path := fs.String("config", "", "")
	workers := fs.Int("workers", 0, "")
	fs.String("cpuprofile", "", "")
	if err := fs.Parse(args[2:]); err != nil {
		return 2
	}
	cfg, err := config.Load(*path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	cfg.Switch.Workers = *workers
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	// As cofswitch's main: a second signal kills.
	context.AfterFunc(ctx, stop)
	var nc *nats.Conn
	if *data != "" {
		b, err := StartEmbedded(ctx, cfg, *data)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer b.Close()
		nc, *url = b.NC, b.URL
	} else if nc, err = nats.Connect(*url); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	log := slog.New(slog.DiscardHandler)
	secret, err := exchange.Secret(cfg.Switch, *data)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	opts := []engine.Option{engine.WithLogger(log), engine.WithWorkers(*workers), engine.WithSecret(secret), engine.WithTrace()}
	if err := ServeChild(ctx, args[1], nc, *url, cfg, opts, os.Stdout, log); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// TestRun runs every phase in process, with this test binary as the
// child: the sensors, the gate, the observers, the latency join, the
// counts checked against the child's, the report.
func TestRun(t *testing.T) {
	t.Setenv(childEnv, "1")
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for _, exchange := range []bool{false, true} {
		t.Run(fmt.Sprintf("exchange=%v", exchange), func(t *testing.T) { testRun(t, exe, exchange) })
	}
}

func testRun(t *testing.T, exe string, exchange bool) {
	rep, err := Run(context.Background(), Options{Exe: exe, Dir: t.TempDir(), Sensors: 2, Policies: DefaultPolicies,
		Batch: 50, Duration: 300 * time.Millisecond, Pool: 2000, Seed: 7, Exchange: exchange})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Results) != len(DefaultPhases) {
		t.Fatalf("%d results", len(rep.Results))
	}
	for _, r := range rep.Results {
		if r.Records == 0 || r.Deliveries == 0 || r.Seconds <= 0 || r.Child.PeakRSSMiB <= 0 || r.Child.CPUSeconds <= 0 {
			t.Errorf("%s: %+v", r.Phase, r)
		}
		if r.Latency != nil && (r.Latency.Unmatched != 0 || r.Latency.Samples == 0) {
			t.Errorf("%s: latency %+v", r.Phase, r.Latency)
		}
	}
	if half := rep.find(PhaseHalf, 1); half.Latency == nil || half.Rate <= 0 {
		t.Errorf("half: %+v", half)
	}
	// The batch phases compare their figures with the goals; this run is
	// not of their shape (50-record batches): ratios, no verdicts.
	if len(rep.Targets) != 0 || rep.Ratios["switch/raw"] <= 0 || rep.Ratios["per-record/raw-per-record"] <= 0 {
		t.Errorf("targets %v, ratios %v", rep.Targets, rep.Ratios)
	}
}

// TestRunChildFails: a child that cannot start ends the run with its
// reason.
func TestRunChildFails(t *testing.T) {
	t.Setenv(childEnv, "1")
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	_, err = Run(context.Background(), Options{Exe: exe, Dir: t.TempDir(), Sensors: 1, Policies: []string{"pass"},
		Batch: 10, Duration: time.Second, Pool: 100, Workers: 2000, Phases: []string{PhaseSwitch}})
	if err == nil || !strings.Contains(err.Error(), "workers 2000") {
		t.Errorf("got %v, want the child's complaint about its workers", err)
	}
}
