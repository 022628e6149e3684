package engine_test

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/cofswitch/cofswitch/cof"
	"github.com/cofswitch/cofswitch/policy"
	"github.com/cofswitch/cofswitch/switch/engine"
)

// withheldYAML: one peer per kind of filter, each withholding a known
// share of withheldRecords; p-order shows that the first filter that
// withholds is the one counted; p-gone's policy is missing from the set
// the engine runs with.
const withheldYAML = `
policies:
  sensors: {tlp: CLEAR, include: {sensors: ["nobody-*"]}}
  rrtypes: {tlp: CLEAR, include: {rrtypes: [A, CNAME]}}
  zones: {tlp: CLEAR, exclude: {zones: [internal-zones]}}
  cidrs: {tlp: CLEAR, exclude: {rdata_cidrs: [special-purpose]}}
  embedded: {tlp: CLEAR, transforms: {truncate_ip: {ipv4: 24, ipv6: 48}}}
  age: {tlp: CLEAR, include: {max_age: 30d}}
  order: {tlp: CLEAR, include: {rrtypes: [A]}, exclude: {zones: [internal-zones], rdata_cidrs: [special-purpose]}}
  gone: {tlp: CLEAR}
sensors:
  - id: s1
peers:
  - {id: p-sensors, subscriptions: [{sensors: ["*"], policy: sensors}]}
  - {id: p-rrtypes, subscriptions: [{sensors: ["*"], policy: rrtypes}]}
  - {id: p-zones, subscriptions: [{sensors: ["*"], policy: zones}]}
  - {id: p-cidrs, subscriptions: [{sensors: ["*"], policy: cidrs}]}
  - {id: p-embedded, subscriptions: [{sensors: ["*"], policy: embedded}]}
  - {id: p-age, subscriptions: [{sensors: ["*"], policy: age}]}
  - {id: p-order, subscriptions: [{sensors: ["*"], policy: order}]}
  - {id: p-gone, subscriptions: [{sensors: ["*"], policy: gone}]}
  - {id: p-pass, subscriptions: [{sensors: ["*"], policy: pass, tlp: CLEAR}]}
`

// withheldRecords: a plain A record, one in an internal zone, one to a
// special-purpose address, an MX, a CNAME whose owner embeds an address,
// and an old A record.
func withheldRecords(now time.Time) []byte {
	t := now.Unix()
	line := func(name, typ, rdata string, last int64) string {
		return fmt.Sprintf(`{"rrname":%q,"rrtype":%q,"rdata":[%q],"time_first":%d,"time_last":%d}`+"\n", name, typ, rdata, last-10, last)
	}
	return []byte(line("www.example.com", "A", "93.184.216.34", t) +
		line("printer.corp", "A", "93.184.216.34", t) +
		line("www.example.com", "A", "192.168.1.5", t) +
		line("example.com", "MX", "10 mail.example.com.", t) +
		line("host-93-184-216-34.example.com", "CNAME", "www.example.com.", t) +
		line("old.example.com", "A", "93.184.216.34", 1000))
}

// TestWithheldByRule: through a real engine, a record withheld by each
// kind of filter is counted under that kind, per peer, in the Stats and
// as cofswitch_switch_withheld_records_total{peer,rule}; the per-peer
// totals are filtered_total's.
func TestWithheldByRule(t *testing.T) {
	x := newExchange(t, withheldYAML)
	tab, set, err := x.cfg.Compile(policy.DefaultEnv())
	if err != nil {
		t.Fatal(err)
	}
	kept := map[string]policy.Policy{}
	for _, name := range set.Names() {
		if p, _ := set.Lookup(name); name != "gone" && name != policy.PassName {
			kept[name] = p
		}
	}
	e := x.startSwitchWith(tab, policy.NewSet(set.Version(), kept))
	x.publish("s1", withheldRecords(time.Now()), cof.Zstd)
	waitFor(t, "input drained", 10*time.Second, x.inputDrained)
	waitFor(t, "stats", 2*time.Second, func() bool { return e.Stats().Batches == 1 })

	want := map[string]map[string]uint64{
		"p-sensors":  {"include.sensors": 6},
		"p-rrtypes":  {"include.rrtypes": 1},
		"p-zones":    {"exclude.zones": 1},
		"p-cidrs":    {"exclude.rdata_cidrs": 1},
		"p-embedded": {"transforms.truncate_ip.embedded_address": 1},
		"p-age":      {"include.max_age": 1},
		"p-order":    {"include.rrtypes": 2, "exclude.zones": 1, "exclude.rdata_cidrs": 1},
		"p-gone":     {"no_policy": 6},
	}
	s := e.Stats()
	var exp strings.Builder
	exp.WriteString("# HELP cofswitch_switch_withheld_records_total Records withheld from a peer by its policy, by the kind of filter that withheld each (the first, as 'policy test --explain' names it): include.<filter>, exclude.<filter>, transforms.<transform>.embedded_address, no_policy.\n")
	exp.WriteString("# TYPE cofswitch_switch_withheld_records_total counter\n")
	for _, peer := range []string{"p-age", "p-cidrs", "p-embedded", "p-gone", "p-order", "p-rrtypes", "p-sensors", "p-zones"} {
		got := map[string]uint64{}
		var sum uint64
		if wh := s.Withheld[peer]; wh != nil {
			for r, n := range wh {
				if n > 0 {
					got[policy.Rule(r).String()] = n
					sum += n
				}
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(want[peer]) || sum != s.Filtered[peer] {
			t.Errorf("%s: withheld %v (filtered %d), want %v", peer, got, s.Filtered[peer], want[peer])
		}
		for _, rule := range sortedKeys(want[peer]) {
			fmt.Fprintf(&exp, "cofswitch_switch_withheld_records_total{peer=%q,rule=%q} %d\n", peer, rule, want[peer][rule])
		}
	}
	if s.Withheld["p-pass"] != nil {
		t.Errorf("p-pass: withheld %v", s.Withheld["p-pass"])
	}
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(engine.NewCollector(e)); err != nil {
		t.Fatal(err)
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(exp.String()), "cofswitch_switch_withheld_records_total"); err != nil {
		t.Error(err)
	}
}

func sortedKeys(m map[string]uint64) []string { return slices.Sorted(maps.Keys(m)) }
