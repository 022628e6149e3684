package backfill_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cofswitch/cofswitch/routing"
	"github.com/cofswitch/cofswitch/switch/backfill"
)

// TestBackfillNewPeer switches records before peer "late" exists, adds it
// by a reload, switches more (delivered live), and backfills: the peer
// gets exactly what its policy allows of the earlier records (s1's A
// records, addresses cut to /24, labelled AMBER), each once, and a second
// run delivers nothing.
func TestBackfillNewPeer(t *testing.T) {
	w := start(t, before)
	w.publish([]string{"s1", "s2"}, 0, 10, 50) // 20 batches, 1,000 records
	w.waitArchived(20)
	if got := len(w.read("early").lines); got != 1000 {
		t.Fatalf("early got %d records, want 1000", got)
	}
	cfg := w.reload(withLate)
	w.publish([]string{"s1", "s2"}, 10, 12, 50) // switched live under the new version
	w.waitArchived(24)
	waitFor(t, func() bool { return len(w.read("late").lines) == 50 }, "the live records of late")

	var last backfill.Progress
	p, err := backfill.Run(w.ctx, w.js, backfill.Options{Config: cfg, Peer: "late", Secret: w.secret, Rate: -1,
		Progress: func(p backfill.Progress) { last = p }})
	if err != nil {
		t.Fatal(err)
	}
	if !p.Done || last != p {
		t.Errorf("final progress %+v, last reported %+v", p, last)
	}
	// Batches 0..9 of s1: 25 A records each; s2's batches route nowhere
	// for late; the 4 batches switched live are skipped.
	if p.Records != 250 || p.Batches != 20 || p.Skipped != 4 || p.Filtered != 250 {
		t.Errorf("progress %+v: want 250 records of 20 batches, 4 skipped, 250 filtered", p)
	}
	f := w.read("late")
	checkLate(t, f, 10+2)
	msgs := f.msgs

	again, err := backfill.Run(w.ctx, w.js, backfill.Options{Config: cfg, Peer: "late", Secret: w.secret, Rate: -1})
	if err != nil {
		t.Fatal(err)
	}
	if again.Records != 0 || again.Messages != 0 || again.Skipped != 24 {
		t.Errorf("second run %+v: want nothing delivered, 24 batches skipped", again)
	}
	if f := w.read("late"); f.msgs != msgs || len(f.lines) != 300 {
		t.Errorf("after a second run: %d messages, %d records; want %d, 300", f.msgs, len(f.lines), msgs)
	}
	st, err := backfill.ReadState(w.ctx, w.js, "late")
	if err != nil || st.Records != 250 || len(st.Done) != 1 || st.Done[0].Hi != 24 {
		t.Errorf("saved progress %+v (%v): want 250 records, one span to 24", st, err)
	}
}

// checkLate checks that late's feed holds s1's A records of batches
// 0..batches-1, each once, as its policy makes them, and nothing else.
func checkLate(t *testing.T, f feed, batches int) {
	t.Helper()
	names := f.names()
	for i := range batches {
		for j := 0; j < 50; j += 2 {
			if n := names[fmt.Sprintf("s1-b%d-r%d.example", i, j)]; n != 1 {
				t.Fatalf("s1-b%d-r%d.example delivered %d times", i, j, n)
			}
		}
	}
	if len(names) != 25*batches || len(f.lines) != 25*batches {
		t.Fatalf("late got %d records (%d names), want %d", len(f.lines), len(names), 25*batches)
	}
	for _, l := range f.lines {
		if !strings.Contains(l, `"rrtype":"A"`) || !strings.Contains(l, `"192.0.2.0"`) || strings.Contains(l, "s2-") {
			t.Fatalf("late got a record its policy withholds or did not transform: %s", l)
		}
	}
	for _, h := range f.hdrs {
		if h.Get("Cofswitch-TLP") != "TLP:AMBER" || h.Get("Nats-Msg-Id") == "" || strings.HasPrefix(h.Get("Nats-Msg-Id"), "bf:") {
			t.Fatalf("headers %v: want TLP:AMBER and an opaque message id", h)
		}
	}
}

