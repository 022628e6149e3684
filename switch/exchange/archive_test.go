package exchange_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/cofswitch/cofswitch/routing"
	"github.com/cofswitch/cofswitch/switch/exchange"
)

// TestArchiveProvisioned: COF_ARCHIVE and the bucket COF_BACKFILL exist
// only when streams.archive is configured, with its limits, and a second
// start leaves them as they are.
func TestArchiveProvisioned(t *testing.T) {
	js := server(t)
	ctx := context.Background()
	off := mustConfig(t, "sensors: [{id: s1}]\n")
	if err := exchange.EnsureStreams(ctx, js, off); err != nil {
		t.Fatal(err)
	}
	if _, err := js.Stream(ctx, routing.ArchiveStream); !errors.Is(err, jetstream.ErrStreamNotFound) {
		t.Fatalf("an archive without streams.archive: %v", err)
	}
	if _, err := js.KeyValue(ctx, routing.BackfillBucket); !errors.Is(err, jetstream.ErrBucketNotFound) {
		t.Fatalf("a backfill bucket without streams.archive: %v", err)
	}
	on := mustConfig(t, "streams: {archive: {max_age: 30d, max_bytes: 2GiB}}\nsensors: [{id: s1}]\n")
	for range 2 {
		if err := exchange.EnsureStreams(ctx, js, on); err != nil {
			t.Fatal(err)
		}
	}
	want := exchange.ArchiveStreamConfig(on.Streams)
	have := info(t, js, routing.ArchiveStream).Config
	if !exchange.SameStream(have, want) {
		t.Errorf("COF_ARCHIVE as stored differs from what is provisioned:\n%+v\n%+v", have, want)
	}
	if have.Retention != jetstream.LimitsPolicy || have.MaxAge != 30*24*time.Hour || have.MaxBytes != 2<<30 ||
		have.Discard != jetstream.DiscardOld || have.Subjects[0] != "cof.archive.>" || have.Replicas != 1 || !have.DenyPurge {
		t.Errorf("COF_ARCHIVE config: %+v", have)
	}
	kv, err := js.KeyValue(ctx, routing.BackfillBucket)
	if err != nil {
		t.Fatal(err)
	}
	if st, err := kv.Status(ctx); err != nil || st.History() != 1 {
		t.Fatalf("COF_BACKFILL: %v %v", st, err)
	}
}

// TestSourcingAWorkQueueMissesAckedBatches is why the switch archives
// its input itself: a stream sourcing a sensor's work-queue input reads
// behind the switch's consumer, and what is acked first is gone before
// the source reads it. (If a NATS release ever makes this fail, sourcing
// may be reconsidered.)
func TestSourcingAWorkQueueMissesAckedBatches(t *testing.T) {
	js := server(t)
	ctx := t.Context()
	in, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "IN", Subjects: []string{"in"}, Retention: jetstream.WorkQueuePolicy})
	if err != nil {
		t.Fatal(err)
	}
	cons, err := in.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{Durable: "cofswitch", AckPolicy: jetstream.AckExplicitPolicy})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "ARC", Sources: []*jetstream.StreamSource{{Name: "IN"}}}); err != nil {
		t.Fatal(err) // JetStream allows sourcing a work queue
	}
	// The switch acks batches as they come, as it does.
	const n = 2000
	done := make(chan error, 1)
	go func() {
		for acked := 0; acked < n; {
			b, err := cons.Fetch(100, jetstream.FetchMaxWait(time.Second))
			if err != nil {
				done <- err
				return
			}
			for m := range b.Messages() {
				_ = m.DoubleAck(ctx)
				acked++
			}
		}
		done <- nil
	}()
	for range n {
		if _, err := js.PublishAsync("in", []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	<-js.PublishAsyncComplete()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second) // the source's time to catch up, if it could
	got := info(t, js, "ARC").State.Msgs
	if got >= n {
		t.Fatalf("the sourced archive holds all %d batches the switch acked: sourcing a work queue may now be enough", n)
	}
	t.Logf("a stream sourcing a work queue kept %d of %d batches acked by another consumer", got, n)
}
