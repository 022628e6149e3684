package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/cofswitch/cofswitch/bus/bustest"
	"github.com/cofswitch/cofswitch/routing"
)

// TestPublishTimeoutBoundsTheAckWait: --timeout (and SIGINT, which cancels
// the same context) must end a publish into a full input within about
// 2 s. A file that fits in --max-pending batches is read and sent at once,
// so reading ends before the deadline; the wait for the acks then ran
// under its own 30 s context, blind to the deadline and to the interrupt,
// and each refused batch slept through its retries: 30 batches took
// 22.5 s with --timeout 1s (and 22.5 s after a SIGINT at 1 s).
func TestPublishTimeoutBoundsTheAckWait(t *testing.T) {
	srv, _, js := bustest.Server(t)
	if _, err := js.CreateStream(t.Context(), jetstream.StreamConfig{Name: "IN", Subjects: []string{routing.InSubject("s1")},
		MaxMsgs: 3, Discard: jetstream.DiscardNew}); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for i := range 3000 {
		fmt.Fprintf(&b, `{"rrname":"h%d.example","rrtype":"A","rdata":"192.0.2.1","time_first":1,"time_last":2}`+"\n", i)
	}
	file := writeTemp(t, "in.ndjson", []byte(b.String()))
	start := time.Now()
	r := runCLI(t, nil, "publish", "--nats-url", srv.ClientURL(), "--sensor", "s1", "--batch", "100", "--timeout", "1s", file)
	took := time.Since(start)
	if r.code != exitFailure {
		t.Errorf("exit %d, want %d; stderr: %s", r.code, exitFailure, r.stderr)
	}
	if took > 3*time.Second {
		t.Errorf("--timeout 1s took %v to stop (stderr: %s)", took.Round(100*time.Millisecond), r.stderr)
	}
}