// TestBackfillSince: batches archived before --since are not delivered.
func TestBackfillSince(t *testing.T) {
	w := start(t, before)
	w.publish([]string{"s1"}, 0, 5, 10)
	w.waitArchived(5)
	time.Sleep(1500 * time.Millisecond)
	mid := time.Now()
	time.Sleep(500 * time.Millisecond)
	w.publish([]string{"s1"}, 5, 8, 10)
	w.waitArchived(8)
	cfg := w.reload(withLate)
	p, err := backfill.Run(w.ctx, w.js, backfill.Options{Config: cfg, Peer: "late", Secret: w.secret, Since: time.Since(mid), Rate: -1})
	if err != nil {
		t.Fatal(err)
	}
	names := w.read("late").names()
	if p.Records != 15 || len(names) != 15 {
		t.Fatalf("delivered %d records (%d names), want the 15 A records of batches 5..7", p.Records, len(names))
	}
	for name := range names {
		if !strings.HasPrefix(name, "s1-b5-") && !strings.HasPrefix(name, "s1-b6-") && !strings.HasPrefix(name, "s1-b7-") {
			t.Fatalf("%s was archived before --since", name)
		}
	}
	// A longer --since then delivers the older batches alone.
	p, err = backfill.Run(w.ctx, w.js, backfill.Options{Config: cfg, Peer: "late", Secret: w.secret, Rate: -1})
	if err != nil || p.Records != 25 {
		t.Fatalf("second run without --since: %d records (%v), want the 25 older", p.Records, err)
	}
	if f := w.read("late"); len(f.names()) != 40 || len(f.lines) != 40 {
		t.Fatalf("late holds %d records, want 40 once each", len(f.lines))
	}
}

// TestBackfillRate: a run of 3,000 records at 1,000 a second waits for
// its limiter and takes at least two seconds.
func TestBackfillRate(t *testing.T) {
	w := start(t, before)
	w.publish([]string{"s1"}, 0, 30, 200) // 100 A records a batch
	w.waitArchived(30)
	cfg := w.reload(withLate)
	began := time.Now()
	p, err := backfill.Run(w.ctx, w.js, backfill.Options{Config: cfg, Peer: "late", Secret: w.secret, Rate: 1000})
	if err != nil {
		t.Fatal(err)
	}
	took := time.Since(began)
	// The limiter lets a tenth of a second's records (100) go at once;
	// the other 2,900 wait for it: 2.9 s at the least. How much of that
	// is spent waiting depends on how long the batches take to switch
	// (under -race, 2.45 s of 2.94 s): only the whole is bounded.
	if p.Records != 3000 || p.Waits < 20 || p.Waited <= 0 || took < 2800*time.Millisecond {
		t.Fatalf("%d records in %v, %d waits for %v: want 3000 paced at 1000/s", p.Records, took, p.Waits, p.Waited)
	}
	t.Logf("3000 records at --rate 1000: %v, %d waits", took, p.Waits)
}

// TestBackfillUnknownPeer names the peers it knows; a peer without a
// stream and an exchange without an archive are refused too.
func TestBackfillUnknownPeer(t *testing.T) {
	w := start(t, before)
	cfg := w.write(withLate)
	_, err := backfill.Run(w.ctx, w.js, backfill.Options{Config: cfg, Peer: "nobody", Secret: w.secret})
	if !errors.Is(err, backfill.ErrUnknownPeer) || !strings.Contains(err.Error(), "[early late]") {
		t.Fatalf("unknown peer: %v", err)
	}
	_, err = backfill.Run(w.ctx, w.js, backfill.Options{Config: cfg, Peer: "late", Secret: w.secret})
	if !errors.Is(err, backfill.ErrNoPeerStream) {
		t.Fatalf("peer not provisioned yet: %v", err)
	}
	if err := w.js.DeleteStream(w.ctx, routing.ArchiveStream); err != nil {
		t.Fatal(err)
	}
	_, err = backfill.Run(w.ctx, w.js, backfill.Options{Config: w.write(before), Peer: "early", Secret: w.secret})
	if !errors.Is(err, backfill.ErrNoArchive) {
		t.Fatalf("no archive: %v", err)
	}
}

// TestArchiveRetention: the archive keeps batches for its max_age only,
// and a backfill finds nothing older.
func TestArchiveRetention(t *testing.T) {
	short := strings.Replace(before, "max_age: 1h", "max_age: 2s", 1)
	w := start(t, short)
	w.publish([]string{"s1"}, 0, 3, 10)
	w.waitArchived(3)
	waitFor(t, func() bool {
		s, err := w.js.Stream(w.ctx, routing.ArchiveStream)
		return err == nil && s.CachedInfo().State.Msgs == 0
	}, "the archive to expire its batches")
	cfg := w.reload(strings.Replace(withLate, "max_age: 1h", "max_age: 2s", 1))
	p, err := backfill.Run(w.ctx, w.js, backfill.Options{Config: cfg, Peer: "late", Secret: w.secret, Rate: -1})
	if err != nil || p.Records != 0 {
		t.Fatalf("backfill of an expired archive: %+v, %v", p, err)
	}
}

