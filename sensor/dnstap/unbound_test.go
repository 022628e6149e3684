//go:build linux

package dnstap

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/cofswitch/cofswitch/cof"
	"github.com/cofswitch/cofswitch/sensor/dnstap/dnstaptest"
)

// TestUnbound runs Debian's unbound with dnstap to a unix socket served
// by ListenUnix, resolves through it from an authoritative server the test
// runs, and checks the records that arrive. It is skipped when unbound is
// not on PATH, unless COFSWITCH_REQUIRE_UNBOUND is set.
func TestUnbound(t *testing.T) {
	bin := dnstaptest.Bin(t)
	dir := dnstaptest.ShortTempDir(t)
	authPort := dnstaptest.StartAuth(t)
	st := &Stats{}
	col := newCollector(t, st)
	srv, err := ListenUnix(context.Background(), filepath.Join(dir, "dnstap.sock"), col.handle, WithStats(st), quiet)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	port := dnstaptest.FreePort(t)
	conf := dnstaptest.Conf(port, dir, authPort)
	dnstaptest.StartUnbound(t, bin, dir, conf)

	resolver := fmt.Sprintf("127.0.0.1:%d", port)
	for _, q := range []struct {
		name  string
		qtype uint16
	}{{"www.example.test.", dns.TypeA}, {"alias.example.test.", dns.TypeA},
		{"v6.example.test.", dns.TypeAAAA}, {"example.test.", dns.TypeMX}, {"example.test.", dns.TypeTXT},
		{"nope.example.test.", dns.TypeA}} {
		dnstaptest.Query(t, resolver, q.name, q.qtype)
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

// TestUnboundConfInReadme keeps the sensor README's Unbound configuration
// the one TestUnbound runs.
func TestUnboundConfInReadme(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(readme, []byte("```\n"+dnstaptest.UnboundConf+"```\n")) {
		t.Errorf("sensor/README.md does not quote unboundConf verbatim")
	}
	// The top README shows its dnstap block, with a real socket path.
	_, block, _ := strings.Cut(dnstaptest.UnboundConf, "dnstap:\n")
	block = "dnstap:\n" + strings.ReplaceAll(block, `"{{dir}}/dnstap.sock"`, `"/run/cofswitch/dnstap.sock"`)
	top, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(top, []byte("```\n"+block+"```\n")) {
		t.Errorf("README.md does not show the dnstap block of the test's unbound.conf:\n%s", block)
	}
}
