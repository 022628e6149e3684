package integration

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/cofswitch/cofswitch/routing"
)

func plainLines(prefix string, n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, `{"rrname":"%s%d.example","rrtype":"A","rdata":"192.0.2.1","time_first":1,"time_last":2}`+"\n", prefix, i)
	}
	return b.String()
}

// TestPublishSkipsAnOverSizeLine: a 10 MB line in the middle of a file is
// reported with its place and size, and the lines after it are sent.
func TestPublishSkipsAnOverSizeLine(t *testing.T) {
	srv, _, js := startServer(t)
	if _, err := js.CreateStream(t.Context(), jetstream.StreamConfig{Name: "IN", Subjects: []string{routing.InSubject("s1")}}); err != nil {
		t.Fatal(err)
	}
	f := writeFile(t, "big.ndjson", plainLines("a", 3)+strings.Repeat("x", 10<<20)+"\n"+plainLines("b", 4))
	_, stderr, code := run(t, nil, "publish", "--sensor", "s1", "--nats-url", srv.ClientURL(), "--batch", "2", f)
	if code != 1 || !contains(stderr, "7 records") || !contains(stderr, "big.ndjson:4, 10485761 bytes") {
		t.Errorf("exit %d, stderr %q: want exit 1, 7 records stored and big.ndjson:4 named", code, stderr)
	}
}

// TestPublishStopsOnSIGINT: publishing into an input that refuses (full,
// discard new), SIGINT ends the command within seconds, with its summary
// and where to resume.
func TestPublishStopsOnSIGINT(t *testing.T) {
	srv, _, js := startServer(t)
	if _, err := js.CreateStream(t.Context(), jetstream.StreamConfig{Name: "IN", Subjects: []string{routing.InSubject("s1")},
		MaxMsgs: 2, Discard: jetstream.DiscardNew}); err != nil {
		t.Fatal(err)
	}
	f := writeFile(t, "in.ndjson", plainLines("a", 20000))
	p := start(t, "publish", "--sensor", "s1", "--nats-url", srv.ClientURL(), "--batch", "100", "--max-pending", "4", f)
	time.Sleep(1500 * time.Millisecond)
	sent := time.Now()
	err := p.stop(t, syscall.SIGINT)
	if took := time.Since(sent); took > 2500*time.Millisecond {
		t.Errorf("SIGINT took %v to end publish", took)
	}
	out := p.output()
	if err == nil || !contains(out, "interrupted: 200 records in 2 batches stored") || !contains(out, "resume from "+f+":201") {
		t.Errorf("exit %v, output %q", err, out)
	}
}

// TestRepublishAfterKillStoresOnce: a publish killed halfway, then the
// same file published again: every record reaches the peer exactly once,
// and the second run reports the batches already stored.
func TestRepublishAfterKillStoresOnce(t *testing.T) {
	url, js, _ := serveExternal(t, `
sensors:
  - {id: s1, organisation: org-a}
peers:
  - {id: p, organisation: org-a, subscriptions: [{sensors: [s1]}]}
`)
	const n = 60000
	f := writeFile(t, "in.ndjson", plainLines("r", n))
	first := start(t, "publish", "--sensor", "s1", "--nats-url", url, "--batch", "100", "--max-pending", "2", f)
	waitFor(t, "some batches stored", 20*time.Second, func() bool { return streamMsgs(t, js, routing.PeerStream("p")) > 20 })
	_ = first.cmd.Process.Signal(syscall.SIGKILL)
	<-first.done
	if streamMsgs(t, js, routing.PeerStream("p")) >= n/100 {
		t.Fatal("the first publish finished before it was killed: make the file larger")
	}
	_, stderr, code := run(t, nil, "publish", "--sensor", "s1", "--nats-url", url, "--batch", "100", f)
	if code != 0 || !contains(stderr, "were already stored") {
		t.Errorf("second publish: exit %d, %q", code, stderr)
	}
	waitFor(t, "input switched", 30*time.Second, func() bool { return inputMsgs(t, js) == 0 })
	names := readPeer(t, js, "p")
	seen := map[string]int{}
	for _, name := range names {
		seen[name]++
	}
	dups := 0
	for _, c := range seen {
		dups += c - 1
	}
	if len(seen) != n || dups != 0 {
		t.Errorf("the peer has %d distinct records and %d duplicates, want %d exactly once", len(seen), dups, n)
	}
}

// TestOperatorReadsEveryDeadLetter: 'cofswitch dlq' shows the operator
// every sensor's dead letters (or one sensor's), read-only.
func TestOperatorReadsEveryDeadLetter(t *testing.T) {
	url, js, _ := serveExternal(t, `
sensors:
  - {id: s1, organisation: org-a}
  - {id: s2, organisation: org-a}
peers:
  - {id: p, organisation: org-a, subscriptions: [{sensors: [s1, s2]}]}
`)
	for _, s := range []string{"s1", "s2"} {
		f := writeFile(t, s+".ndjson", plainLines(s, 2)+"not json\n"+`{"rrname":"x.example","rrtype":"A","rdata":"192.0.2.300","time_first":1,"time_last":2}`+"\n")
		run(t, nil, "publish", "--sensor", s, "--nats-url", url, f)
	}
	waitFor(t, "input switched", 15*time.Second, func() bool { return inputMsgs(t, js) == 0 })
	out, stderr, code := run(t, nil, "dlq", "--nats-url", url, "--wait", "500ms")
	if code != 0 || strings.Count(out, "\n") != 4 || !contains(out, `"kind":"bad_rdata"`) || !contains(out, `"sensor":"s2"`) {
		t.Errorf("dlq: exit %d, %q %s", code, out, stderr)
	}
	out, _, _ = run(t, nil, "dlq", "--nats-url", url, "--sensor", "s1", "--wait", "500ms")
	if strings.Count(out, "\n") != 2 || contains(out, `"sensor":"s2"`) {
		t.Errorf("dlq --sensor s1: %q", out)
	}
	// Read-only: a second look sees the same.
	if again, _, _ := run(t, nil, "dlq", "--nats-url", url, "--wait", "500ms"); strings.Count(again, "\n") != 4 {
		t.Errorf("a second dlq saw %d entries", strings.Count(again, "\n"))
	}
}
