package ops_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cofswitch/cofswitch/ops"
)

func TestServe(t *testing.T) {
	c := prometheus.NewCounter(prometheus.CounterOpts{Namespace: "cofswitch", Subsystem: "test", Name: "things_total", Help: "Things."})
	c.Add(3)
	s, err := ops.Serve("127.0.0.1:0", nil, nil, c)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if !strings.HasPrefix(s.URL(), "http://127.0.0.1:") {
		t.Errorf("URL %s: want loopback", s.URL())
	}
	resp, err := http.Get(s.URL())
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{"cofswitch_test_things_total 3", "go_goroutines", "process_cpu_seconds_total", "go_build_info"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

func TestServeErrors(t *testing.T) {
	if _, err := ops.Serve("127.0.0.1:notaport", nil, nil); err == nil {
		t.Error("a bad address was accepted")
	}
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "dup_total", Help: "x"})
	if _, err := ops.Serve("127.0.0.1:0", nil, nil, c, c); err == nil {
		t.Error("a collector registered twice was accepted")
	}
}

// TestHealthAndReadiness: /healthz answers while the process does;
// /readyz follows the process's check, with the reason when not ready.
func TestHealthAndReadiness(t *testing.T) {
	var why atomic.Pointer[error]
	s, err := ops.Serve("127.0.0.1:0", nil, func(context.Context) error {
		if e := why.Load(); e != nil {
			return *e
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	base := strings.TrimSuffix(s.URL(), "/metrics")
	get := func(path string) (int, string) {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := get("/healthz"); code != 200 {
		t.Errorf("/healthz %d", code)
	}
	if code, _ := get("/readyz"); code != 200 {
		t.Errorf("/readyz %d while ready", code)
	}
	e := errors.New("stream PEER_x is missing")
	why.Store(&e)
	if code, body := get("/readyz"); code != 503 || !strings.Contains(body, "PEER_x") {
		t.Errorf("/readyz %d %q, want 503 naming the reason", code, body)
	}
}
