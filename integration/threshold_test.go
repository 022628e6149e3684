package integration

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/cofswitch/cofswitch/routing"
)

const thresholdYAML = `
switch:
  ack_wait: 2s
policies:
  k3:
    tlp: AMBER
    threshold: {min_sensors: 3, min_organisations: 2, window: 1h}
    transforms:
      truncate_ip: {ipv4: 24, ipv6: 48}
sensors:
  - {id: s1, organisation: org-a}
  - {id: s2, organisation: org-a}
  - {id: s3, organisation: org-b}
peers:
  - {id: k, organisation: org-c, subscriptions: [{sensors: ["*"], policy: k3}]}
`

// TestThresholdSurvivesKill9 runs serve on a live exchange with a k-sensor
// threshold (3 sensors, 2 organisations) and kills it with SIGKILL while
// rrsets cross the threshold. Names that s3 also sees must reach the peer
// with every observation of every sensor exactly once (counts summed over
// what was released and what came at once); names that only the two
// sensors of one organisation see never leave. COFSWITCH_CHAOS_RUNS sets
// the rounds of kills (default 3).
func TestThresholdSurvivesKill9(t *testing.T) {
	kills := 3
	if v := os.Getenv("COFSWITCH_CHAOS_RUNS"); v != "" {
		kills, _ = strconv.Atoi(v)
	}
	srv, _, js := startServer(t)
	url := srv.ClientURL()
	data := t.TempDir()
	cfg := writeFile(t, "c.yaml", thresholdYAML)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	if err := ensureStreams(ctx, js, cfg); err != nil {
		t.Fatal(err)
	}
	const names, repeats = 600, 3
	want := map[string]int64{} // name+" "+sensor -> count sent
	// Round r covers names n<r>-*: each sensor sends them repeats times,
	// interleaved, so that they cross the threshold while serve runs.
	publish := func(r int) {
		for rep := range repeats {
			for _, s := range []string{"s1", "s2", "s3"} {
				var body []byte
				for i := range names {
					if s == "s3" && i%2 == 1 {
						continue // odd names: org-a alone
					}
					name := fmt.Sprintf("n%d-%d.example", r, i)
					body = fmt.Appendf(body, `{"rrname":%q,"rrtype":"A","rdata":"198.51.100.%d","time_first":%d,"time_last":%d,"count":%d}`+"\n",
						name, i%250+1, 1700000000+rep, 1700000100+rep, rep+1)
					want[name+" "+s] += int64(rep + 1)
				}
				m := nats.NewMsg(routing.InSubject(s))
				m.Data = body
				if _, err := js.PublishMsgAsync(m); err != nil {
					t.Fatal(err)
				}
			}
		}
		select {
		case <-js.PublishAsyncComplete():
		case <-ctx.Done():
			t.Fatal("input not stored")
		}
	}
	for k := range kills {
		publish(k)
		before := streamMsgs(t, js, routing.PeerStream("k"))
		sw := start(t, "serve", "--config", cfg, "--data", data, "--nats-url", url)
		waitFor(t, "a release", 30*time.Second, func() bool { return streamMsgs(t, js, routing.PeerStream("k")) > before })
		time.Sleep(time.Duration(rand.IntN(300)) * time.Millisecond)
		_ = sw.cmd.Process.Signal(syscall.SIGKILL)
		<-sw.done
		t.Logf("killed with %d input batches left, %d messages at the peer", inputMsgs(t, js), streamMsgs(t, js, routing.PeerStream("k")))
	}
	publish(kills)
	sw := start(t, "serve", "--config", cfg, "--data", data, "--nats-url", url)
	expected := 0
	for k := range want {
		if isEven(k) {
			expected++
		}
	}
	var got map[string]int64
	waitFor(t, "every released observation", 90*time.Second, func() bool {
		if inputMsgs(t, js) != 0 {
			return false
		}
		got = map[string]int64{}
		for _, b := range readBatches(t, js, "k") {
			for _, r := range b.records {
				got[r.RRName+" "+r.SensorID] += r.Count
			}
		}
		return len(got) >= expected
	})
	time.Sleep(3 * time.Second) // an ack wait: redeliveries would show now
	if err := sw.stop(t, syscall.SIGTERM); err != nil {
		t.Errorf("final serve: %v", err)
	}
	got = map[string]int64{}
	for _, b := range readBatches(t, js, "k") {
		for _, r := range b.records {
			got[r.RRName+" "+r.SensorID] += r.Count
			if r.RData[0] != fmt.Sprintf("198.51.100.0") {
				t.Fatalf("released record not transformed by the policy: %+v", r)
			}
		}
	}
	bad := 0
	for k, c := range want {
		switch {
		case !isEven(k) && got[k] != 0:
			t.Errorf("%s reached the peer, seen by one organisation", k)
			bad++
		case isEven(k) && got[k] != c:
			t.Errorf("%s: count %d at the peer, want %d: each observation once", k, got[k], c)
			bad++
		}
		if bad > 10 {
			t.FailNow()
		}
	}
}

// isEven says whether a "n<round>-<i>.example sensor" key names an even i.
func isEven(k string) bool {
	var r, i int
	fmt.Sscanf(k, "n%d-%d.example", &r, &i)
	return i%2 == 0
}
