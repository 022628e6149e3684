package integration

import (
	"fmt"
	"testing"
	"time"

	"github.com/cofswitch/cofswitch/routing"
)

// TestPeerStreamDeletedUnderTheSwitch: an operator deletes one peer's
// stream while the exchange runs. The other peers get every record at
// once; the switch recreates the stream from its configuration, without a
// reload, and delivers what it parked meanwhile: every record reaches
// every peer exactly once.
func TestPeerStreamDeletedUnderTheSwitch(t *testing.T) {
	srv, _, js := startServer(t)
	url := srv.ClientURL()
	cfg := writeFile(t, "c.yaml", `
sensors:
  - {id: s1, organisation: org-a}
peers:
  - {id: well, organisation: org-a, subscriptions: [{sensors: [s1]}]}
  - {id: sick, organisation: org-a, subscriptions: [{sensors: [s1]}]}
`)
	sw := start(t, "serve", "--config", cfg, "--data", t.TempDir(), "--nats-url", url)
	waitFor(t, "switch ready", 15*time.Second, func() bool { return contains(sw.output(), "exchange ready") })
	if err := js.DeleteStream(t.Context(), routing.PeerStream("sick")); err != nil {
		t.Fatal(err)
	}
	const n = 20000
	for part := range 4 {
		f := writeFile(t, fmt.Sprintf("in%d.ndjson", part), plainLines(fmt.Sprintf("p%d-", part), n/4))
		if _, stderr, code := run(t, nil, "publish", "--sensor", "s1", "--nats-url", url, f); code != 0 {
			t.Fatalf("publish: %s", stderr)
		}
	}
	waitFor(t, "every peer served", 30*time.Second, func() bool {
		return inputMsgs(t, js) == 0 && streamMsgs(t, js, routing.HoldStream) == 0 && contains(sw.output(), "peer stream recreated")
	})
	for _, peer := range []string{"well", "sick"} {
		seen := map[string]int{}
		for _, name := range readPeer(t, js, peer) {
			seen[name]++
		}
		dups := 0
		for _, c := range seen {
			dups += c - 1
		}
		if len(seen) != n || dups != 0 {
			t.Errorf("%s: %d distinct records, %d duplicates; want %d exactly once", peer, len(seen), dups, n)
		}
	}
	if !contains(sw.output(), "outputs are parked") {
		t.Error("no warning that the peer's outputs were parked")
	}
}
