package gen

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cofswitch/cofswitch/cof"
)

func TestWriteAndCreate(t *testing.T) {
	for _, name := range []string{"out.ndjson", "out.ndjson.gz", "out.ndjson.zst"} {
		t.Run(name, func(t *testing.T) {
			g, err := New(Options{Seed: 3, Names: 1000, Sensors: []string{"s1"}, Now: time.Unix(1.7e9, 0)})
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), name)
			w, closeOut, err := Create(path)
			if err != nil {
				t.Fatal(err)
			}
			n, err := Write(context.Background(), g, w, Limits{N: 250})
			if err != nil || n != 250 {
				t.Fatalf("Write = %d, %v", n, err)
			}
			if err := closeOut(); err != nil {
				t.Fatal(err)
			}
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			rd, err := cof.NewReader(bytes.NewReader(data))
			if err != nil {
				t.Fatal(err)
			}
			valid := 0
			for rd.Next() {
				if rd.LineErr() != nil {
					t.Fatalf("line %d: %v", rd.LineNumber(), rd.LineErr())
				}
				valid++
			}
			if valid != 250 {
				t.Fatalf("read back %d records, want 250", valid)
			}
		})
	}
}

func TestWriteStops(t *testing.T) {
	g, _ := New(Options{Seed: 1, Names: 100, Sensors: []string{"s1"}})
	var buf bytes.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if n, err := Write(ctx, g, &buf, Limits{N: 1000}); n != 0 || err != nil {
		t.Fatalf("an ended context: %d, %v", n, err)
	}
	start := time.Now()
	n, err := Write(context.Background(), g, &buf, Limits{Duration: 200 * time.Millisecond, Rate: 1000})
	if err != nil || n == 0 || n > 400 || time.Since(start) < 200*time.Millisecond {
		t.Fatalf("200 ms at 1000/s: %d records in %v, %v", n, time.Since(start), err)
	}
}
