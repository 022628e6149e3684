package backfill_test

import (
	"bufio"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cofswitch/cofswitch/config"
	"github.com/cofswitch/cofswitch/switch/backfill"
)

// TestBackfillChild is the process TestKill9Backfill kills: a paced
// backfill of peer late, saying when it saved progress.
func TestBackfillChild(t *testing.T) {
	url := os.Getenv("COFSWITCH_BACKFILL_URL")
	if url == "" {
		t.Skip("the child of TestKill9Backfill")
	}
	cfg, err := config.Load(os.Getenv("COFSWITCH_BACKFILL_CONFIG"))
	if err != nil {
		t.Fatal(err)
	}
	secret, _ := hex.DecodeString(os.Getenv("COFSWITCH_BACKFILL_SECRET"))
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	js, _ := jetstream.New(nc)
	_, err = backfill.Run(t.Context(), js, backfill.Options{Config: cfg, Peer: "late", Secret: secret, Rate: 3000, Window: 4,
		Progress: func(p backfill.Progress) { fmt.Println("saved", p.Records) }})
	t.Fatalf("the child finished (%v) before it was killed", err)
}

// TestKill9Backfill kills a backfill (SIGKILL) after it saved progress,
// at a moment that varies, and runs it again: every record reaches the
// peer exactly once, in as many messages as a run without a kill makes.
func TestKill9Backfill(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and kills a process")
	}
	w := start(t, before)
	w.publish([]string{"s1"}, 0, 40, 200) // 100 A records a batch
	w.waitArchived(40)
	cfg := w.reload(withLate)
	cmd := exec.Command(os.Args[0], "-test.run", "^TestBackfillChild$", "-test.v")
	cmd.Env = append(os.Environ(), "COFSWITCH_BACKFILL_URL="+w.x.URL(), "COFSWITCH_BACKFILL_CONFIG="+w.cfgPath,
		"COFSWITCH_BACKFILL_SECRET="+hex.EncodeToString(w.secret))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	saved := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(out)
		once := sync.OnceFunc(func() { close(saved) })
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "saved ") && sc.Text() != "saved 0" {
				once()
			}
		}
	}()
	select {
	case <-saved:
	case <-time.After(time.Minute):
		t.Fatal("the child saved nothing in a minute")
	}
	time.Sleep(time.Duration(100+time.Now().UnixNano()%300) * time.Millisecond)
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_ = cmd.Wait()
	st, err := backfill.ReadState(w.ctx, w.js, "late")
	if err != nil || st.Records == 0 || st.Records >= 4000 || st.Open == nil || st.Open.Until != 40 {
		t.Fatalf("the child saved %+v (%v): want some records, not all, and its run open to sequence 40", st, err)
	}
	published := len(w.read("late").lines)
	p, err := backfill.Run(w.ctx, w.js, backfill.Options{Config: cfg, Peer: "late", Secret: w.secret, Rate: -1})
	if err != nil {
		t.Fatal(err)
	}
	f := w.read("late")
	names := f.names()
	for name, n := range names {
		if n != 1 {
			t.Fatalf("%s delivered %d times", name, n)
		}
	}
	if len(names) != 4000 || f.msgs != 40 {
		t.Fatalf("late holds %d records in %d messages, want 4000 in 40", len(names), f.msgs)
	}
	if st, err := backfill.ReadState(w.ctx, w.js, "late"); err != nil || st.Open != nil || st.Records != 4000 {
		t.Fatalf("after the rerun the progress is %+v (%v): want 4000 records and no open run", st, err)
	}
	t.Logf("killed after %d records saved, %d stored; the rerun published %d records, %d of its messages duplicates",
		st.Records, published, p.Records, p.Duplicate)
}