func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited 30s for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestSubscriptionBackfill: a peer added by a reload with a
// subscription's backfill gets the archived records its policy allows,
// in the background of the running exchange, each once.
func TestSubscriptionBackfill(t *testing.T) {
	fast := strings.Replace(before, "streams:", "switch: {publish_timeout: 1s}\nstreams:", 1)
	w := start(t, fast)
	w.publish([]string{"s1", "s2"}, 0, 10, 50)
	w.waitArchived(20)
	auto := strings.Replace(withLate, "policy: a-only}", "policy: a-only, backfill: 1h}", 1)
	auto = strings.Replace(auto, "streams:", "switch: {publish_timeout: 1s}\nstreams:", 1)
	w.reload(auto)
	w.publish([]string{"s1"}, 10, 12, 50) // live
	waitFor(t, func() bool { return len(w.read("late").lines) >= 300 }, "the background backfill")
	waitFor(t, func() bool {
		st, err := backfill.ReadState(w.ctx, w.js, "late")
		return err == nil && st.Open == nil && st.Records == 250
	}, "the backfill to finish")
	checkLate(t, w.read("late"), 12)
	// A reload that leaves the peer as it is starts nothing again.
	w.reload(auto + "\n")
	time.Sleep(1500 * time.Millisecond)
	if n := len(w.read("late").lines); n != 300 {
		t.Fatalf("late holds %d records after a second reload, want 300", n)
	}
}

// TestBackfillHeldMerged: under a policy that holds records to the end of
// their coarsen_time bucket, a backfill delivers a bucket's records as a
// release does: merged (identical rrsets one record, counts summed) in
// one message, not batch by batch.
func TestBackfillHeldMerged(t *testing.T) {
	w := start(t, before)
	// Publish within one 4 s bucket: from the start of the next one.
	const bucket = 4
	next := (time.Now().Unix()/bucket + 1) * bucket
	time.Sleep(time.Until(time.Unix(next, 0)) + 50*time.Millisecond)
	for i := range 5 {
		body := fmt.Sprintf(`{"rrname":"same.example","rrtype":"A","rdata":["192.0.2.7"],"time_first":1700000000,"time_last":1700000001,"count":2}
{"rrname":"own-%d.example","rrtype":"A","rdata":["192.0.2.8"],"time_first":1700000000,"time_last":1700000001}
`, i)
		if _, err := w.js.Publish(w.ctx, routing.InSubject("s1"), []byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	w.waitArchived(5)
	if time.Now().Unix() >= next+bucket {
		t.Skip("the machine took longer than a bucket to switch 5 batches")
	}
	cfg := w.reload(strings.Replace(withLate, "transforms: {truncate_ip: {ipv4: 24}}", "transforms: {coarsen_time: 4s}", 1))
	p, err := backfill.Run(w.ctx, w.js, backfill.Options{Config: cfg, Peer: "late", Secret: w.secret, Rate: -1})
	if err != nil {
		t.Fatal(err)
	}
	if time.Now().Unix() < next+bucket {
		t.Errorf("delivered before the bucket ended")
	}
	f := w.read("late")
	if p.Records != 6 || f.msgs != 1 || len(f.lines) != 6 {
		t.Fatalf("%d records in %d messages (%d lines): want 6 merged records in one", p.Records, f.msgs, len(f.lines))
	}
	for _, l := range f.lines {
		if strings.Contains(l, "same.example") && !strings.Contains(l, `"count":10`) {
			t.Fatalf("same.example not merged: %s", l)
		}
	}
}

// TestBackfillConcurrentRuns: two backfills of one peer at once: one is
// refused with ErrBusy when it saves, and the peer gets every record
// once all the same (the loser's publishes carry the winner's ids).
func TestBackfillConcurrentRuns(t *testing.T) {
	w := start(t, before)
	w.publish([]string{"s1"}, 0, 20, 20) // 10 A records a batch
	w.waitArchived(20)
	cfg := w.reload(withLate)
	errs := make(chan error, 2)
	for range 2 {
		go func() {
			_, err := backfill.Run(w.ctx, w.js, backfill.Options{Config: cfg, Peer: "late", Secret: w.secret, Rate: 100, Window: 4})
			errs <- err
		}()
	}
	var busy int
	for range 2 {
		switch err := <-errs; {
		case errors.Is(err, backfill.ErrBusy):
			busy++
		case err != nil:
			t.Fatal(err)
		}
	}
	if busy != 1 {
		t.Fatalf("%d of two concurrent runs refused, want one", busy)
	}
	// Whatever the loser left undone, a rerun finishes.
	if _, err := backfill.Run(w.ctx, w.js, backfill.Options{Config: cfg, Peer: "late", Secret: w.secret, Rate: -1}); err != nil {
		t.Fatal(err)
	}
	names := w.read("late").names()
	for name, n := range names {
		if n != 1 {
			t.Fatalf("%s delivered %d times", name, n)
		}
	}
	if len(names) != 200 {
		t.Fatalf("late got %d records, want 200", len(names))
	}
}
