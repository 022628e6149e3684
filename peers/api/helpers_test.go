package api

import (
	"bytes"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cofswitch/cofswitch/cof"
	"github.com/cofswitch/cofswitch/peers/db"
	"github.com/cofswitch/cofswitch/peers/db/dbtest"
)

// testEpoch starts the fake clocks.
var testEpoch = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// fakeClock is a clock tests move by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: testEpoch} }

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// syncBuffer collects log output from concurrent handlers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *syncBuffer) lines() []string {
	return strings.Split(strings.TrimSpace(b.String()), "\n")
}

func (b *syncBuffer) logger() *slog.Logger { return slog.New(slog.NewTextHandler(b, nil)) }

// serveHTTP serves s's handler through httptest, on loopback.
func serveHTTP(t *testing.T, s *Server) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	return srv
}

// bigStore holds n A rrsets h<i>.big.example in 10.0.0.0/8, each with an
// rdata of pad bytes more (a TXT rrset beside it) to make answers large.
func bigStore(t testing.TB, n, pad int) *db.DiskStore {
	t.Helper()
	store := dbtest.New(t)
	var recs []*cof.Record
	for i := range n {
		line := fmt.Sprintf(`{"rrname":"h%d.big.example","rrtype":"A","rdata":["10.%d.%d.%d"],"time_first":1,"time_last":2}`, i, i>>16&255, i>>8&255, i&255)
		if pad > 0 {
			line = fmt.Sprintf(`{"rrname":"h%d.big.example","rrtype":"TXT","rdata":["%s"],"time_first":1,"time_last":2}`, i, strings.Repeat("x", pad))
		}
		r, err := cof.Parse([]byte(line))
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, &r)
	}
	if _, err := store.Apply(t.Context(), "S", 0, recs); err != nil {
		t.Fatal(err)
	}
	// No flush or compaction may run while a test counts what a request
	// allocates.
	if err := store.Settle(); err != nil {
		t.Fatal(err)
	}
	return store
}

// do sends a GET with headers and returns the status, headers and body.
func do(t *testing.T, client *http.Client, url string, hdr map[string]string) (int, http.Header, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	return resp.StatusCode, resp.Header, b.String()
}
