package publish_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cofswitch/cofswitch/bus/bustest"
	"github.com/cofswitch/cofswitch/cof"
	"github.com/cofswitch/cofswitch/routing"
	"github.com/cofswitch/cofswitch/sensor/publish"
	"github.com/cofswitch/cofswitch/sensor/spool"
)

// connect is a sensor's connection: it never stops reconnecting.
func connect(t *testing.T, url string) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc, err := nats.Connect(url, nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond), nats.RetryOnFailedConnect(true))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return nc, js
}

func feed(t *testing.T, p *publish.Spooled, from, n int) {
	t.Helper()
	for i := from; i < from+n; i++ {
		line := fmt.Sprintf(`{"rrname":"h%d.example","rrtype":"A","rdata":"192.0.2.1","time_first":1,"time_last":2}`, i)
		if err := p.Add([]byte(line)); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Flush(); err != nil {
		t.Fatal(err)
	}
}

// TestSpoolAcrossAnOutage: the exchange stops while the sensor keeps
// feeding, the sensor restarts (from its spool), then the exchange comes
// back: every record is stored exactly once, in the order fed.
func TestSpoolAcrossAnOutage(t *testing.T) {
	ex := bustest.NewRestartable(t)
	_, admin := connect(t, ex.URL())
	if _, err := admin.CreateStream(t.Context(), jetstream.StreamConfig{Name: routing.InStream("s1"),
		Subjects: []string{routing.InSubject("s1")}, Duplicates: 5 * time.Minute, Storage: jetstream.FileStorage}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	o := publish.Options{Sensor: "s1", Batch: 100, Encoding: cof.Zstd, MaxPending: 4}

	// A first sensor process: some batches go through, then the exchange
	// stops and more are fed; the process ends with them spooled.
	sp, err := spool.Open(dir, spool.Options{})
	if err != nil {
		t.Fatal(err)
	}
	nc, js := connect(t, ex.URL())
	p, err := publish.NewSpooled(nc, js, sp, o, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { p.Run(ctx); close(done) }()
	feed(t, p, 0, 1000)
	waitUntil(t, "the first batches stored", func() bool { return p.Stats().Stored == 10 })
	ex.Stop()
	feed(t, p, 1000, 2000)
	// The sender tries and fails meanwhile (under load it may take a while
	// to try: wait for it rather than for a fixed time).
	waitUntil(t, "a failed send during the outage", func() bool { return p.Stats().Failures > 0 })
	st := p.Stats()
	if st.Backlog != 20 || st.Failures == 0 {
		t.Fatalf("during the outage: %+v, want 20 batches spooled and failures", st)
	}
	stop()
	<-done
	nc.Close()
	sp.Close()

	// The sensor restarts while the exchange is still down, feeds more,
	// then the exchange comes back.
	sp, err = spool.Open(dir, spool.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	nc, js = connect(t, ex.URL())
	if p, err = publish.NewSpooled(nc, js, sp, o, nil); err != nil {
		t.Fatal(err)
	}
	go p.Run(t.Context())
	feed(t, p, 3000, 500)
	ex.Start()
	ctx2, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := p.Close(ctx2); err != nil {
		t.Fatalf("close: %v (stats %+v)", err, p.Stats())
	}

	_, js = connect(t, ex.URL())
	st2, err := js.Stream(t.Context(), routing.InStream("s1"))
	if err != nil {
		t.Fatal(err)
	}
	got, _ := stored(t, js, st2)
	if len(got) != 3500 {
		t.Fatalf("%d records stored, want 3500", len(got))
	}
	seen := map[string]bool{}
	var order []int
	for _, l := range got {
		if seen[l] {
			t.Fatalf("stored twice: %s", l)
		}
		seen[l] = true
		var i int
		fmt.Sscanf(l, `{"rrname":"h%d.`, &i)
		order = append(order, i)
	}
	if !slices.IsSorted(order) {
		t.Errorf("records not stored in the order fed")
	}
}

// A spool bounded below the outage's volume drops the oldest batches and
// says so; what it kept arrives.
func TestSpoolFullDropsOldest(t *testing.T) {
	ex := bustest.NewRestartable(t)
	_, admin := connect(t, ex.URL())
	if _, err := admin.CreateStream(t.Context(), jetstream.StreamConfig{Name: routing.InStream("s1"),
		Subjects: []string{routing.InSubject("s1")}, Storage: jetstream.FileStorage}); err != nil {
		t.Fatal(err)
	}
	ex.Stop()
	sp, err := spool.Open(t.TempDir(), spool.Options{MaxBytes: 20 << 10, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	nc, js := connect(t, ex.URL())
	p, err := publish.NewSpooled(nc, js, sp, publish.Options{Sensor: "s1", Batch: 100}, nil)
	if err != nil {
		t.Fatal(err)
	}
	go p.Run(t.Context())
	feed(t, p, 0, 3000) // 30 batches of ~9 KiB: most do not fit
	st := p.Stats()
	if st.Dropped == 0 || st.Backlog+st.Dropped != 30 {
		t.Fatalf("stats %+v, want drops accounting for all 30 batches", st)
	}
	ex.Start()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := p.Close(ctx); err != nil {
		t.Fatal(err)
	}
	_, js = connect(t, ex.URL())
	s, _ := js.Stream(t.Context(), routing.InStream("s1"))
	got, _ := stored(t, js, s)
	if want := int(30-st.Dropped) * 100; len(got) != want {
		t.Errorf("%d records stored, want %d (the batches kept)", len(got), want)
	}
	if len(got) > 0 && got[len(got)-1] != `{"rrname":"h2999.example","rrtype":"A","rdata":"192.0.2.1","time_first":1,"time_last":2}` {
		t.Errorf("last stored %s, want the newest record", got[len(got)-1])
	}
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
