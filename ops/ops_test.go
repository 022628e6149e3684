package ops_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cofswitch/cofswitch/ops"
)

func TestServe(t *testing.T) {
	c := prometheus.NewCounter(prometheus.CounterOpts{Namespace: "cofswitch", Subsystem: "test", Name: "things_total", Help: "Things."})
	c.Add(3)
	s, err := ops.Serve("127.0.0.1:0", nil, c)
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
	for _, want := range []string{"cofswitch_test_things_total 3", "go_goroutines", "process_cpu_seconds_total"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

func TestServeErrors(t *testing.T) {
	if _, err := ops.Serve("127.0.0.1:notaport", nil); err == nil {
		t.Error("a bad address was accepted")
	}
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "dup_total", Help: "x"})
	if _, err := ops.Serve("127.0.0.1:0", nil, c, c); err == nil {
		t.Error("a collector registered twice was accepted")
	}
}
