package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cofswitch/cofswitch/routing"
)

// TestPeerStreamDeletedUnderTheSwitch: an operator deletes one peer's
// stream while the exchange runs. The other peers get every record at
// once; the switch recreates the stream from its configuration, without a
// reload, and delivers what it parked meanwhile: every record reaches
// every peer exactly once.
func TestPeerStreamDeletedUnderTheSwitch(t *testing.T) {
	url, js, sw := serveExternal(t, `
sensors:
  - {id: s1, organisation: org-a}
peers:
  - {id: well, organisation: org-a, subscriptions: [{sensors: [s1]}]}
  - {id: sick, organisation: org-a, subscriptions: [{sensors: [s1]}]}
`)
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

// TestFullDiskLosesNothingAndHeals runs the exchange (embedded server) on
// a small file system, fills it with another file, and frees it again:
// every record that publish reported stored reaches every peer exactly
// once, and the exchange takes input again without a restart. It needs a
// small tmpfs mounted at COFSWITCH_TMPFS (.ci/run mounts one where the
// machine allows).
func TestFullDiskLosesNothingAndHeals(t *testing.T) {
	dir := os.Getenv("COFSWITCH_TMPFS")
	if dir == "" {
		t.Skip("COFSWITCH_TMPFS is not set: no small file system to fill (.ci/run mounts a tmpfs where it can)")
	}
	data, err := os.MkdirTemp(dir, "fulldisk-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(data)
	listen := freeAddr(t)
	url := "nats://" + listen
	cfg := writeFile(t, "c.yaml", fmt.Sprintf(`
nats: {auth: none, listen: %s}
streams:
  in: {max_bytes: 8MiB}
  peers: {max_bytes: 16MiB}
switch: {ack_wait: 2s, publish_timeout: 2s}
sensors:
  - {id: s1, organisation: org-a}
peers:
  - {id: a, organisation: org-a, subscriptions: [{sensors: [s1]}]}
  - {id: b, organisation: org-a, subscriptions: [{sensors: [s1]}]}
`, listen))
	sw := start(t, "serve", "--config", cfg, "--data", data)
	waitFor(t, "switch ready", 15*time.Second, func() bool { return contains(sw.output(), "exchange ready") })
	stored := 0
	publish := func(part int) int {
		f := writeFile(t, fmt.Sprintf("in%d.ndjson", part), plainLines(fmt.Sprintf("p%d-", part), 5000))
		_, stderr, code := run(t, nil, "publish", "--sensor", "s1", "--nats-url", url, "--batch", "100", "--timeout", "20s", f)
		switch m := storedRE.FindStringSubmatch(stderr); {
		case code == 0:
			stored += 5000
		case m != nil:
			n, _ := strconv.Atoi(m[1])
			stored += n
		default:
			t.Fatalf("publish %d: exit %d, %q", part, code, stderr)
		}
		t.Logf("publish %d: exit %d %q", part, code, strings.TrimSpace(stderr))
		return code
	}
	publish(0)
	// Another program fills the disk.
	filler := filepath.Join(dir, "filler")
	fill(t, filler)
	publish(1)
	os.Remove(filler)
	waitFor(t, "JetStream back", 30*time.Second, func() bool { return contains(sw.output(), "the exchange resumes") })
	time.Sleep(5 * time.Second)
	if code := publish(2); code != 0 {
		t.Errorf("after the disk was freed, publish exited %d: the exchange did not resume", code)
	}
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	waitFor(t, "input switched", 60*time.Second, func() bool { return inputMsgs(t, js) == 0 })
	for _, peer := range []string{"a", "b"} {
		seen := map[string]int{}
		for _, name := range readPeer(t, js, peer) {
			seen[name]++
		}
		dups := 0
		for _, c := range seen {
			dups += c - 1
		}
		if len(seen) < stored || dups != 0 {
			t.Errorf("%s: %d distinct records, %d duplicates; publish reported %d stored", peer, len(seen), dups, stored)
		}
	}
}

var storedRE = regexp.MustCompile(`(\d+) records in \d+ batches stored`)

// fill writes path until the file system is full.
func fill(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	for {
		if _, err := f.Write(buf); err != nil {
			return
		}
	}
}
