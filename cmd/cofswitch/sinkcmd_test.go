package main

import (
	"context"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/cofswitch/cofswitch/switch/exchange/exchangetest"
)

// TestSinkReadyzFollowsTheDestination: 'sink --metrics' is not ready
// while nothing listens at its HTTP destination, and ready once something
// does; /metrics has the attempt metrics from the start.
func TestSinkReadyzFollowsTheDestination(t *testing.T) {
	nc, _ := exchangetest.PeerFeed(t)
	dest, metricsAddr := freeAddr(t), freeAddr(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	exited, stderr := runInBackground(ctx, "sink", "--peer", exchangetest.Peer, "--to", "http://"+dest+"/ingest",
		"--metrics", metricsAddr, "--nats-url", nc.ConnectedUrl())
	base := "http://" + metricsAddr
	var code int
	var body string
	checkFor(t, "/readyz", func() bool { code, body = httpGet(t, base+"/readyz", nil); return code != 0 })
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "destination unreachable") {
		t.Fatalf("/readyz with nothing at the destination: %d %q", code, body)
	}
	mfs := scrape(t, base+"/metrics")
	if value(mfs, "cofswitch_sink_retries_total") != 0 || value(mfs, "cofswitch_sink_destination_duration_seconds", "outcome", "refused") != 0 {
		t.Errorf("attempt metrics absent or not zero at the start")
	}
	ln, err := net.Listen("tcp", dest)
	if err != nil {
		t.Skipf("the port was taken meanwhile: %v", err)
	}
	srv := &http.Server{Handler: http.NotFoundHandler()}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	if code, body = httpGet(t, base+"/readyz", nil); code != http.StatusOK {
		t.Errorf("/readyz with the destination listening: %d %q", code, body)
	}
	cancel()
	if c := <-exited; c != exitOK {
		t.Errorf("sink exited %d: %s", c, stderr.String())
	}
}
