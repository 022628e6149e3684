package publish_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cofswitch/cofswitch/bus/bustest"
	"github.com/cofswitch/cofswitch/cof"
	"github.com/cofswitch/cofswitch/routing"
	"github.com/cofswitch/cofswitch/sensor/publish"
)

// input starts a server with the exchange's input stream.
func input(t *testing.T) (*nats.Conn, jetstream.JetStream, jetstream.Stream) {
	t.Helper()
	_, nc, js := bustest.Server(t)
	st, err := js.CreateStream(t.Context(), jetstream.StreamConfig{Name: routing.InStream("s1"), Subjects: []string{routing.InSubject("s1")}, Duplicates: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	return nc, js, st
}

func lines(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, `{"rrname":"h%d.example","rrtype":"A","rdata":"192.0.2.1","time_first":1,"time_last":2}`+"\n", i)
	}
	return b.String()
}

// stored reads every message of the input stream back as lines, with the
// message ids.
func stored(t *testing.T, js jetstream.JetStream, st jetstream.Stream) (got []string, ids map[string]bool) {
	t.Helper()
	info, err := st.Info(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	codec, _ := cof.NewCodec()
	defer codec.Close()
	ids = map[string]bool{}
	for seq := uint64(1); seq <= info.State.LastSeq; seq++ {
		m, err := st.GetMsg(t.Context(), seq)
		if err != nil {
			t.Fatal(err)
		}
		if m.Subject != routing.InSubject("s1") {
			t.Errorf("message %d on %s", seq, m.Subject)
		}
		ids[m.Header.Get(jetstream.MsgIDHeader)] = true
		enc, err := cof.ParseEncoding(m.Header.Get("Content-Encoding"))
		if err != nil {
			t.Fatal(err)
		}
		br := codec.NewBatchReader()
		if err := br.Reset(m.Data, enc); err != nil {
			t.Fatal(err)
		}
		for br.Next() {
			got = append(got, string(br.Line()))
		}
	}
	return got, ids
}

func open(s string) func() (io.ReadCloser, error) {
	return func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(s)), nil }
}

func TestPublishBatches(t *testing.T) {
	for _, enc := range []cof.Encoding{cof.Identity, cof.Zstd, cof.S2} {
		t.Run("encoding="+string(enc), func(t *testing.T) {
			nc, js, st := input(t)
			var progress int
			p, err := publish.New(nc, js, publish.Options{Sensor: "s1", Batch: 100, Encoding: enc, MaxPending: 4,
				Stored: func(records int, _ int64) { progress = records }})
			if err != nil {
				t.Fatal(err)
			}
			in := lines(1234)
			if err := p.ReadFrom(t.Context(), "in", open(in)); err != nil {
				t.Fatal(err)
			}
			res := p.Close(t.Context())
			if res.Records != 1234 || res.Batches != 13 || res.Failed != 0 || res.Refused != nil || progress != 1234 {
				t.Fatalf("result %+v (progress %d), want 1234 records in 13 batches", res, progress)
			}
			got, ids := stored(t, js, st)
			if strings.Join(got, "\n")+"\n" != in {
				t.Fatalf("stored %d lines, not the input in order", len(got))
			}
			if len(ids) != 13 || ids[""] {
				t.Errorf("message ids %v: want 13 distinct", ids)
			}
		})
	}
}

