package follow_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cofswitch/cofswitch/sensor/follow"
)

func appendFile(t *testing.T, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
	f.Close()
}

// next reads n lines, failing after 5 s.
func next(t *testing.T, f *follow.Follower, n int) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var out []string
	for range n {
		line, err := f.Next(ctx)
		if err != nil {
			t.Fatalf("after %q: %v", out, err)
		}
		out = append(out, string(line))
	}
	return out
}

// nothing checks that no line comes within a few polls.
func nothing(t *testing.T, f *follow.Follower) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if line, err := f.Next(ctx); err == nil {
		t.Fatalf("unexpected line %q", line)
	}
}

var fast = follow.Options{Poll: 10 * time.Millisecond, MaxLine: 64}

func TestGrowthAndPartialLines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dns.log")
	f := follow.Open(path, follow.Position{}, fast)
	defer f.Close()
	go func() { time.Sleep(50 * time.Millisecond); appendFile(t, path, "a\nb\r\nhal") }()
	if got := strings.Join(next(t, f, 2), ","); got != "a,b" {
		t.Fatalf("got %s", got)
	}
	nothing(t, f) // "hal" has no newline yet
	appendFile(t, path, "f\n")
	if got := next(t, f, 1)[0]; got != "half" {
		t.Errorf("got %q, want the line completed", got)
	}
	if pos := f.Position(); pos.Offset != int64(len("a\nb\r\nhalf\n")) {
		t.Errorf("position %+v", pos)
	}
}

// Rotation by rename (logrotate's default) and by removal: the old file is
// read to its end first, its unterminated last line included.
func TestRotation(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "dns.log")
	appendFile(t, path, "1\n2\n")
	f := follow.Open(path, follow.Position{}, fast)
	defer f.Close()
	next(t, f, 2)
	appendFile(t, path, "3\nlast-without-newline")
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path, "4\n")
	if got := strings.Join(next(t, f, 3), ","); got != "3,last-without-newline,4" {
		t.Fatalf("across a rename: %s", got)
	}
	os.Remove(path)
	nothing(t, f)
	appendFile(t, path, "5\n")
	if got := next(t, f, 1)[0]; got != "5" {
		t.Errorf("after removal and creation: %q", got)
	}
	if st := f.Stats(); st.Rotations != 2 {
		t.Errorf("rotations %d, want 2", st.Rotations)
	}
}

// copytruncate: the file is truncated in place; reading starts again at
// its top.
func TestTruncation(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dns.log")
	appendFile(t, path, "one\ntwo\nthree\n")
	f := follow.Open(path, follow.Position{}, fast)
	defer f.Close()
	next(t, f, 3)
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path, "x\n")
	if got := next(t, f, 1)[0]; got != "x" {
		t.Errorf("after truncation: %q", got)
	}
	if st := f.Stats(); st.Truncs != 1 {
		t.Errorf("truncations %d", st.Truncs)
	}
}

// A restart at a saved position reads the line after the last one
// returned; a position of another file (rotated meanwhile) starts the new
// one at its top.
func TestResume(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "dns.log")
	appendFile(t, path, "1\n2\n3\n")
	f := follow.Open(path, follow.Position{}, fast)
	next(t, f, 2)
	state := filepath.Join(dir, "positions.json")
	if err := follow.SavePositions(state, []follow.Position{f.Position()}); err != nil {
		t.Fatal(err)
	}
	f.Close()

	saved, err := follow.LoadPositions(state)
	if err != nil {
		t.Fatal(err)
	}
	f = follow.Open(path, saved[path], fast)
	if got := next(t, f, 1)[0]; got != "3" {
		t.Errorf("resumed at %q, want 3", got)
	}
	f.Close()

	os.Rename(path, path+".1")
	appendFile(t, path, "new\n")
	f = follow.Open(path, saved[path], fast)
	defer f.Close()
	if got := next(t, f, 1)[0]; got != "new" {
		t.Errorf("a rotated file resumed at %q, want its top", got)
	}
	if m, err := follow.LoadPositions(filepath.Join(dir, "none.json")); err != nil || len(m) != 0 {
		t.Errorf("missing positions file: %v %v", m, err)
	}
}

func TestLongLinesSkipped(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dns.log")
	appendFile(t, path, "ok\n"+strings.Repeat("x", 200)+"\nafter\n")
	f := follow.Open(path, follow.Position{}, fast)
	defer f.Close()
	if got := strings.Join(next(t, f, 2), ","); got != "ok,after" {
		t.Errorf("got %s", got)
	}
	if st := f.Stats(); st.LongLinesSkipped != 1 {
		t.Errorf("skipped %d", st.LongLinesSkipped)
	}
}

func TestWaitsForTheFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "later.log")
	f := follow.Open(path, follow.Position{}, fast)
	defer f.Close()
	nothing(t, f)
	if !f.Stats().WaitingForTheFile {
		t.Error("not waiting for the file")
	}
	appendFile(t, path, "here\n")
	if got := next(t, f, 1)[0]; got != "here" {
		t.Errorf("got %q", got)
	}
}
