package integration

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/cofswitch/cofswitch/cof"
	"github.com/cofswitch/cofswitch/routing"
)

const holdYAML = `
switch:
  ack_wait: 2s
policies:
  hourly:
    tlp: AMBER
    transforms:
      coarsen_time: 2s
sensors:
  - {id: org-a-s1, organisation: org-a}
peers:
  - {id: held, organisation: org-b, subscriptions: [{sensors: ["org-a-*"], policy: hourly}]}
`

// TestHeldOutputSurvivesKill9 kills the switch with SIGKILL while it holds
// outputs and while it releases them, restarts it, and checks that the
// peer received every record exactly once, each with its count.
// COFSWITCH_CHAOS_RUNS sets the rounds of kills (default 4; run 20 by
// hand before a release).
func TestHeldOutputSurvivesKill9(t *testing.T) {
	kills := 4
	if v := os.Getenv("COFSWITCH_CHAOS_RUNS"); v != "" {
		kills, _ = strconv.Atoi(v)
	}
	srv, _, js := startServer(t)
	url := srv.ClientURL()
	data := t.TempDir()
	cfg := writeFile(t, "c.yaml", holdYAML)
	codec, _ := cof.NewCodec()
	defer codec.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := ensureStreams(ctx, js, cfg); err != nil {
		t.Fatal(err)
	}
	const batches, perBatch = 300, 200
	publish := func(from, to int) {
		for i := from; i < to; i++ {
			var body []byte
			for j := range perBatch {
				body = fmt.Appendf(body, `{"rrname":"k%d-%d.example","rrtype":"A","rdata":"93.184.%d.%d","time_first":1,"time_last":2,"count":%d}`+"\n", i, j, i%250, j%250+1, j+1)
			}
			m := nats.NewMsg(routing.InSubject("org-a-s1"))
			m.Data = body
			if _, err := js.PublishMsgAsync(m); err != nil {
				t.Fatal(err)
			}
		}
		select {
		case <-js.PublishAsyncComplete():
		case <-ctx.Done():
			t.Fatal("input not stored")
		}
	}
	// Input arrives between the kills too, so that every round has some
	// to hold and some to release.
	step := batches / (kills + 1)
	for k := range kills {
		publish(k*step, (k+1)*step)
		sw := start(t, "serve", "--config", cfg, "--data", data, "--nats-url", url)
		waitFor(t, "outputs held", 20*time.Second, func() bool { return streamMsgs(t, js, routing.HoldStream) > 0 })
		time.Sleep(time.Duration(rand.IntN(3000)) * time.Millisecond) // across a release or two
		_ = sw.cmd.Process.Signal(syscall.SIGKILL)
		<-sw.done
	}
	publish(kills*step, batches)
	sw := start(t, "serve", "--config", cfg, "--data", data, "--nats-url", url)
	waitFor(t, "input switched and released", 60*time.Second, func() bool {
		return inputMsgs(t, js) == 0 && streamMsgs(t, js, routing.HoldStream) == 0
	})
	if err := sw.stop(t, syscall.SIGTERM); err != nil {
		t.Errorf("final serve: %v", err)
	}
	counts := map[string]int64{}
	seen := 0
	for _, b := range readBatches(t, js, "held") {
		for _, r := range b.records {
			counts[r.RRName] += r.Count
			seen++
		}
	}
	if seen != batches*perBatch || len(counts) != batches*perBatch {
		t.Errorf("the peer got %d records for %d names, want %d exactly once", seen, len(counts), batches*perBatch)
	}
	var bad []string
	for name, c := range counts {
		var i, j int
		if _, err := fmt.Sscanf(name, "k%d-%d.example", &i, &j); err != nil || c != int64(j+1) {
			bad = append(bad, fmt.Sprintf("%s: count %d", name, c))
		}
	}
	slices.Sort(bad)
	if len(bad) > 0 {
		t.Errorf("%d records with a wrong count, e.g. %v", len(bad), bad[:min(5, len(bad))])
	}
}