// A quiet pipe's partial batch is sent after the linger time, not when
// the input ends.
func TestPublishLinger(t *testing.T) {
	nc, js, st := input(t)
	p, err := publish.New(nc, js, publish.Options{Sensor: "s1", Linger: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- p.ReadFrom(t.Context(), "pipe", func() (io.ReadCloser, error) { return pr, nil })
	}()
	if _, err := io.WriteString(pw, lines(3)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		info, err := st.Info(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if info.State.Msgs == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the partial batch was not sent while the pipe stayed open")
		}
		time.Sleep(10 * time.Millisecond)
	}
	pw.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if res := p.Close(t.Context()); res.Records != 3 || res.Batches != 1 {
		t.Fatalf("result %+v", res)
	}
}

func TestPublishErrors(t *testing.T) {
	nc, js, _ := input(t)
	for _, tt := range []struct {
		name string
		o    publish.Options
	}{
		{"no sensor", publish.Options{}},
		{"a sensor id over the length limit", publish.Options{Sensor: strings.Repeat("s", routing.MaxIDLen+1)}},
		{"batch over the record limit", publish.Options{Sensor: "s1", Batch: cof.DefaultMaxRecords + 1}},
		{"negative batch", publish.Options{Sensor: "s1", Batch: -1}},
		{"negative pending", publish.Options{Sensor: "s1", MaxPending: -1}},
		{"unknown encoding", publish.Options{Sensor: "s1", Encoding: "gzip"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := publish.New(nc, js, tt.o); !errors.Is(err, publish.ErrInvalidOption) {
				t.Fatalf("New(%+v) = %v, want ErrInvalidOption", tt.o, err)
			}
		})
	}

	t.Run("a line too long for a message", func(t *testing.T) {
		p, err := publish.New(nc, js, publish.Options{Sensor: "s1"})
		if err != nil {
			t.Fatal(err)
		}
		// 10 MB: read to its end and dropped, never held whole.
		err = p.ReadFrom(t.Context(), "big", open(lines(2)+strings.Repeat("x", 10<<20)+"\n"+lines(3)))
		if err != nil {
			t.Fatalf("err = %v, want the over-size line skipped", err)
		}
		res := p.Close(t.Context())
		if res.Records != 5 || res.Failed != 0 || res.SkippedLines != 1 || len(res.Skipped) != 1 ||
			res.Skipped[0].String() != "big:3" || res.Skipped[0].Bytes != 10<<20+1 {
			t.Fatalf("result %+v, want the 5 other lines stored and big:3 (10 MiB + 1) skipped", res)
		}
	})

	t.Run("an input that cannot be opened", func(t *testing.T) {
		p, _ := publish.New(nc, js, publish.Options{Sensor: "s1"})
		want := errors.New("no such input")
		if err := p.ReadFrom(t.Context(), "x", func() (io.ReadCloser, error) { return nil, want }); !errors.Is(err, want) {
			t.Fatalf("err = %v", err)
		}
		p.Close(t.Context())
	})
}

// Batches no stream takes are counted as not stored, never as stored.
func TestPublishWithoutStream(t *testing.T) {
	_, nc, js := bustest.Server(t)
	p, err := publish.New(nc, js, publish.Options{Sensor: "s1", Batch: 10, RetryFor: -1})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.ReadFrom(t.Context(), "in", open(lines(25))); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	res := p.Close(ctx)
	if res.Records != 0 || res.Failed != 3 || res.FailedRecords != 25 {
		t.Fatalf("result %+v, want 3 batches (25 records) not stored", res)
	}
}

// TestPublishRidesOutAMissingLeader: while nothing answers on the
// stream's subject (a cluster electing the stream's leader; here, a
// stream made 1.5 s late), batches are sent again, and all are stored.
func TestPublishRidesOutAMissingLeader(t *testing.T) {
	_, nc, js := bustest.Server(t)
	p, err := publish.New(nc, js, publish.Options{Sensor: "s1", Batch: 10})
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		time.Sleep(1500 * time.Millisecond)
		if _, err := js.CreateStream(context.Background(), jetstream.StreamConfig{Name: "IN", Subjects: []string{"cof.in.>"}}); err != nil {
			t.Error(err)
		}
	}()
	if err := p.ReadFrom(t.Context(), "in", open(lines(25))); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if res := p.Close(ctx); res.Records != 25 || res.Failed != 0 {
		t.Fatalf("result %+v, want 25 records stored", res)
	}
}

func TestRefusals(t *testing.T) {
	var r publish.Refusals
	r.Handler(nil, nil, errors.New("slow consumer"))
	if r.Err() != nil {
		t.Fatalf("a slow consumer counted as a refusal: %v", r.Err())
	}
	first := fmt.Errorf("%w: publish to cof.in.other", nats.ErrPermissionViolation)
	r.Handler(nil, nil, first)
	r.Handler(nil, nil, fmt.Errorf("%w: second", nats.ErrPermissionViolation))
	if r.Err() != first {
		t.Fatalf("Err = %v, want the first violation", r.Err())
	}
	var none *publish.Refusals
	if none.Err() != nil {
		t.Fatal("a nil Refusals reports a refusal")
	}
}

// TestInterruptedIntoAFullInput: a sensor's input refuses (full, discard
// new); interrupted, the publisher stops at once, reports what was stored
// and where to resume, instead of retrying every batch to its end.
func TestInterruptedIntoAFullInput(t *testing.T) {
	_, nc, js := bustest.Server(t)
	if _, err := js.CreateStream(t.Context(), jetstream.StreamConfig{Name: "IN", Subjects: []string{routing.InSubject("s1")},
		MaxMsgs: 3, Discard: jetstream.DiscardNew}); err != nil {
		t.Fatal(err)
	}
	p, err := publish.New(nc, js, publish.Options{Sensor: "s1", Batch: 10, MaxPending: 2})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	start := time.Now()
	if err := p.ReadFrom(ctx, "in.ndjson", open(lines(1000))); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want the deadline", err)
	}
	drain, cancel2 := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel2()
	res := p.Close(drain)
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("stopping took %v", took)
	}
	if res.Records != 30 || res.Failed == 0 || res.Resume.String() != "in.ndjson:31" {
		t.Errorf("result %+v: want 3 batches (30 records) stored, the rest failed, resume at in.ndjson:31", res)
	}
}
