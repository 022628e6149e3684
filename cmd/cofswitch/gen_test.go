package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/cofswitch/cofswitch/bus/bustest"
	"github.com/cofswitch/cofswitch/cof"
	"github.com/cofswitch/cofswitch/routing"
)

func TestGen(t *testing.T) {
	got := runCLI(t, nil, "gen", "-n", "300", "--seed", "9", "--sensors", "a,b")
	if got.code != exitOK || strings.Count(got.stdout, "\n") != 300 {
		t.Fatalf("gen to stdout = exit %d, %d lines, %q", got.code, strings.Count(got.stdout, "\n"), got.stderr)
	}
	if again := runCLI(t, nil, "gen", "-n", "300", "--seed", "9", "--sensors", "a,b"); again.stdout != got.stdout {
		t.Error("the same seed gave different output")
	}
	if !strings.Contains(got.stdout, `"sensor_id":"a"`) || !strings.Contains(got.stdout, `"sensor_id":"b"`) {
		t.Error("records are not attributed to both sensors")
	}

	// Compressed by extension, and every record valid.
	for _, name := range []string{"g.ndjson.zst", "g.ndjson.gz", "g.ndjson"} {
		path := filepath.Join(t.TempDir(), name)
		if got := runCLI(t, nil, "gen", "-n", "2500", "--out", path); got.code != exitOK {
			t.Fatalf("gen --out %s = %+v", name, got)
		}
		fh, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		rd, err := cof.NewReader(fh)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for rd.Next() {
			if err := rd.LineErr(); err != nil {
				t.Fatalf("%s line %d: %v", name, rd.LineNumber(), err)
			}
			n++
		}
		if rd.Err() != nil || n != 2500 {
			t.Errorf("%s: %d records, err %v; want 2500", name, n, rd.Err())
		}
		rd.Close()
		fh.Close()
	}

	// --internal 0 means none, not the default share.
	got = runCLI(t, nil, "gen", "-n", "5000", "--internal", "0")
	for _, private := range []string{`"10.`, `"192.168.`, `.corp"`, `.internal"`} {
		if strings.Contains(got.stdout, private) {
			t.Errorf("--internal 0 made a record with %s", private)
		}
	}
}

func TestGenErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"gen", "--names", "3"}, "names 3: want at least 8"},
		{[]string{"gen", "--zipf", "1"}, "zipf 1: want more than 1"},
		{[]string{"gen", "--internal", "2"}, "internal 2"},
		{[]string{"gen", "--rate", "-1"}, "--rate -1"},
		{[]string{"gen", "--duration", "-1s"}, "--duration -1s"},
		{[]string{"gen", "--publish", "s1", "--out", "x"}, "choose one"},
		{[]string{"gen", "--out", "/nonexistent/dir/x"}, "no such file"},
		{[]string{"gen", "extra"}, "takes no arguments"},
	}
	for _, tt := range tests {
		got := runCLI(t, nil, tt.args...)
		if got.code != exitUsage || !strings.Contains(got.stderr, tt.want) {
			t.Errorf("%q = exit %d %q, want exit 2 and %q", tt.args, got.code, got.stderr, tt.want)
		}
	}
}

// TestGenPublishPacedSendsAsItGoes: paced, gen --publish sends records as
// it makes them, not in one burst at the end (a 1 MiB buffer held 10 s of
// 50 records a second: a revocation or crash meanwhile lost them all).
func TestGenPublishPacedSendsAsItGoes(t *testing.T) {
	srv, _, js := bustest.Server(t)
	s, err := js.CreateStream(t.Context(), jetstream.StreamConfig{Name: "IN", Subjects: []string{routing.InSubject("s1")}})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan result, 1)
	go func() {
		done <- runCLI(t, nil, "gen", "--publish", "s1", "--nats-url", srv.ClientURL(), "--rate", "50", "--duration", "5s")
	}()
	deadline := time.After(4 * time.Second)
	for {
		info, err := s.Info(t.Context())
		if err == nil && info.State.Msgs > 0 {
			break
		}
		select {
		case r := <-done:
			t.Fatalf("gen ended (exit %d) before a batch was stored: %s", r.code, r.stderr)
		case <-deadline:
			t.Fatal("nothing stored within 4 s of a 5 s run at 50 records a second")
		case <-time.After(50 * time.Millisecond):
		}
	}
	if r := <-done; r.code != exitOK {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
}
