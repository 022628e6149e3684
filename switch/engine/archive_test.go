package engine_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cofswitch/cofswitch/cof"
	"github.com/cofswitch/cofswitch/routing"
	"github.com/cofswitch/cofswitch/switch/engine"
	"github.com/cofswitch/cofswitch/switch/exchange"
)

const archiveYAML = `
streams: {archive: {max_age: 1h}}
sensors: [{id: s1}]
peers:
  - {id: p1, subscriptions: [{sensors: ["*"], policy: pass, tlp: CLEAR}]}
`

// TestArchive: with WithArchive every switched batch is archived as the
// sensor sent it, with its sensor, sequence and configuration version; a
// batch dead-lettered whole is not; and while the archive cannot store,
// the batch is not acked: it waits in its input until it can.
func TestArchive(t *testing.T) {
	x := newExchange(t, archiveYAML)
	x.startSwitch(engine.WithArchive(), engine.WithMaxAttempts(100))
	x.publish("s1", records("a", 10, ""), cof.Zstd)
	// An unknown encoding: dead-lettered whole.
	if _, err := x.js.PublishMsg(context.Background(), natsMsg(routing.InSubject("s1"), []byte("x"), "gzip")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the input switched", 10*time.Second, x.inputDrained)
	d := x.read(routing.ArchiveStream, false)
	if len(d.msgs) != 1 {
		t.Fatalf("archive holds %d batches, want 1", len(d.msgs))
	}
	m := d.msgs[0]
	h := m.Headers()
	want, _ := x.codec.Compress(nil, records("a", 10, ""), cof.Zstd)
	if string(m.Data()) != string(want) || h.Get("Content-Encoding") != "zstd" || h.Get(engine.HeaderSensor) != "s1" ||
		h.Get(engine.HeaderInputSeq) != "1" || h.Get(engine.HeaderConfigVersion) == "" || m.Subject() != routing.ArchiveSubject("s1") {
		t.Fatalf("archived %q %v on %s", m.Data(), h, m.Subject())
	}

	ctx := context.Background()
	if err := x.js.DeleteStream(ctx, routing.ArchiveStream); err != nil {
		t.Fatal(err)
	}
	x.publish("s1", records("b", 10, ""), cof.Identity)
	time.Sleep(3 * time.Second) // a few attempts
	if x.inputDrained() {
		t.Fatal("a batch was acked while the archive could not store it")
	}
	if err := exchange.EnsureStreams(ctx, x.js, x.cfg); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the batch archived once the archive is back", 30*time.Second, x.inputDrained)
	if n := x.streamMsgs(routing.ArchiveStream); n != 1 {
		t.Fatalf("the new archive holds %d batches, want 1", n)
	}
	if n := len(x.read(routing.PeerStream("p1"), true).records); n != 20 {
		t.Fatalf("p1 got %d records, want 20 (the retried batch's outputs once)", n)
	}
}

// BenchmarkSwitchArchive is BenchmarkSwitch with the archive on: the cost
// of archiving every input batch before its ack.
func BenchmarkSwitchArchive(b *testing.B) {
	const perBatch = 500
	x := newExchange(b, strings.Replace(benchYAML, "streams:\n", "streams:\n  archive: {max_age: 1h}\n", 1))
	batches := make([][]byte, 16)
	for i := range batches {
		var body []byte
		for j := range perBatch {
			body = fmt.Appendf(body, `{"rrname":"host%d-%d.cdn.example-provider.com","rrtype":"A","rdata":["192.0.2.%d","198.51.100.%d"],"time_first":1700000000,"time_last":1700086400,"count":%d,"bailiwick":"example-provider.com"}`+"\n",
				i, j, j%250+1, j%200+1, j+1)
		}
		batches[i], _ = x.codec.Compress(nil, body, cof.Zstd)
	}
	n := max(b.N, 200)
	storeBatches(b, x, n, func(i int) []byte { return batches[i%len(batches)] })
	st, _ := timeDrain(b, x, func() *engine.Engine { return x.startSwitch(engine.WithWorkers(8), engine.WithArchive()) })
	if st.Records != uint64(n*perBatch) || x.streamMsgs(routing.ArchiveStream) != uint64(n) {
		b.Fatalf("stats: %s", st)
	}
}
