package integration

import (
	"bytes"
	"context"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/cofswitch/cofswitch/cof"
)

// inputRecords counts the records of every batch in the sensors' input
// streams, checking that each one parses.
func inputRecords(t *testing.T, js jetstream.JetStream) int {
	t.Helper()
	codec, err := cof.NewCodec()
	if err != nil {
		t.Fatal(err)
	}
	defer codec.Close()
	n := 0
	for _, s := range inputStreams(t, js) {
		n += streamRecords(t, codec, s)
	}
	return n
}

// streamRecords counts the records of every batch in one input stream.
func streamRecords(t *testing.T, codec *cof.Codec, s jetstream.Stream) int {
	t.Helper()
	info, err := s.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := s.GetMsg(context.Background(), seq)
		if err != nil {
			t.Fatalf("batch %d: %v", seq, err)
		}
		body, err := codec.Decompress(nil, m.Data, cof.Encoding(m.Header.Get("Content-Encoding")))
		if err != nil {
			t.Fatalf("batch %d: %v", seq, err)
		}
		for _, line := range bytes.Split(bytes.TrimSuffix(body, []byte("\n")), []byte("\n")) {
			if _, err := cof.Parse(line); err != nil {
				t.Fatalf("batch %d: %s: %v", seq, line, err)
			}
			n++
		}
	}
	return n
}

// TestGenPublish: 'gen --publish' puts exactly the records asked for on
// the sensor's input, batched, every one valid.
func TestGenPublish(t *testing.T) {
	srv, _, js := startServer(t)
	if err := ensureStreams(t.Context(), js, writeFile(t, "c.yaml", exchangeYAML)); err != nil {
		t.Fatal(err)
	}
	_, stderr, code := run(t, nil, "gen", "--publish", "org-a-s1", "-n", "1234", "--batch", "500", "--nats-url", srv.ClientURL())
	if code != 0 {
		t.Fatalf("gen --publish: exit %d: %s", code, stderr)
	}
	if n := inputMsgs(t, js); n != 3 {
		t.Errorf("COF_IN holds %d batches, want 3 (500 + 500 + 234)", n)
	}
	if n := inputRecords(t, js); n != 1234 {
		t.Errorf("COF_IN holds %d records, want 1234", n)
	}
}

// TestGenPublishInterrupted: Ctrl-C during an endless run stops the
// generator, and what it made is still published and acked: exit 0.
func TestGenPublishInterrupted(t *testing.T) {
	srv, _, js := startServer(t)
	if err := ensureStreams(t.Context(), js, writeFile(t, "c.yaml", exchangeYAML)); err != nil {
		t.Fatal(err)
	}
	p := start(t, "gen", "--publish", "org-a-s1", "--duration", "1h", "--rate", "5000", "--batch", "100", "--nats-url", srv.ClientURL())
	waitFor(t, "records on COF_IN", 10*time.Second, func() bool { n := inputMsgs(t, js); return n > 5 && n != ^uint64(0) })
	if err := p.stop(t, syscall.SIGINT); err != nil {
		t.Fatalf("gen after SIGINT: %v\n%s", err, p.output())
	}
	n := inputRecords(t, js)
	if n == 0 {
		t.Fatal("nothing published")
	}
	// Nothing arrives after the exit: it was all acked before.
	time.Sleep(300 * time.Millisecond)
	if again := inputRecords(t, js); again != n {
		t.Errorf("COF_IN grew from %d to %d records after gen exited", n, again)
	}
}
