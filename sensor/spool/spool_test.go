package spool_test

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"

	"github.com/cofswitch/cofswitch/sensor/spool"
)

func open(t *testing.T, dir string, max int64) *spool.Spool {
	t.Helper()
	s, err := spool.Open(dir, spool.Options{MaxBytes: max})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func put(t *testing.T, s *spool.Spool, id string, data string) uint64 {
	t.Helper()
	seq, _, err := s.Put(id, "zstd", []byte(data))
	if err != nil {
		t.Fatal(err)
	}
	return seq
}

func ids(t *testing.T, s *spool.Spool) []string {
	t.Helper()
	es, err := s.After(0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		if e.Meta != "zstd" || string(e.Data) != "data of "+e.ID {
			t.Errorf("batch %d: meta %q data %q", e.Seq, e.Meta, e.Data)
		}
		out = append(out, e.ID)
	}
	return out
}

func TestPutDoneAndReopen(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, 0)
	for i := range 5 {
		if seq := put(t, s, fmt.Sprint("b", i), fmt.Sprint("data of b", i)); seq != uint64(i+1) {
			t.Fatalf("seq %d, want %d", seq, i+1)
		}
	}
	if err := s.Done(2); err != nil {
		t.Fatal(err)
	}
	if err := s.Done(2); err != nil { // twice: no error
		t.Fatal(err)
	}
	if got := fmt.Sprint(ids(t, s)); got != "[b0 b2 b3 b4]" {
		t.Errorf("after Done(2): %s", got)
	}
	es, _ := s.After(3, 1)
	if len(es) != 1 || es[0].ID != "b3" || es[0].Seq != 4 {
		t.Errorf("After(3, 1) = %+v", es)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Put("x", "", nil); !errors.Is(err, spool.ErrClosed) {
		t.Errorf("Put after Close: %v", err)
	}

	s = open(t, dir, 0)
	defer s.Close()
	if got := fmt.Sprint(ids(t, s)); got != "[b0 b2 b3 b4]" {
		t.Errorf("after reopen: %s", got)
	}
	if seq := put(t, s, "b5", "data of b5"); seq != 6 {
		t.Errorf("next seq after reopen %d, want 6", seq)
	}
	if st := s.Stats(); st.Entries != 5 || st.Bytes <= 0 {
		t.Errorf("stats %+v", st)
	}
}

// A full spool drops its oldest batches, counts them and says which.
func TestBoundDropsOldest(t *testing.T) {
	s := open(t, t.TempDir(), 200)
	defer s.Close()
	var dropped []spool.Entry
	for i := range 10 {
		_, d, err := s.Put(fmt.Sprint("b", i), "zstd", []byte(fmt.Sprint("data of b", i)))
		if err != nil {
			t.Fatal(err)
		}
		dropped = append(dropped, d...)
	}
	st := s.Stats()
	if st.Bytes > 200 || st.Dropped == 0 || st.Dropped != int64(len(dropped)) || st.Entries+st.Dropped != 10 {
		t.Errorf("stats %+v, %d dropped", st, len(dropped))
	}
	got := ids(t, s)
	if got[len(got)-1] != "b9" || dropped[0].ID != "b0" {
		t.Errorf("kept %v, dropped first %q: want the newest kept, the oldest dropped", got, dropped[0].ID)
	}
	if _, _, err := s.Put("huge", "", make([]byte, 500)); !errors.Is(err, spool.ErrTooBig) {
		t.Errorf("a batch over the bound: %v", err)
	}
}

func TestOneProcessAtATime(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, 0)
	if _, err := spool.Open(dir, spool.Options{}); !errors.Is(err, spool.ErrLocked) {
		t.Errorf("second Open: %v, want ErrLocked", err)
	}
	s.Close()
	open(t, dir, 0).Close()
}

