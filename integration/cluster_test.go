package integration

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cofswitch/cofswitch/cluster"
	"github.com/cofswitch/cofswitch/cof"
	"github.com/cofswitch/cofswitch/routing"
)

var natsServerBuild struct {
	once sync.Once
	path string
	err  error
}

// natsServerBinary builds the nats-server that go.mod names, once.
func natsServerBinary(t *testing.T) string {
	t.Helper()
	natsServerBuild.once.Do(func() {
		natsServerBuild.path = filepath.Join(filepath.Dir(binary), "nats-server")
		out, err := exec.Command("go", "build", "-o", natsServerBuild.path, "github.com/nats-io/nats-server/v2").CombinedOutput()
		if err != nil {
			natsServerBuild.err = fmt.Errorf("building nats-server: %v\n%s", err, out)
		}
	})
	if natsServerBuild.err != nil {
		t.Fatal(natsServerBuild.err)
	}
	return natsServerBuild.path
}

// natsCluster is three nats-server processes on loopback, configured by
// 'cofswitch cluster-init'.
type natsCluster struct {
	dir   string // cluster-init's
	urls  string
	confs []string
	nodes []*proc
}

func startNATSCluster(t *testing.T, replicas int, sensors, peers []string) *natsCluster {
	t.Helper()
	exe := natsServerBinary(t)
	base := t.TempDir()
	c := &natsCluster{dir: filepath.Join(base, "cluster")}
	args := []string{"cluster-init", "--dir", c.dir, "--store-dir", filepath.Join(base, "js"), "--replicas", strconv.Itoa(replicas)}
	var urls []string
	for i := range 3 {
		client, route := freePort(t), freePort(t)
		args = append(args, "--server", fmt.Sprintf("n%d=127.0.0.1:%d:%d", i+1, client, route))
		urls = append(urls, fmt.Sprintf("nats://127.0.0.1:%d", client))
		c.confs = append(c.confs, filepath.Join(c.dir, cluster.ServerConfig(fmt.Sprintf("n%d", i+1))))
	}
	for _, s := range sensors {
		args = append(args, "--sensor", s)
	}
	for _, p := range peers {
		args = append(args, "--peer", p)
	}
	if _, stderr, code := run(t, nil, args...); code != 0 {
		t.Fatalf("cluster-init: exit %d: %s", code, stderr)
	}
	c.urls = strings.Join(urls, ",")
	for i := range c.confs {
		c.nodes = append(c.nodes, startExe(t, exe, "-c", c.confs[i]))
	}
	js := c.switchJS(t)
	waitFor(t, "the JetStream cluster", 30*time.Second, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_, err := js.AccountInfo(ctx)
		return err == nil
	})
	return c
}

// restart starts node i again with its configuration and store.
func (c *natsCluster) restart(t *testing.T, i int) {
	c.nodes[i] = startExe(t, natsServerBinary(t), "-c", c.confs[i])
}

// switchJS connects with the switch's identity, which sees every stream.
func (c *natsCluster) switchJS(t *testing.T) jetstream.JetStream {
	t.Helper()
	opt, err := nats.NkeyOptionFromSeed(filepath.Join(c.dir, cluster.SwitchSeed))
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(c.urls, opt, nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond), nats.RetryOnFailedConnect(true))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// peerCount follows a peer's stream and counts each rrname it delivers.
type peerCount struct {
	mu     sync.Mutex
	names  map[string]int
	total  int
	lastAt time.Time
}

func countPeer(t *testing.T, js jetstream.JetStream, peer string) *peerCount {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	pc := &peerCount{names: map[string]int{}}
	var cons jetstream.Consumer
	waitFor(t, "the stream of "+peer, 30*time.Second, func() bool {
		var err error
		cons, err = js.OrderedConsumer(ctx, routing.PeerStream(peer), jetstream.OrderedConsumerConfig{})
		return err == nil
	})
	codec, _ := cof.NewCodec()
	br := codec.NewBatchReader()
	cc, err := cons.Consume(func(m jetstream.Msg) {
		enc, _ := cof.ParseEncoding(m.Headers().Get("Content-Encoding"))
		if err := br.Reset(m.Data(), enc); err != nil {
			t.Errorf("%s: %v", peer, err)
			return
		}
		pc.mu.Lock()
		defer pc.mu.Unlock()
		for br.Next() {
			if r := br.Record(); r != nil {
				pc.names[r.RRName]++
				pc.total++
			}
		}
		pc.lastAt = time.Now()
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Stop(); codec.Close() })
	return pc
}

func (pc *peerCount) count() (int, time.Time) {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	return pc.total, pc.lastAt
}

