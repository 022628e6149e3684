package integration

import (
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cofswitch/cofswitch/routing"
)

// TestReloadOnHUP: a new peer added to the config file starts receiving
// after SIGHUP; an invalid file is refused and the running registry stays.
func TestReloadOnHUP(t *testing.T) {
	srv, _, js := startServer(t)
	url := srv.ClientURL()
	data := t.TempDir() // the switch keeps its secret here
	cfg := writeFile(t, "cofswitch.yaml", exchangeYAML)
	sw := start(t, "serve", "--config", cfg, "--data", data, "--nats-url", url)
	waitFor(t, "switch ready", 15*time.Second, func() bool { return contains(sw.output(), "exchange ready") })
	n := 0
	publish := func() {
		t.Helper()
		// A new record each time: the same batch again would be a
		// duplicate of the first (batch ids are the hash of the lines).
		n++
		rec := fmt.Sprintf(`{"rrname":"x%d.example","rrtype":"A","rdata":"192.0.2.1","time_first":1,"time_last":2}`+"\n", n)
		if _, stderr, code := run(t, []byte(rec), "publish", "--sensor", "org-a-s1", "--nats-url", url); code != 0 {
			t.Fatalf("publish: %s", stderr)
		}
		waitFor(t, "input switched", 10*time.Second, func() bool { return inputMsgs(t, js) == 0 })
	}

	// An invalid file: logged, ignored.
	if err := os.WriteFile(cfg, []byte(exchangeYAML+"  - id: 'bad id'\n    subscriptions: [{sensors: ['*']}]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_ = sw.cmd.Process.Signal(syscall.SIGHUP)
	waitFor(t, "reload rejected", 10*time.Second, func() bool { return contains(sw.output(), "reload rejected") })
	publish()
	if n := streamMsgs(t, js, routing.PeerStream("peer-hub")); n != 1 {
		t.Errorf("after a rejected reload peer-hub holds %d messages, want 1", n)
	}

	// A valid file with a new peer.
	newPeer := "  - id: peer-new\n    organisation: new\n    subscriptions: [{sensors: ['org-a-s1'], policy: pass, tlp: CLEAR}]\n"
	if err := os.WriteFile(cfg, []byte(exchangeYAML+newPeer), 0o600); err != nil {
		t.Fatal(err)
	}
	_ = sw.cmd.Process.Signal(syscall.SIGHUP)
	waitFor(t, "reload", 10*time.Second, func() bool { return contains(sw.output(), "configuration reloaded") })
	publish()
	if n := streamMsgs(t, js, routing.PeerStream("peer-new")); n != 1 {
		t.Errorf("peer-new holds %d messages after the reload, want 1", n)
	}
	if n := streamMsgs(t, js, routing.PeerStream("peer-hub")); n != 2 {
		t.Errorf("peer-hub holds %d messages, want 2", n)
	}
	if !strings.Contains(sw.output(), "bad id") {
		t.Errorf("the rejected reload's log does not say why")
	}
}