// What a crash leaves: a temporary file is removed, a damaged batch is
// set aside and counted, the others are kept.
func TestCrashLeftovers(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, 0)
	put(t, s, "b0", "data of b0")
	put(t, s, "b1", "data of b1")
	s.Close()
	if err := os.WriteFile(filepath.Join(dir, ".tmp-123"), []byte("half"), 0o600); err != nil {
		t.Fatal(err)
	}
	first := filepath.Join(dir, fmt.Sprintf("%020d.batch", 1))
	b, _ := os.ReadFile(first)
	b[len(b)-6] ^= 0xff
	os.WriteFile(first, b, 0o600)

	s = open(t, dir, 0)
	defer s.Close()
	if got := fmt.Sprint(ids(t, s)); got != "[b1]" {
		t.Errorf("kept %s, want [b1]", got)
	}
	if st := s.Stats(); st.Corrupt != 1 {
		t.Errorf("stats %+v, want 1 corrupt", st)
	}
	if _, err := os.Stat(first + ".bad"); err != nil {
		t.Errorf("damaged batch not set aside: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, ".tmp-123")); !os.IsNotExist(err) {
		t.Errorf("temporary file left: %v", err)
	}
}

// TestKill9KeepsEveryPut: a process that spools batches and is killed
// with SIGKILL at a random moment leaves every batch whose Put returned,
// whole.
func TestKill9KeepsEveryPut(t *testing.T) {
	if dir := os.Getenv("SPOOL_CHILD_DIR"); dir != "" {
		s, err := spool.Open(dir, spool.Options{})
		if err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		for i := 0; ; i++ {
			if _, _, err := s.Put(fmt.Sprint("b", i), "zstd", []byte(fmt.Sprint("data of b", i))); err != nil {
				fmt.Println("error", err)
				os.Exit(1)
			}
			fmt.Println(i) // reported only once Put returned
			if i == 150 {
				syscall.Kill(os.Getpid(), syscall.SIGKILL)
			}
		}
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run", "^TestKill9KeepsEveryPut$")
	cmd.Env = append(os.Environ(), "SPOOL_CHILD_DIR="+dir)
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	last := -1
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if n, err := strconv.Atoi(sc.Text()); err == nil {
			last = n
		}
	}
	err := cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("child: %v", err)
	}
	s := open(t, dir, 0)
	defer s.Close()
	got := ids(t, s)
	if last < 150 || len(got) < last+1 {
		t.Fatalf("%d batches reported spooled, %d found", last+1, len(got))
	}
	for i := 0; i <= last; i++ {
		if got[i] != fmt.Sprint("b", i) {
			t.Fatalf("batch %d is %s", i, got[i])
		}
	}
}

// A batch file whose lengths add up only by overflowing (its checksum
// right) is set aside as corrupt, not a panic.
func TestCraftedLengthsOverflow(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, 0)
	s.Close()
	body := []byte("cofspool1\n")
	body = binary.AppendUvarint(body, math.MaxUint64) // id length
	body = binary.AppendUvarint(body, 2)              // meta length: the sum wraps to 1
	body = binary.AppendUvarint(body, 0)
	body = append(body, 'x')
	body = binary.BigEndian.AppendUint32(body, crc32.Checksum(body, crc32.MakeTable(crc32.Castagnoli)))
	path := filepath.Join(dir, fmt.Sprintf("%020d.batch", 1))
	if err := os.WriteFile(path, body, 0o600); err != nil {
		t.Fatal(err)
	}
	s = open(t, dir, 0)
	defer s.Close()
	if st := s.Stats(); st.Corrupt != 1 || st.Entries != 0 {
		t.Errorf("stats %+v, want 1 corrupt", st)
	}
}

// A spool written for one sensor is refused to another: its batches would
// be sent as the other's.
func TestOwner(t *testing.T) {
	dir := t.TempDir()
	s, err := spool.Open(dir, spool.Options{Owner: "s1", NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	put(t, s, "b0", "data of b0")
	s.Close()
	if _, err := spool.Open(dir, spool.Options{Owner: "s2", NoSync: true}); !errors.Is(err, spool.ErrOtherOwner) {
		t.Fatalf("s2 opened s1's spool: %v", err)
	}
	s, err = spool.Open(dir, spool.Options{Owner: "s1", NoSync: true})
	if err != nil {
		t.Fatalf("s1 reopening its own spool: %v", err)
	}
	defer s.Close()
	if got := fmt.Sprint(ids(t, s)); got != "[b0]" {
		t.Errorf("kept %s", got)
	}
}
