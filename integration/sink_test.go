package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/cofswitch/cofswitch/cof"
	"github.com/cofswitch/cofswitch/peers/sink"
	"github.com/cofswitch/cofswitch/routing"
	"github.com/cofswitch/cofswitch/switch/exchange"
)

// TestFileSinkSurvivesKill9: the file sink is killed with SIGKILL twice
// while it delivers; after restarts every record is in the files (some may
// be there twice: acked-after-fsync is at-least-once), and the files are
// whole.
func TestFileSinkSurvivesKill9(t *testing.T) {
	srv, _, js := startServer(t)
	url := srv.ClientURL()
	if err := ensureStreams(t.Context(), js, writeFile(t, "c.yaml", exchangeYAML)); err != nil {
		t.Fatal(err)
	}
	codec, _ := cof.NewCodec()
	defer codec.Close()
	const batches, per = 600, 50
	for i := range batches {
		var body []byte
		for j := range per {
			body = fmt.Appendf(body, `{"rrname":"s%d-%d.example","rrtype":"A","rdata":["192.0.2.1"],"time_first":1,"time_last":2}`+"\n", i, j)
		}
		m := natsMsgZstd(codec, routing.OutSubject("peer-hub"), body)
		m.Header.Set("Cofswitch-Records", fmt.Sprint(per))
		if _, err := js.PublishMsgAsync(m); err != nil {
			t.Fatal(err)
		}
	}
	<-js.PublishAsyncComplete()
	// A short ack wait, so that what a killed sink held comes back soon.
	cc := exchange.PeerConsumerConfig("sink")
	cc.AckWait = 2 * time.Second
	cons, err := js.CreateOrUpdateConsumer(t.Context(), routing.PeerStream("peer-hub"), cc)
	if err != nil {
		t.Fatal(err)
	}
	info := func() *jetstream.ConsumerInfo {
		ci, err := cons.Info(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		return ci
	}
	acked := func() uint64 { return info().AckFloor.Stream }
	dir := filepath.Join(t.TempDir(), "out")
	args := []string{"sink", "--peer", "peer-hub", "--to", "file:" + dir, "--nats-url", url, "--rotate-bytes", "65536"}
	for kill := 0; kill < 2; kill++ {
		before := info().Delivered.Consumer
		p := start(t, args...)
		waitFor(t, "deliveries", 20*time.Second, func() bool { return info().Delivered.Consumer > before+50 })
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
		<-p.done
	}
	if acked() >= batches {
		t.Fatal("the sink finished before the second kill: make the input larger")
	}
	p := start(t, args...)
	waitFor(t, "all delivered", 60*time.Second, func() bool { return acked() == batches })
	if err := p.stop(t, syscall.SIGTERM); err != nil {
		t.Errorf("sink after SIGTERM: %v", err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "cof-*"))
	seen := map[string]int{}
	for _, f := range files {
		if !strings.HasSuffix(f, ".ndjson.zst") {
			t.Errorf("unfinished file after a clean stop: %s", f)
		}
		data, err := sink.ReadFile(f)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
			r, err := cof.Parse([]byte(line))
			if err != nil {
				t.Fatalf("%s holds an invalid line: %v", f, err)
			}
			seen[r.RRName]++
		}
	}
	dups := 0
	for _, n := range seen {
		dups += n - 1
	}
	if len(seen) != batches*per {
		t.Fatalf("%d distinct records in %d files, want %d: records were lost", len(seen), len(files), batches*per)
	}
	t.Logf("%d records in %d files after 2 kills; %d written twice (delivered again after a kill)", len(seen), len(files), dups)
	_ = os.RemoveAll(dir)
}
