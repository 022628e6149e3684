package bus_test

import (
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cofswitch/cofswitch/bus"
)

// TestStartServerBusyPort: a second server on a port in use fails at
// once, naming the address, instead of waiting for readiness in vain.
func TestStartServerBusyPort(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	start := time.Now()
	_, err = bus.StartServer(bus.ServerConfig{Listen: l.Addr().String(), StoreDir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), l.Addr().String()) || time.Since(start) > 2*time.Second {
		t.Errorf("err = %v after %v, want an immediate error naming %s", err, time.Since(start), l.Addr())
	}
}

// TestMonitorPort: the server's monitoring endpoints on request.
func TestMonitorPort(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	srv, err := bus.StartServer(bus.ServerConfig{Listen: "127.0.0.1:0", StoreDir: t.TempDir(), Monitor: addr})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown()
	resp, err := http.Get("http://" + addr + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("/healthz: %v %v", err, resp)
	}
	resp.Body.Close()
}
