package publish_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"

	"github.com/cofswitch/cofswitch/batchsig"
	"github.com/cofswitch/cofswitch/bus/bustest"
	"github.com/cofswitch/cofswitch/cof"
	"github.com/cofswitch/cofswitch/routing"
	"github.com/cofswitch/cofswitch/sensor/publish"
	"github.com/cofswitch/cofswitch/sensor/spool"
)

// TestSigned: both publishers sign each batch with the sensor's key over
// its id, encoding and payload as stored; the spooled one spools the
// signature with the batch, so that a batch spooled by a process that
// signed goes out signed, identically, from the next one.
func TestSigned(t *testing.T) {
	_, nc, js := bustest.Server(t)
	if _, err := js.CreateStream(t.Context(), jetstream.StreamConfig{Name: routing.InStream("s1"),
		Subjects: []string{routing.InSubject("s1")}, Duplicates: time.Minute}); err != nil {
		t.Fatal(err)
	}
	kp, _ := nkeys.CreateUser()
	pub, _ := kp.PublicKey()
	v, _ := batchsig.NewVerifier(pub)
	stored := func() []jetstream.Msg {
		t.Helper()
		cons, err := js.OrderedConsumer(t.Context(), routing.InStream("s1"), jetstream.OrderedConsumerConfig{})
		if err != nil {
			t.Fatal(err)
		}
		var out []jetstream.Msg
		for {
			m, err := cons.Next(jetstream.FetchMaxWait(300 * time.Millisecond))
			if err != nil {
				return out
			}
			out = append(out, m)
		}
	}

	p, err := publish.New(nc, js, publish.Options{Sensor: "s1", Encoding: cof.S2, Sign: kp})
	if err != nil {
		t.Fatal(err)
	}
	p.Add([]byte(`{"rrname":"a.example","rrtype":"A","rdata":"192.0.2.1","time_first":1,"time_last":2}`))
	if res := p.Close(t.Context()); res.Batches != 1 || res.Failed != 0 {
		t.Fatalf("publish: %+v", res)
	}

	// A spooled publisher that signs spools a batch and stops before
	// sending; the next process, without the key, sends it signed.
	dir := t.TempDir()
	sp, err := spool.Open(dir, spool.Options{})
	if err != nil {
		t.Fatal(err)
	}
	first, err := publish.NewSpooled(nc, js, sp, publish.Options{Sensor: "s1", Encoding: cof.Zstd, Sign: kp}, nil)
	if err != nil {
		t.Fatal(err)
	}
	feed(t, first, 0, 3)
	sp.Close()
	sp, err = spool.Open(dir, spool.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	second, err := publish.NewSpooled(nc, js, sp, publish.Options{Sensor: "s1", Encoding: cof.Zstd}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go second.Run(ctx)
	waitUntil(t, "the spooled batch stored", func() bool { return second.Stats().Stored == 1 })

	msgs := stored()
	if len(msgs) != 2 {
		t.Fatalf("stream holds %d batches, want 2", len(msgs))
	}
	for i, m := range msgs {
		sig := m.Headers().Get(batchsig.HeaderSignature)
		if err := v.VerifyInput("s1", m.Headers().Get("Content-Encoding"), m.Headers().Get("Nats-Msg-Id"), m.Data(), sig); err != nil {
			t.Errorf("batch %d (%v): %v", i, m.Headers(), err)
		}
		if err := v.VerifyInput("s2", m.Headers().Get("Content-Encoding"), m.Headers().Get("Nats-Msg-Id"), m.Data(), sig); err == nil {
			t.Errorf("batch %d verifies as another sensor's", i)
		}
	}
	// An option that cannot sign is refused.
	curve, _ := nkeys.CreateCurveKeys()
	if _, err := publish.New(nc, js, publish.Options{Sensor: "s1", Sign: curve}); err == nil {
		t.Error("a curve key was taken to sign")
	}
}
