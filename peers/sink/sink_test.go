package sink_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/cofswitch/cofswitch/cof"
	"github.com/cofswitch/cofswitch/peers/sink"
	"github.com/cofswitch/cofswitch/switch/exchange/exchangetest"
)

// peerStream starts a server with one peer's stream and its consumer, and
// fills the stream with n batches of per records, as the switch would.
func peerStream(t *testing.T, n, per int) jetstream.Consumer {
	t.Helper()
	_, js := exchangetest.PeerFeed(t)
	hdr := map[string]string{"Cofswitch-Records": fmt.Sprint(per), "Cofswitch-TLP": "TLP:AMBER"}
	for i := range n {
		exchangetest.Store(t, js, exchangetest.Batch(i, per), cof.Zstd, hdr)
	}
	return exchangetest.Consumer(t, js)
}

func run(t *testing.T, r *sink.Runner, done func() bool) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	finished := make(chan struct{})
	go func() { _ = r.Run(ctx); close(finished) }()
	deadline := time.Now().Add(30 * time.Second)
	for !done() {
		if time.Now().After(deadline) {
			cancel()
			<-finished
			t.Fatalf("timed out; runner stats %+v", r.Stats())
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	<-finished
}

// flakyReceiver applies batches by idempotency key and fails 30% of
// requests: half before applying, half after (the response is lost).
type flakyReceiver struct {
	mu       sync.Mutex
	applied  map[string]int // key -> records
	records  map[string]int // rrname -> times applied
	requests int
	dupes    int
	fail     func(r *http.Request) int
	steady   bool // no random failures
}

func (f *flakyReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests++
	if code := f.fail(r); code != 0 {
		w.WriteHeader(code)
		return
	}
	roll := 100
	if !f.steady {
		roll = rand.IntN(100)
	}
	if roll < 15 {
		http.Error(w, "overloaded", http.StatusServiceUnavailable)
		return
	}
	key := r.Header.Get(sink.HeaderIdempotencyKey)
	if _, done := f.applied[key]; done {
		f.dupes++
		w.WriteHeader(http.StatusOK)
		return
	}
	var body io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		body = zr
	}
	data, _ := io.ReadAll(body)
	n := 0
	for _, line := range bytes.Split(bytes.TrimSpace(data), []byte{'\n'}) {
		rec, err := cof.Parse(line)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		f.records[rec.RRName]++
		n++
	}
	f.applied[key] = n
	if roll < 30 { // applied, but the answer is lost
		http.Error(w, "gateway timeout", http.StatusGatewayTimeout)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (f *flakyReceiver) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.applied)
}

func TestHTTPSinkFlakyReceiver(t *testing.T) {
	const batches, per = 200, 20
	cons := peerStream(t, batches, per)
	recv := &flakyReceiver{applied: map[string]int{}, records: map[string]int{}, fail: func(*http.Request) int { return 0 }}
	srv := httptest.NewServer(recv)
	defer srv.Close()
	s, err := sink.NewHTTP(srv.URL, sink.HTTPOptions{Backoff: time.Millisecond, Attempts: 3})
	if err != nil {
		t.Fatal(err)
	}
	r := &sink.Runner{Consumer: cons, Stream: "PEER_p", Sink: s, Log: slog.New(slog.DiscardHandler), Backoff: time.Millisecond}
	run(t, r, func() bool { return recv.count() == batches && r.Stats().Batches == batches })
	if len(recv.records) != batches*per {
		t.Errorf("%d distinct records applied, want %d", len(recv.records), batches*per)
	}
	for name, n := range recv.records {
		if n != 1 {
			t.Fatalf("%s applied %d times", name, n)
		}
	}
	// About 1.4 requests a batch are expected (280, σ ≈ 10); 5/4 (250)
	// sat 3σ from it and failed a CI run at 248. A tenth more than one a
	// batch still proves retries happened.
	if recv.dupes == 0 || recv.requests < batches*11/10 {
		t.Errorf("the receiver saw %d requests and %d duplicate keys: the 30%% failures were not exercised", recv.requests, recv.dupes)
	}
	t.Logf("%d batches, %d requests, %d duplicate keys absorbed", batches, recv.requests, recv.dupes)
}

