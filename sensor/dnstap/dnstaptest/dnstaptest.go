// Package dnstaptest runs a real resolver for tests: Debian's unbound with
// dnstap to a unix socket, resolving a zone from an authoritative server
// the test runs with miekg/dns on loopback. The sensor's own tests and the
// end-to-end test of 'cofswitch sensor' use it.
package dnstaptest

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// Bin returns unbound's path, or skips the test when it is not on PATH
// (fails instead when COFSWITCH_REQUIRE_UNBOUND is set, as .ci/run does).
func Bin(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("unbound")
	if err != nil {
		if os.Getenv("COFSWITCH_REQUIRE_UNBOUND") != "" {
			t.Fatalf("COFSWITCH_REQUIRE_UNBOUND is set and unbound is not on PATH: %v", err)
		}
		t.Skip("unbound not on PATH (apt-get install unbound)")
	}
	return bin
}

// Conf fills UnboundConf in: the resolver's port, its directory (the
// dnstap socket is dir/dnstap.sock) and the authoritative server's port.
func Conf(port int, dir string, authPort int) string {
	return strings.NewReplacer("{{port}}", fmt.Sprint(port), "{{dir}}", dir,
		"{{authport}}", fmt.Sprint(authPort)).Replace(UnboundConf)
}

// UnboundConf is the configuration the tests give Debian's unbound: a
// resolver on a loopback port whose only zone is a stub to the test's
// authoritative server, and dnstap to the test's unix socket. The sensor
// README quotes it.
const UnboundConf = `server:
    interface: 127.0.0.1
    port: {{port}}
    do-ip6: no
    access-control: 127.0.0.0/8 allow
    do-not-query-localhost: no
    chroot: ""
    username: ""
    directory: "{{dir}}"
    pidfile: "{{dir}}/unbound.pid"
    use-syslog: no
    logfile: ""
    verbosity: 1
    num-threads: 1
    module-config: "iterator"
    local-zone: "test." nodefault
remote-control:
    control-enable: no
stub-zone:
    name: "example.test"
    stub-addr: 127.0.0.1@{{authport}}
dnstap:
    dnstap-enable: yes
    dnstap-bidirectional: yes
    dnstap-socket-path: "{{dir}}/dnstap.sock"
    dnstap-send-identity: yes
    dnstap-send-version: yes
    dnstap-log-resolver-response-messages: yes
`

// AuthZone is what the test's authoritative server answers.
var AuthZone = []string{
	"www.example.test. 300 IN A 192.0.2.10",
	"www.example.test. 300 IN A 192.0.2.11",
	"v6.example.test. 300 IN AAAA 2001:db8::10",
	"alias.example.test. 300 IN CNAME WWW.Example.Test.",
	"example.test. 300 IN MX 10 mx.example.test.",
	`example.test. 300 IN TXT "v=spf1 -all"`,
	"example.test. 300 IN SOA ns.example.test. hostmaster.example.test. 1 3600 600 86400 60",
	"example.test. 300 IN NS ns.example.test.",
	"ns.example.test. 300 IN A 127.0.0.1",
}

// ShortTempDir returns a temporary directory whose unix socket paths stay
// under the 108-byte limit.
func ShortTempDir(t *testing.T) string {
	dir, err := os.MkdirTemp("", "dnstap")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// StartAuth serves AuthZone on UDP and TCP on a loopback port.
func StartAuth(t *testing.T) int {
	t.Helper()
	var rrs []dns.RR
	for _, s := range AuthZone {
		rrs = append(rrs, MustRR(t, s))
	}
	h := dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(req)
		m.Authoritative = true
		q := req.Question[0]
		found := false
		for _, rr := range rrs {
			if strings.EqualFold(rr.Header().Name, q.Name) {
				found = true
				if rr.Header().Rrtype == q.Qtype || rr.Header().Rrtype == dns.TypeCNAME {
					m.Answer = append(m.Answer, rr)
				}
			}
		}
		if !found {
			m.Rcode = dns.RcodeNameError
		}
		if len(m.Answer) == 0 {
			m.Ns = []dns.RR{rrs[6]}
		}
		w.WriteMsg(m)
	})
	// The same port for UDP and TCP: a UDP port's number may be taken for
	// TCP (a CI run failed so), so a few are tried.
	var pc net.PacketConn
	var ln net.Listener
	var port int
	for attempt := 0; ln == nil; attempt++ {
		var err error
		if pc, err = net.ListenPacket("udp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		port = pc.LocalAddr().(*net.UDPAddr).Port
		if ln, err = net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err != nil {
			pc.Close()
			ln = nil
			if attempt == 20 {
				t.Fatal(err)
			}
		}
	}
	for _, s := range []*dns.Server{{PacketConn: pc, Handler: h}, {Listener: ln, Handler: h}} {
		go s.ActivateAndServe()
		t.Cleanup(func() { s.Shutdown() })
	}
	return port
}

// FreePort returns a loopback port free for both UDP and TCP just now.
func FreePort(t *testing.T) int {
	t.Helper()
	for range 20 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		pc, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port))
		ln.Close()
		if err == nil {
			pc.Close()
			return port
		}
	}
	t.Fatal("no free port")
	return 0
}

// StartUnbound runs unbound in the foreground with conf, and kills it
// when the test ends (or the test process dies: Pdeathsig).
func StartUnbound(t *testing.T, bin, dir, conf string) {
	t.Helper()
	path := filepath.Join(dir, "unbound.conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bin+"-checkconf", path).CombinedOutput(); err != nil {
		t.Logf("unbound-checkconf: %v: %s", err, out)
	}
	var logs bytes.Buffer
	cmd := exec.Command(bin, "-d", "-c", path)
	cmd.Stdout, cmd.Stderr = &logs, &logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("unbound output:\n%s", logs.String())
		}
	})
	select {
	case err := <-exited:
		exited <- err
		t.Fatalf("unbound exited: %v\n%s", err, logs.String())
	case <-time.After(200 * time.Millisecond):
	}
}

// Query asks the resolver until it answers.
func Query(t *testing.T, server, name string, qtype uint16) {
	t.Helper()
	c := &dns.Client{Timeout: time.Second}
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	var err error
	for range 20 {
		if _, _, err = c.Exchange(m, server); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("query %s through unbound: %v", name, err)
}

// MustRR parses one RR in presentation form, or fails the test.
func MustRR(t testing.TB, s string) dns.RR {
	t.Helper()
	rr, err := dns.NewRR(s)
	if err != nil {
		t.Fatal(err)
	}
	return rr
}
