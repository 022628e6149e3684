package engine

import (
	"strings"
	"testing"

	"github.com/cofswitch/cofswitch/cof"
	"github.com/cofswitch/cofswitch/config"
	"github.com/cofswitch/cofswitch/gen"
	"github.com/cofswitch/cofswitch/policy"
)

// PoliciesBenchYAML is the benchmark issue's exchange: 4 sensors, 4 peers
// each with a distinct typical policy, all taking every sensor. Exported
// for the benchmarks of package engine_test.
const PoliciesBenchYAML = `
streams:
  peers: {max_bytes: 4GiB}
policies:
  csirt:
    tlp: AMBER
    exclude: {zones: [internal-zones], rdata_cidrs: [special-purpose]}
    transforms:
      pseudonymise_sensor: {key_env: K}
      truncate_ip: {ipv4: 24, ipv6: 48}
      coarsen_time: 1h
  research:
    tlp: AMBER
    exclude: {rdata_cidrs: [special-purpose]}
    transforms:
      cryptopan: {key_env: K}
      coarsen_time: 1d
  hub:
    tlp: AMBER
    include: {rrtypes: [A, AAAA, CNAME, NS, MX]}
    exclude: {zones: [internal-zones]}
    transforms:
      pseudonymise_sensor: {key_env: K}
      drop_fields: [bailiwick]
  names:
    tlp: AMBER
    exclude: {zones: [internal-zones], rdata_cidrs: [special-purpose]}
    transforms:
      hash_labels: {key_env: K}
      bucket_count: [1, 10, 100, 1000]
sensors:
  - id: s1
  - id: s2
  - id: s3
  - id: s4
peers:
  - {id: p1, subscriptions: [{sensors: ["*"], policy: csirt}]}
  - {id: p2, subscriptions: [{sensors: ["*"], policy: research}]}
  - {id: p3, subscriptions: [{sensors: ["*"], policy: hub}]}
  - {id: p4, subscriptions: [{sensors: ["*"], policy: names}]}
`

// BenchmarkRoute measures the switch's CPU work on one batch without the
// bus: decompress, parse, route, apply 4 typical policies, encode, and
// compress the 4 outputs; per record, on generated 500-record zstd
// batches (a pool of 400, so that caches see a realistic spread).
func BenchmarkRoute(b *testing.B) {
	for _, enc := range []cof.Encoding{cof.S2, cof.Zstd} {
		b.Run("out="+string(enc), func(b *testing.B) {
			const perBatch, batches = 500, 400
			cfg, err := config.Parse("bench.yaml", []byte(PoliciesBenchYAML))
			if err != nil {
				b.Fatal(err)
			}
			env := policy.DefaultEnv()
			env.Getenv = func(string) string { return strings.Repeat("5a", 32) }
			tab, pols, err := cfg.Compile(env)
			if err != nil {
				b.Fatal(err)
			}
			codec, err := cof.NewCodec()
			if err != nil {
				b.Fatal(err)
			}
			defer codec.Close()
			g, err := gen.New(gen.Options{Seed: 1})
			if err != nil {
				b.Fatal(err)
			}
			in := make([][]byte, batches)
			var body []byte
			for i := range in {
				body = g.AppendLines(body[:0], perBatch)
				in[i], _ = codec.Compress(nil, body, cof.Zstd)
			}
			e := &Engine{o: options{outEnc: enc}, codec: codec}
			w := e.newWorker()
			reg := &registry{table: tab, policies: pols}
			var out []byte
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				if err := w.br.Reset(in[i%batches], cof.Zstd); err != nil {
					b.Fatal(err)
				}
				w.route("s1", uint64(i), reg)
				for _, body := range w.bodies {
					out, _ = codec.Compress(out[:0], body.b, enc)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*perBatch), "ns/record")
			b.ReportMetric(0, "ns/op")
		})
	}
}
