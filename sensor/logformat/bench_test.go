package logformat

import (
	"bytes"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/cofswitch/cofswitch/cof"
)

// Typical lines of each format: one response's answers as the format
// logs them (for the one-answer-per-line formats, one answer).
var benchLines = map[string]string{
	"passivedns":      "1700000000.118231||10.20.0.15||192.0.2.53||IN||www.example.com.||A||192.0.2.10||300||4",
	"passivedns-json": `{"timestamp_s":1700000000,"timestamp_ms":118231,"client":"10.20.0.15","server":"192.0.2.53","class":"IN","query":"www.example.com.","type":"A","answer":"192.0.2.10","ttl":300,"count":4}`,
	"gopassivedns":    `{"query_id":4211,"rcode":0,"q":"www.example.com","qtype":"A","a":"192.0.2.10","atype":"A","ttl":300,"dst":"192.0.2.53","src":"10.20.0.15","tstamp":"2023-11-14 22:13:20.118231 +0000 UTC","elapsed":412000,"sport":"53211","level":"","bytes":61,"protocol":"udp","truncated":false,"aa":false,"rd":true,"ra":true}`,
	"eve":             `{"timestamp":"2023-11-14T23:13:20.118231+0100","flow_id":1234567890123456,"in_iface":"eth0","event_type":"dns","src_ip":"192.0.2.53","src_port":53,"dest_ip":"10.20.0.15","dest_port":53211,"proto":"UDP","dns":{"version":2,"type":"answer","id":4211,"flags":"8180","qr":true,"rd":true,"ra":true,"opcode":0,"rrname":"www.example.com","rrtype":"A","rcode":"NOERROR","answers":[{"rrname":"www.example.com","rrtype":"CNAME","ttl":300,"rdata":"www.example.com.cdn.example.net"},{"rrname":"www.example.com.cdn.example.net","rrtype":"A","ttl":20,"rdata":"198.51.100.20"},{"rrname":"www.example.com.cdn.example.net","rrtype":"A","ttl":20,"rdata":"198.51.100.21"}]}}`,
	"zeek":            "1700000000.118231\tCHhAvVGS1DHFjwGM9\t10.20.0.15\t53211\t192.0.2.53\t53\tudp\t4211\t0.001081\twww.example.com\t1\tC_INTERNET\t1\tA\t0\tNOERROR\tF\tF\tT\tT\t0\twww.example.com.cdn.example.net,198.51.100.20,198.51.100.21\t300.000000,20.000000,20.000000\tF",
	"zeek-json":       `{"ts":1700000000.118231,"uid":"CHhAvVGS1DHFjwGM9","id.orig_h":"10.20.0.15","id.orig_p":53211,"id.resp_h":"192.0.2.53","id.resp_p":53,"proto":"udp","trans_id":4211,"rtt":0.001081,"query":"www.example.com","qclass":1,"qclass_name":"C_INTERNET","qtype":1,"qtype_name":"A","rcode":0,"rcode_name":"NOERROR","AA":false,"TC":false,"RD":true,"RA":true,"Z":0,"answers":["www.example.com.cdn.example.net","198.51.100.20","198.51.100.21"],"TTLs":[300.0,20.0,20.0],"rejected":false}`,
	"cof":             `{"rrname":"www.example.com","rrtype":"A","rdata":["192.0.2.10"],"time_first":1700000000,"time_last":1700000000,"count":4}`,
}

func BenchmarkParse(b *testing.B) {
	for _, format := range Names() {
		b.Run(format, func(b *testing.B) {
			benchParse(b, format, [][]byte{[]byte(benchLines[format])})
		})
	}
}

// BenchmarkParseSamples runs over the lines of the sample files, errors
// and skipped lines included.
func BenchmarkParseSamples(b *testing.B) {
	for _, c := range goldenCases {
		if c.opts != nil {
			continue
		}
		b.Run(c.format, func(b *testing.B) {
			src, err := os.ReadFile(filepath.Join("testdata", c.input))
			if err != nil {
				b.Fatal(err)
			}
			benchParse(b, c.format, bytes.Split(bytes.TrimSuffix(src, []byte{'\n'}), []byte{'\n'}), c.opts...)
		})
	}
}

func benchParse(b *testing.B, format string, lines [][]byte, opts ...Option) {
	p, err := ByName(format, append(opts, optionsFor(format)...)...)
	if err != nil {
		b.Fatal(err)
	}
	records := 0
	emit := func(*cof.Record) { records++ }
	for _, l := range lines { // warm the buffers, count records per pass
		p.Parse(l, emit)
	}
	perPass := records
	allocs := testing.AllocsPerRun(100, func() {
		for _, l := range lines {
			p.Parse(l, emit)
		}
	})
	b.SetBytes(int64(len(lines[0])))
	b.ReportAllocs()
	cpu := cpuTime()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		p.Parse(lines[i%len(lines)], emit)
	}
	b.StopTimer()
	reportCPU(b, cpuTime()-cpu)
	if perPass > 0 {
		b.ReportMetric(allocs/float64(perPass), "allocs/record")
	}
}

// reportCPU reports lines/s from the process's CPU time as well as from
// the wall clock: on a shared machine the wall clock counts the time
// other processes held the core, the CPU time does not.
func reportCPU(b *testing.B, cpu time.Duration) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lines/s")
	if cpu > 0 {
		b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
		b.ReportMetric(float64(b.N)/cpu.Seconds(), "cpu-lines/s")
	}
}

// cpuTime is the user and system time the process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func optionsFor(format string) []Option {
	if format == "passivedns" || format == "passivedns-json" {
		return []Option{WithLocation(time.UTC)}
	}
	return nil
}
