package db

import (
	"bufio"
	"fmt"
	"math"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cofswitch/cofswitch/cof"
)

// crashBatch is batch seq of the crash test: 50 rrsets of its own and
// one observation of an rrset every batch shares.
func crashBatch(seq uint64) []*cof.Record {
	recs := []*cof.Record{{RRName: "shared.example", RRType: cof.TypeA, RData: []string{"192.0.2.1"}, TimeFirst: 1, TimeLast: 2, Count: 1, Has: cof.HasCount}}
	for i := range 50 {
		recs = append(recs, &cof.Record{RRName: fmt.Sprintf("r%d.s%d.example", i, seq), RRType: cof.TypeA,
			RData: []string{fmt.Sprintf("10.%d.%d.%d", seq>>8&255, seq&255, i)}, TimeFirst: 1, TimeLast: 2})
	}
	return recs
}

// TestCrashChild is the process the crash test kills: it applies batches
// 1, 2, ... to the store in COFSWITCH_CRASH_DIR, syncing every tenth,
// until it is killed.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv("COFSWITCH_CRASH_DIR")
	if dir == "" {
		t.Skip("the child of TestKill9DuringIngest")
	}
	d, err := OpenDisk(dir, DiskOptions{CacheBytes: 8 << 20, MemTableBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	floor, _ := d.Applied(t.Context(), "PEER_p")
	for seq := floor + 1; ; seq++ {
		if _, err := d.Apply(t.Context(), "PEER_p", seq, crashBatch(seq)); err != nil {
			t.Fatal(err)
		}
		if seq%10 == 0 {
			if err := d.Save(); err != nil {
				t.Fatal(err)
			}
			fmt.Println("synced", seq)
		}
	}
}

// TestKill9DuringIngest kills a process applying batches to the disk
// store (several times, at random moments, with flushes and compactions
// under way), then redelivers every batch as a stream would: each is
// applied exactly once, none is lost, and the store's count of rrsets is
// right (within its estimate's error). COFSWITCH_CHAOS runs 20 kills instead of 3.
func TestKill9DuringIngest(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and kills processes")
	}
	dir := t.TempDir()
	kills := 3
	if os.Getenv("COFSWITCH_CHAOS") != "" {
		kills = 20
	}
	for k := range kills {
		cmd := exec.Command(os.Args[0], "-test.run", "^TestCrashChild$", "-test.v")
		cmd.Env = append(os.Environ(), "COFSWITCH_CRASH_DIR="+dir)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// The kill comes at a random moment after the child's first
		// sync, not after a fixed time: a loaded machine (-race) may take
		// longer than that to start it.
		synced := make(chan struct{})
		go func() {
			sc := bufio.NewScanner(out)
			once := sync.OnceFunc(func() { close(synced) })
			for sc.Scan() {
				if strings.HasPrefix(sc.Text(), "synced ") {
					once()
				}
			}
		}()
		select {
		case <-synced:
		case <-time.After(time.Minute):
			t.Fatal("the child synced nothing in a minute")
		}
		time.Sleep(time.Duration(50+k*37%200) * time.Millisecond)
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
	}
	d, err := OpenDisk(dir, DiskOptions{})
	if err != nil {
		t.Fatalf("reopening after kill -9: %v", err)
	}
	defer d.Close()
	applied, err := d.Applied(t.Context(), "PEER_p")
	if err != nil || applied < 10 {
		t.Fatalf("applied through %d (%v): the child did too little to test anything", applied, err)
	}
	// Redeliver everything up to past the end: the applied ones are skipped.
	last := applied + 20
	for seq := uint64(1); seq <= last; seq++ {
		if _, err := d.Apply(t.Context(), "PEER_p", seq, crashBatch(seq)); err != nil {
			t.Fatal(err)
		}
	}
	got, err := d.Lookup(t.Context(), Query{Name: "shared.example"})
	if err != nil || len(got) != 1 || got[0].Count != int64(last) {
		t.Fatalf("shared rrset after %d batches: %+v %v; each batch must count once", last, got, err)
	}
	for _, seq := range []uint64{1, applied / 2, applied, applied + 1, last} {
		got, err := d.Lookup(t.Context(), Query{Name: "*.s" + strconv.FormatUint(seq, 10) + ".example"})
		if err != nil || len(got) != 50 {
			t.Fatalf("batch %d: %d rrsets, %v", seq, len(got), err)
		}
		for _, s := range got {
			if s.Count != 1 {
				t.Fatalf("batch %d: %s counted %d times", seq, s.RRName, s.Count)
			}
		}
	}
	// The count is a sketch's estimate (0.8% standard error), replayed
	// batches counted once: 3% is four standard errors.
	if want := float64(last)*50 + 1; math.Abs(float64(d.Len())-want) > 0.03*want {
		t.Fatalf("the store counts %d rrsets, want %.0f within 3%%", d.Len(), want)
	}
}
