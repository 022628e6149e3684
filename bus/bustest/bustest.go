// Package bustest starts real NATS servers for tests, as httptest starts
// HTTP servers: on a random loopback port, with the store in a temp dir,
// shut down when the test ends.
package bustest

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cofswitch/cofswitch/bus"
)

// Server starts an embedded NATS server with JetStream and returns it with
// a connected client.
func Server(t testing.TB) (*server.Server, *nats.Conn, jetstream.JetStream) {
	t.Helper()
	srv, err := bus.StartServer(bus.ServerConfig{Listen: "127.0.0.1:0", StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return srv, nc, js
}

// Restartable is a server a test can stop and start again on the same
// address and store, as an exchange restarted by its operator.
type Restartable struct {
	t     testing.TB
	addr  string
	store string
	srv   *server.Server
}

// NewRestartable starts a Restartable on a free loopback port; it is shut
// down when the test ends.
func NewRestartable(t testing.TB) *Restartable {
	t.Helper()
	r := &Restartable{t: t, addr: FreeAddr(t), store: t.TempDir()}
	r.Start()
	t.Cleanup(r.Stop)
	return r
}

// Start starts the server (again).
func (r *Restartable) Start() {
	r.t.Helper()
	srv, err := bus.StartServer(bus.ServerConfig{Listen: r.addr, StoreDir: r.store})
	if err != nil {
		r.t.Fatal(err)
	}
	r.srv = srv
}

// Stop shuts the server down, its store kept.
func (r *Restartable) Stop() {
	if r.srv != nil {
		r.srv.Shutdown()
		r.srv.WaitForShutdown()
		r.srv = nil
	}
}

// URL is the server's client URL, the same across restarts.
func (r *Restartable) URL() string { return "nats://" + r.addr }

// Cluster starts n embedded servers with JetStream, routed to one another
// as one cluster on random loopback ports, each with its store in a temp
// dir, and waits until JetStream has a leader that sees every server. It
// returns the servers and their client URLs, comma-separated; they are
// shut down when the test ends.
func Cluster(t testing.TB, n int) ([]*server.Server, string) {
	t.Helper()
	routes := make([]string, n)
	for i := range routes {
		routes[i] = "nats-route://" + FreeAddr(t)
	}
	var srvs []*server.Server
	var urls []string
	for i := range n {
		conf := fmt.Sprintf("cluster { name: test, listen: %q, routes: [%s] }",
			strings.TrimPrefix(routes[i], "nats-route://"), strings.Join(routes, ", "))
		srv, err := bus.StartServer(bus.ServerConfig{Listen: "127.0.0.1:0", StoreDir: t.TempDir(), Name: fmt.Sprintf("n%d", i+1), Config: conf})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
		srvs = append(srvs, srv)
		urls = append(urls, srv.ClientURL())
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		for _, s := range srvs {
			if s.JetStreamIsLeader() && len(s.JetStreamClusterPeers()) == n {
				return srvs, strings.Join(urls, ",")
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the %d-node cluster has no JetStream leader seeing every node after 30s", n)
		}
	}
}

// FreeAddr is a loopback address with a port free a moment ago.
func FreeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