// exactlyOnce checks that names [from, to) of clusterRecords arrived
// once each, and nothing else.
func (pc *peerCount) exactlyOnce(t *testing.T, peer string, to int) {
	t.Helper()
	pc.mu.Lock()
	defer pc.mu.Unlock()
	missing, twice := 0, 0
	for i := range to {
		switch pc.names[clusterName(i)] {
		case 0:
			missing++
		case 1:
		default:
			twice++
		}
	}
	if missing > 0 || twice > 0 || len(pc.names) != to || pc.total != to {
		t.Errorf("%s: %d records, %d names of %d; %d missing, %d more than once", peer, pc.total, len(pc.names), to, missing, twice)
	}
}

func clusterName(i int) string { return fmt.Sprintf("h%d.z%d.cluster-test.net", i, i%1000) }

// clusterRecords writes records [from, to) to a file: one distinct name
// each, a public address, so that the share policy passes them all.
func clusterRecords(t *testing.T, from, to int) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), fmt.Sprintf("records-%d.ndjson", from))
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(f)
	for i := from; i < to; i++ {
		fmt.Fprintf(w, `{"rrname":%q,"rrtype":"A","rdata":"8.%d.%d.%d","time_first":1700000000,"time_last":1700000060,"count":1}`+"\n",
			clusterName(i), i>>16&255, i>>8&255, i&255)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	return path
}

// waitExit waits for a process that ends by itself, failing on a non-zero exit.
func (p *proc) waitExit(t *testing.T, what string, d time.Duration) {
	t.Helper()
	select {
	case <-p.done:
		if p.err != nil {
			t.Fatalf("%s: %v\n%s", what, p.err, p.output())
		}
	case <-time.After(d):
		t.Fatalf("%s did not end in %v\n%s", what, d, p.output())
	}
}

// TestClusterSurvivesNodeAndSwitchLoss runs the exchange as it scales:
// three nats-server processes in a cluster configured by 'cofswitch
// cluster-init' (R3 streams, made by 'serve' from streams.replicas), two
// 'serve' processes sharing the input, two peers of another organisation.
// A first wave measures records/s; during a second, one NATS node and one
// switch are killed (SIGKILL) and restarted; every record must reach
// each peer exactly once. Then the same first wave on R1 streams, for the
// cost of replication. 100,000 records a wave (1,000,000 with
// COFSWITCH_CHAOS).
func TestClusterSurvivesNodeAndSwitchLoss(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a three-node cluster")
	}
	n := 100_000
	if os.Getenv("COFSWITCH_CHAOS") != "" {
		n = 1_000_000
	}
	r3 := clusterWave(t, 3, n, true)
	r1 := clusterWave(t, 1, n, false)
	t.Logf("records/s, first wave of %d: R3 %.0f, R1 %.0f (R3/R1 %.2f)", n, r3, r1, r3/r1)
}