func TestHTTPSinkClientErrorsArePermanentButNothingIsLost(t *testing.T) {
	cons := peerStream(t, 2, 3)
	refusals := 3
	recv := &flakyReceiver{applied: map[string]int{}, records: map[string]int{}, steady: true, fail: func(r *http.Request) int {
		if r.Header.Get("Cofswitch-TLP") != "TLP:AMBER" || r.Header.Get("Content-Type") != "application/x-ndjson" {
			return http.StatusUnprocessableEntity
		}
		if refusals > 0 {
			refusals--
			return http.StatusForbidden // e.g. a token the receiver has not rolled out yet
		}
		return 0
	}}
	srv := httptest.NewServer(recv)
	defer srv.Close()
	s, _ := sink.NewHTTP(srv.URL, sink.HTTPOptions{Backoff: time.Millisecond, Attempts: 5})
	r := &sink.Runner{Consumer: cons, Stream: "PEER_p", Sink: s, Log: slog.New(slog.DiscardHandler), Backoff: time.Millisecond}
	run(t, r, func() bool { return recv.count() == 2 && r.Stats().Batches == 2 }) // counted once acked, just after
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(sink.NewCollector(r))
	if err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP cofswitch_sink_refusals_total Deliveries the destination refused, by kind (permanent: a 4xx, a full disk).
# TYPE cofswitch_sink_refusals_total counter
cofswitch_sink_refusals_total{kind="permanent"} 3
cofswitch_sink_refusals_total{kind="transient"} 0
`), "cofswitch_sink_refusals_total"); err != nil {
		t.Error(err)
	}
	st := r.Stats()
	if st.Permanent != 3 || st.Batches != 2 {
		t.Errorf("stats %+v: want 3 permanent refusals (one attempt each, no retries within Deliver) and 2 batches", st)
	}
}

func TestHTTPSinkOptions(t *testing.T) {
	if _, err := sink.NewHTTP("http://x", sink.HTTPOptions{Encoding: "br"}); err == nil {
		t.Error("encoding br accepted")
	}
	if _, err := sink.Open("ftp://x", sink.Options{}); err == nil {
		t.Error("ftp destination accepted")
	}
}

func TestFileSinkRotationAndRepair(t *testing.T) {
	dir := t.TempDir()
	now := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	s, err := sink.NewFiles(dir, sink.FileOptions{MaxBytes: 400, MaxAge: time.Hour, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	batch := func(i int) sink.Batch {
		var b []byte
		for j := range 5 {
			b = fmt.Appendf(b, `{"rrname":"f%d-%d.example","rrtype":"A","rdata":["192.0.2.%d"],"time_first":1,"time_last":2}`+"\n", i, j, j+1)
		}
		return sink.Batch{Key: fmt.Sprint(i), Body: b, Records: 5}
	}
	for i := range 6 {
		if err := s.Deliver(t.Context(), batch(i)); err != nil {
			t.Fatal(err)
		}
		now = now.Add(time.Second)
	}
	now = now.Add(2 * time.Hour) // the next batch starts a new file by age
	if err := s.Deliver(t.Context(), batch(6)); err != nil {
		t.Fatal(err)
	}
	// Simulate a crash: the open file keeps a torn batch at its end.
	partials, _ := filepath.Glob(filepath.Join(dir, "*.partial"))
	if len(partials) != 1 {
		t.Fatalf("partial files: %v", partials)
	}
	f, _ := os.OpenFile(partials[0], os.O_WRONLY|os.O_APPEND, 0)
	_, _ = f.Write([]byte{0x50, 0x2a, 0x4d, 0x18, 8, 0, 0, 0, 200, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3})
	f.Close()
	// Restart: the torn tail is cut, the file finished.
	sink.Abandon(s)
	s2, err := sink.NewFiles(dir, sink.FileOptions{MaxBytes: 400, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	if err := s2.Deliver(t.Context(), batch(7)); err != nil {
		t.Fatal(err)
	}
	if err := s2.Close(); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "cof-*"))
	var all []string
	for _, name := range files {
		if !strings.HasSuffix(name, ".ndjson.zst") {
			t.Errorf("unfinished file left: %s", name)
		}
		data, err := sink.ReadFile(name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		all = append(all, strings.Split(strings.TrimSpace(string(data)), "\n")...)
	}
	if len(all) != 8*5 {
		t.Errorf("%d records in %d files, want 40", len(all), len(files))
	}
	if len(files) < 4 {
		t.Errorf("%d files: size and age rotation did not happen", len(files))
	}
}

func TestWriterSink(t *testing.T) {
	var buf bytes.Buffer
	s, _ := sink.Open("stdout", sink.Options{Stdout: &buf})
	if err := s.Deliver(t.Context(), sink.Batch{Body: []byte("a\nb\n")}); err != nil || buf.String() != "a\nb\n" {
		t.Errorf("writer sink: %v %q", err, buf.String())
	}
}

func TestFileSinkRefusesASecondSinkOnItsDirectory(t *testing.T) {
	dir := t.TempDir()
	s, err := sink.NewFiles(dir, sink.FileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Deliver(t.Context(), sink.Batch{Body: []byte("{}\n")}); err != nil {
		t.Fatal(err)
	}
	if _, err := sink.NewFiles(dir, sink.FileOptions{}); err == nil || !strings.Contains(err.Error(), "in use by another sink") {
		t.Fatalf("a second sink on the directory: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2, err := sink.NewFiles(dir, sink.FileOptions{})
	if err != nil {
		t.Fatalf("after the first closed: %v", err)
	}
	s2.Close()
}

func TestHTTPSinkRedirectIsNotDelivery(t *testing.T) {
	var posts int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/old" {
			http.Redirect(w, r, "/new", http.StatusFound)
			return
		}
		if r.Method == http.MethodPost {
			posts++
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()
	s, _ := sink.NewHTTP(strings.Replace(srv.URL, "http://", "http://alice:s3cret@", 1)+"/old", sink.HTTPOptions{Attempts: 1})
	err := s.Deliver(t.Context(), sink.Batch{Key: "k", Body: []byte("{}\n")})
	if err == nil || !errors.Is(err, sink.ErrPermanent) || posts != 0 {
		t.Fatalf("a redirect was taken for delivery: err %v, posts at the target %d", err, posts)
	}
	s2, _ := sink.NewHTTP("http://alice:s3cret@127.0.0.1:1/x", sink.HTTPOptions{Attempts: 1})
	if err := s2.Deliver(t.Context(), sink.Batch{Key: "k", Body: []byte("{}\n")}); err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("error leaks the password or is nil: %v", err)
	}
}

func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"https://user:secret@pdns.example/ingest": "https://[redacted]@pdns.example/ingest",
		"http://pdns.example/ingest":              "http://pdns.example/ingest",
		"file:/var/lib/feed@x":                    "file:/var/lib/feed@x",
		"stdout":                                  "stdout",
	} {
		if got := sink.Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
}

// The file sink's directory and files are its owner's alone, under the
// usual umask too: a feed may be TLP:RED.
func TestFileSinkModes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "feed", "files")
	s, err := sink.NewFiles(dir, sink.FileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Deliver(t.Context(), sink.Batch{Key: "1", Body: []byte("{}\n"), Records: 1}); err != nil {
		t.Fatal(err)
	}
	mode := func(path string) os.FileMode {
		t.Helper()
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		return st.Mode().Perm()
	}
	for _, d := range []string{dir, filepath.Dir(dir)} {
		if m := mode(d); m != 0o700 {
			t.Errorf("directory %s has mode %04o, want 0700", d, m)
		}
	}
	partials, _ := filepath.Glob(filepath.Join(dir, "*.partial"))
	if len(partials) != 1 {
		t.Fatalf("partial files: %v", partials)
	}
	if m := mode(partials[0]); m != 0o600 {
		t.Errorf("open file has mode %04o, want 0600", m)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	files = append(files, filepath.Join(dir, ".lock"))
	for _, f := range files {
		if m := mode(f); m != 0o600 {
			t.Errorf("%s has mode %04o, want 0600", f, m)
		}
	}
}
