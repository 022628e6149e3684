//go:build linux

package dnstap

import (
	"bytes"
	"context"
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

	"github.com/cofswitch/cofswitch/cof"
)

// unboundConf is the configuration TestUnbound gives Debian's unbound: a
// resolver on a loopback port whose only zone is a stub to the test's
// authoritative server, and dnstap to the test's unix socket. The sensor
// README quotes it.
const unboundConf = `server:
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

// authZone is what the test's authoritative server answers.
var authZone = []string{
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

// TestUnbound runs Debian's unbound with dnstap to a unix socket served
// by ListenUnix, resolves through it from an authoritative server the test
// runs, and checks the records that arrive. It is skipped when unbound is
// not on PATH, unless COFSWITCH_REQUIRE_UNBOUND is set.
func TestUnbound(t *testing.T) {
	bin, err := exec.LookPath("unbound")
	if err != nil {
		if os.Getenv("COFSWITCH_REQUIRE_UNBOUND") != "" {
			t.Fatalf("COFSWITCH_REQUIRE_UNBOUND is set and unbound is not on PATH: %v", err)
		}
		t.Skip("unbound not on PATH (apt-get install unbound)")
	}
	dir := shortTempDir(t)
	authPort := startAuth(t)
	st := &Stats{}
	col := newCollector(t, st)
	srv, err := ListenUnix(context.Background(), filepath.Join(dir, "dnstap.sock"), col.handle, WithStats(st), quiet)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	port := freePort(t)
	conf := strings.NewReplacer("{{port}}", fmt.Sprint(port), "{{dir}}", dir,
		"{{authport}}", fmt.Sprint(authPort)).Replace(unboundConf)
	startUnbound(t, bin, dir, conf)

	resolver := fmt.Sprintf("127.0.0.1:%d", port)
	for _, q := range []struct {
		name  string
		qtype uint16
	}{{"www.example.test.", dns.TypeA}, {"alias.example.test.", dns.TypeA},
		{"v6.example.test.", dns.TypeAAAA}, {"example.test.", dns.TypeMX}, {"example.test.", dns.TypeTXT},
		{"nope.example.test.", dns.TypeA}} {
		query(t, resolver, q.name, q.qtype)
	}
	want := map[string]string{
		"www.example.test A":       `["192.0.2.10","192.0.2.11"]`,
		"alias.example.test CNAME": `["www.example.test"]`,
		"v6.example.test AAAA":     `["2001:db8::10"]`,
		"example.test MX":          `["10 mx.example.test"]`,
		"example.test TXT":         `["\"v=spf1 -all\""]`,
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("stats: %+v\nrecords: %s", st.Snapshot(), bytes.Join(col.all(), nil))
		}
	})
	checkFor(t, 10*time.Second, "records from unbound", func() bool {
		got := recordsByKey(t, col.all())
		for k, v := range want {
			if got[k] != v {
				return false
			}
		}
		return true
	})
	lines := col.all()
	checkNoSecrets(t, lines)
	if all := bytes.Join(lines, nil); bytes.Contains(all, []byte("unbound")) {
		t.Errorf("unbound's version string in the records:\n%s", all)
	}
	for _, l := range lines {
		r, _ := cof.Parse(bytes.TrimSpace(l))
		if r.Bailiwick != "example.test" {
			t.Errorf("bailiwick %q in %s", r.Bailiwick, l)
		}
		if bytes.Contains(l, []byte("127.0.0.1")) && !bytes.Contains(l, []byte(`"ns.example.test"`)) {
			t.Errorf("an address of the test's servers in %s", l)
		}
	}
	s := st.Snapshot()
	t.Logf("stats: %+v\nunbound.conf:\n%s\nrecords:\n%s", s, conf, bytes.Join(lines, nil))
	if s.Negative["NXDOMAIN"] == 0 {
		t.Errorf("no NXDOMAIN counted: %+v", s)
	}
}

// recordsByKey maps "rrname rrtype" to the rdata array of each line.
func recordsByKey(t *testing.T, lines [][]byte) map[string]string {
	out := map[string]string{}
	for _, l := range lines {
		r, err := cof.Parse(bytes.TrimSpace(l))
		if err != nil {
			t.Errorf("%s: %v", l, err)
			continue
		}
		j := r.AppendJSON(nil)
		i := bytes.Index(j, []byte(`"rdata":`))
		end := bytes.Index(j[i:], []byte("]"))
		out[r.RRName+" "+r.RRType.String()] = string(j[i+len(`"rdata":`) : i+end+1])
	}
	return out
}

// shortTempDir returns a temporary directory whose unix socket paths stay
// under the 108-byte limit.
func shortTempDir(t *testing.T) string {
	dir, err := os.MkdirTemp("", "dnstap")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// startAuth serves authZone on UDP and TCP on a loopback port.
func startAuth(t *testing.T) int {
	t.Helper()
	var rrs []dns.RR
	for _, s := range authZone {
		rrs = append(rrs, mustRR(t, s))
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
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := pc.LocalAddr().(*net.UDPAddr).Port
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []*dns.Server{{PacketConn: pc, Handler: h}, {Listener: ln, Handler: h}} {
		go s.ActivateAndServe()
		t.Cleanup(func() { s.Shutdown() })
	}
	return port
}

// freePort returns a loopback port free for both UDP and TCP just now.
func freePort(t *testing.T) int {
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

// startUnbound runs unbound in the foreground with conf, and kills it
// when the test ends (or the test process dies: Pdeathsig).
func startUnbound(t *testing.T, bin, dir, conf string) {
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

// query asks the resolver until it answers.
func query(t *testing.T, server, name string, qtype uint16) {
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

// TestUnboundConfInReadme keeps the sensor README's Unbound configuration
// the one TestUnbound runs.
func TestUnboundConfInReadme(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(readme, []byte("```\n"+unboundConf+"```\n")) {
		t.Errorf("sensor/README.md does not quote unboundConf verbatim")
	}
}