// clusterWave runs a cluster with the given replicas and returns the
// records/s of a first wave of n records; with chaos, a second wave of n
// loses a node and a switch on the way.
func clusterWave(t *testing.T, replicas, n int, chaos bool) float64 {
	c := startNATSCluster(t, replicas, []string{"s1@org-a"}, []string{"p1@org-b", "p2@org-c"})
	cfg := filepath.Join(c.dir, cluster.ConfigFile)
	serve := func(i int) *proc {
		args := []string{"serve", "--config", cfg, "--data", filepath.Join(c.dir, "..", fmt.Sprintf("switch-%d", i))}
		if i == 1 { // the servers named on the command line, or (switch 0) by the registry
			args = append(args, "--nats-url", c.urls)
		}
		p := start(t, args...)
		deadline := time.Now().Add(2 * time.Minute)
		began := time.Now()
		for !contains(p.output(), "exchange ready") {
			if time.Now().After(deadline) {
				_ = p.cmd.Process.Signal(syscall.SIGQUIT)
				time.Sleep(time.Second)
				t.Fatalf("switch %d not ready after 2 minutes:\n%s", i, p.output())
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Logf("switch %d ready in %v", i, time.Since(began).Round(time.Millisecond))
		return p
	}
	switches := []*proc{serve(0), serve(1)}
	// status reaches the cluster with the registry's servers and seed alone.
	if out, stderr, code := run(t, nil, "status", "--config", cfg); code != 0 || !contains(out, "p2") {
		t.Fatalf("status --config: exit %d: %s %s", code, out, stderr)
	}
	js := c.switchJS(t)
	peers := map[string]*peerCount{"p1": countPeer(t, js, "p1"), "p2": countPeer(t, js, "p2")}
	publish := func(from, to int) *proc {
		return start(t, "publish", "--sensor", "s1", "--nkey", filepath.Join(c.dir, cluster.SensorSeed("s1")),
			"--retry-for", "3m", "--nats-url", c.urls, clusterRecords(t, from, to))
	}
	arrived := func(want int) func() bool {
		return func() bool {
			for _, pc := range peers {
				if got, _ := pc.count(); got < want {
					return false
				}
			}
			return true
		}
	}
	began := time.Now()
	publish(0, n).waitExit(t, "publish", 5*time.Minute)
	waitFor(t, "the first wave at both peers", 5*time.Minute, arrived(n))
	var end time.Time
	for _, pc := range peers {
		if _, at := pc.count(); at.After(end) {
			end = at
		}
	}
	rate := float64(n) / end.Sub(began).Seconds()
	t.Logf("R%d: %d records to 2 peers in %v: %.0f records/s", replicas, n, end.Sub(began).Round(time.Millisecond), rate)
	if st, err := js.Stream(context.Background(), routing.PeerStream("p1")); err == nil {
		b := st.CachedInfo().State.Bytes
		t.Logf("R%d: PEER_p1 holds %d bytes for %d records (%.1f bytes a record, each of %d servers)", replicas, b, n, float64(b)/float64(n), replicas)
	}
	t.Logf("R%d: peak RSS of the servers %s, of the switches %s", replicas, peakRSS(c.nodes...), peakRSS(switches...))
	if !chaos {
		for id, pc := range peers {
			pc.exactlyOnce(t, id, n)
		}
		return rate
	}

	pub := publish(n, 2*n)
	waitFor(t, "a third of the second wave", 5*time.Minute, arrived(n+n/3))
	_ = c.nodes[1].stop(t, syscall.SIGKILL)
	_ = switches[0].stop(t, syscall.SIGKILL)
	t.Logf("killed node n2 and switch 0 with %d records of %d delivered", func() int { got, _ := peers["p1"].count(); return got }(), 2*n)
	time.Sleep(2 * time.Second)
	c.restart(t, 1)
	switches[0] = serve(0)
	pub.waitExit(t, "publish across the kills", 5*time.Minute)
	waitFor(t, "the second wave at both peers", 5*time.Minute, arrived(2*n))
	time.Sleep(2 * time.Second) // a duplicate would come now
	for id, pc := range peers {
		pc.exactlyOnce(t, id, 2*n)
	}
	return rate
}

// TestClusterExampleConfigs: the cluster's example configurations in
// deploy/cluster are ones nats-server accepts, hold no route secret, and
// grant the accounts that the example registry's 'nats-config' prints
// (they are not stale).
func TestClusterExampleConfigs(t *testing.T) {
	exe := natsServerBinary(t)
	accountsOf := func(text string) string {
		i := strings.Index(text, "system_account:")
		j := strings.Index(text[max(i, 0):], "\n}\n")
		if i < 0 || j < 0 {
			t.Fatalf("no accounts block in:\n%s", text)
		}
		return text[i : i+j+3]
	}
	var want string
	for n := 1; n <= 3; n++ {
		path := fmt.Sprintf("../deploy/cluster/nats-%d.conf", n)
		if out, err := exec.Command(exe, "-t", "-c", path).CombinedOutput(); err != nil {
			t.Errorf("nats-server -t -c %s: %v\n%s", path, err, out)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		text := string(b)
		if !strings.Contains(text, "CHANGE-ME") || !strings.Contains(text, fmt.Sprintf(`server_name: "nats-%d"`, n)) {
			t.Errorf("%s: no placeholder route password, or not server nats-%d", path, n)
		}
		if want == "" {
			_, rest, _ := strings.Cut(text, `EXCHANGE {`)
			_, rest, _ = strings.Cut(rest, `nkey: "`)
			key, _, _ := strings.Cut(rest, `"`)
			out, stderr, code := run(t, nil, "nats-config", "--config", "../deploy/cluster/cofswitch.yaml", "--switch-nkey", key)
			if code != 0 {
				t.Fatalf("nats-config: %s", stderr)
			}
			want = accountsOf(out)
		}
		if got := accountsOf(text); got != want {
			t.Errorf("%s: its accounts are not what nats-config prints for deploy/cluster/cofswitch.yaml: regenerate (deploy/cluster/README.md)", path)
		}
	}
}

// peakRSS reads the peak resident set of each process (Linux), for the
// sizing in the README.
func peakRSS(ps ...*proc) string {
	var out []string
	for _, p := range ps {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
		if err != nil {
			return "unknown"
		}
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
				out = append(out, strings.TrimSpace(v))
			}
		}
	}
	return strings.Join(out, ", ")
}
