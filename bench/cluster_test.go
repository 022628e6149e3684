package bench

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cofswitch/cofswitch/bus"
	"github.com/cofswitch/cofswitch/bus/bustest"
)

// TestRunCluster runs the switch phase on a 3-node cluster in this
// process, with R3 streams, once with one switch process and once with
// two on the one consumer: a row each, the scaling against one, and no
// stream of the exchange left on the cluster.
func TestRunCluster(t *testing.T) {
	t.Setenv(childEnv, "1")
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	_, urls := bustest.Cluster(t, 3)
	var progress strings.Builder
	rep, err := Run(context.Background(), Options{Exe: exe, Dir: t.TempDir(), Sensors: 2, Policies: DefaultPolicies,
		Batch: 50, Duration: time.Second, Pool: 2000, Seed: 7, Phases: []string{PhaseSwitch},
		NATSURL: urls, Replicas: 3, Switches: []int{1, 2}, Progress: &progress})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Results) != 2 {
		t.Fatalf("%d results, want 2", len(rep.Results))
	}
	for i, r := range rep.Results {
		if r.Processes != i+1 || r.Records == 0 || r.Deliveries == 0 || r.Child.CPUSeconds <= 0 || r.Child.PeakRSSMiB <= 0 ||
			r.Scaling == nil || r.Scaling.Of != 1 || r.Latency == nil || r.Latency.Unmatched != 0 {
			t.Errorf("result %d: %+v, scaling %+v", i, r, r.Scaling)
		}
	}
	if sc := rep.Results[0].Scaling; sc.Throughput != 1 || sc.Efficiency != 1 {
		t.Errorf("one process against itself: %+v", sc)
	}
	if len(rep.Targets) != 0 {
		t.Errorf("targets judged on a cluster run: %v", rep.Targets)
	}
	var table strings.Builder
	if err := rep.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"cluster: nats://", "3 replicas", "procs", "vs 1", "efficiency", "100%"} {
		if !strings.Contains(table.String(), s) {
			t.Errorf("table lacks %q:\n%s", s, table.String())
		}
	}
	if !strings.Contains(progress.String(), "switch x2") || !strings.Contains(progress.String(), "2 children") {
		t.Errorf("progress:\n%s", progress.String())
	}
	nc, err := nats.Connect(urls)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	// A deletion is acknowledged by the meta leader; a server that lists
	// may learn of it a moment later on a loaded machine.
	var left []string
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		left = left[:0]
		names := js.StreamNames(context.Background())
		for name := range names.Name() {
			left = append(left, name)
		}
		if err := names.Err(); err != nil {
			t.Fatal(err)
		}
		if len(left) == 0 || time.Now().After(deadline) {
			break
		}
	}
	for _, name := range left {
		t.Errorf("stream %s left on the cluster", name)
	}
}

// TestClearStreams: what a dead run left is deleted; an exchange's
// stream without the mark, or a benchmark's input still pulled, stops the
// run before it deletes anything; streams of other names are not the
// benchmark's business.
func TestClearStreams(t *testing.T) {
	_, _, js := bustest.Server(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	mk := func(name string, marked bool) jetstream.Stream {
		t.Helper()
		sc := jetstream.StreamConfig{Name: name, Subjects: []string{strings.ToLower(name)}}
		if marked {
			sc.Metadata = map[string]string{markKey: "elsewhere pid 1"}
		}
		s, err := js.CreateStream(ctx, sc)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	exists := func(name string) bool {
		_, err := js.Stream(ctx, name)
		return err == nil
	}
	mk("COF_IN_bench-s1", true)
	mk("COF_DLQ", true)
	mk("ORDERS", false)
	if err := clearStreams(ctx, js); err != nil {
		t.Fatal(err)
	}
	if exists("COF_IN_bench-s1") || exists("COF_DLQ") || !exists("ORDERS") {
		t.Error("leftovers kept, or another stream deleted")
	}

	mk("COF_IN_bench-s1", true)
	mk("PEER_acme", false)
	if err := clearStreams(ctx, js); err == nil || !strings.Contains(err.Error(), "holds an exchange's streams (PEER_acme)") {
		t.Errorf("foreign stream: %v", err)
	}
	if !exists("COF_IN_bench-s1") || !exists("PEER_acme") {
		t.Error("a refused clear deleted streams")
	}
	if err := js.DeleteStream(ctx, "PEER_acme"); err != nil {
		t.Fatal(err)
	}

	s, _ := js.Stream(ctx, "COF_IN_bench-s1")
	cons, err := s.CreateConsumer(ctx, jetstream.ConsumerConfig{Durable: "switch", AckPolicy: jetstream.AckExplicitPolicy})
	if err != nil {
		t.Fatal(err)
	}
	pctx, stopPull := context.WithCancel(ctx)
	defer stopPull()
	go func() { _, _ = cons.Fetch(1, jetstream.FetchContext(pctx)) }()
	for ctx.Err() == nil {
		if info, err := cons.Info(ctx); err == nil && info.NumWaiting > 0 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := clearStreams(ctx, js); err == nil || !strings.Contains(err.Error(), "(elsewhere pid 1) is in use") {
		t.Errorf("stream in use: %v", err)
	}
	if !exists("COF_IN_bench-s1") {
		t.Error("a stream in use was deleted")
	}
}

// TestRunClusterRefused: a cluster that does not answer, or asks for
// credentials, ends the run at once with the reason.
func TestRunClusterRefused(t *testing.T) {
	auth, err := bus.StartServer(bus.ServerConfig{Listen: "127.0.0.1:0", StoreDir: t.TempDir(),
		Config: "authorization { user: a, password: b }"})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { auth.Shutdown(); auth.WaitForShutdown() }()
	srv, _, _ := bustest.Server(t)
	url := srv.ClientURL()
	srv.Shutdown()
	srv.WaitForShutdown()
	for _, tc := range []struct {
		name, url, want string
	}{
		{name: "nothing listening", url: url, want: "no servers available"},
		{name: "authentication", url: auth.ClientURL(), want: "Authorization Violation"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Run(context.Background(), Options{Exe: "/bin/true", Sensors: 1, Policies: []string{"pass"}, Batch: 10,
				Duration: time.Second, Pool: 100, Phases: []string{PhaseSwitch}, NATSURL: tc.url})
			if err == nil || errors.Is(err, ErrOptions) || !strings.Contains(err.Error(), "cannot connect to the NATS cluster") ||
				!strings.Contains(err.Error(), "without authentication") || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want a refusal with %q", err, tc.want)
			}
		})
	}
}
