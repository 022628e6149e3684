package dnstap

import (
	"net"
	"sync"
	"testing"
	"time"

	tap "github.com/dnstap/golang-dnstap"
	"github.com/miekg/dns"
	"google.golang.org/protobuf/proto"

	"github.com/cofswitch/cofswitch/cof"
)

// The metadata every test frame carries: none of it may reach a record.
var (
	clientAddr = net.ParseIP("203.0.113.77").To4()
	serverAddr = net.ParseIP("2001:db8:dead:beef::53")
	secrets    = [][]byte{
		[]byte("203.0.113.77"), []byte("2001:db8:dead:beef::53"),
		clientAddr, serverAddr, []byte("resolver-identity"), []byte("resolver-version"),
		[]byte("extra-annotation"), []byte("53535"), []byte("40404"),
	}
)

const (
	testSec  = 1700000000
	testNsec = 123456789
	testMS   = testSec*1000 + 123
)

// wire packs a DNS response for name/qtype whose answer, authority and
// additional sections hold the RRs given in master-file form.
func wire(t testing.TB, name string, qtype uint16, answer, ns, extra []string) []byte {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	m.Response, m.Authoritative, m.Compress = true, true, true
	add := func(dst *[]dns.RR, rrs []string) {
		for _, s := range rrs {
			rr, err := dns.NewRR(s)
			if err != nil {
				t.Fatalf("NewRR(%q): %v", s, err)
			}
			*dst = append(*dst, rr)
		}
	}
	add(&m.Answer, answer)
	add(&m.Ns, ns)
	add(&m.Extra, extra)
	b, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// msg is a dnstap message as a resolver sends it, with every metadata
// field set.
func msg(typ tap.Message_Type, resp []byte, zone string) *tap.Message {
	fam, proto := tap.SocketFamily_INET6, tap.SocketProtocol_UDP
	qport, rport := uint32(40404), uint32(53535)
	qsec, qnsec := uint64(testSec-1), uint32(999)
	rsec, rnsec := uint64(testSec), uint32(testNsec)
	m := &tap.Message{
		Type: &typ, SocketFamily: &fam, SocketProtocol: &proto,
		QueryAddress: clientAddr, ResponseAddress: serverAddr,
		QueryPort: &qport, ResponsePort: &rport,
		QueryTimeSec: &qsec, QueryTimeNsec: &qnsec,
		ResponseTimeSec: &rsec, ResponseTimeNsec: &rnsec,
		ResponseMessage: resp,
	}
	if zone != "" {
		z := make([]byte, 256)
		n, err := dns.PackDomainName(dns.Fqdn(zone), z, 0, nil, false)
		if err != nil {
			panic(err)
		}
		m.QueryZone = z[:n]
	}
	return m
}

// frame marshals m into a dnstap frame with identity, version and extra.
func frame(t testing.TB, m *tap.Message) []byte {
	t.Helper()
	typ := tap.Dnstap_MESSAGE
	d := &tap.Dnstap{
		Identity: []byte("resolver-identity"), Version: []byte("resolver-version"),
		Extra: []byte("extra-annotation"), Type: &typ, Message: m,
	}
	b, err := proto.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// collector gathers COF lines from several goroutines.
type collector struct {
	mu    sync.Mutex
	conv  *Converter
	lines [][]byte
}

func (c *collector) handle(m *Message) {
	var lines [][]byte
	c.conv.Convert(m, func(r *cof.Record) { lines = append(lines, r.AppendLine(nil)) })
	c.mu.Lock()
	c.lines = append(c.lines, lines...)
	c.mu.Unlock()
}

func (c *collector) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.lines)
}

func (c *collector) all() [][]byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([][]byte(nil), c.lines...)
}

// checkFor polls cond until it holds or d passes.
func checkFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
