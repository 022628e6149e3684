package engine_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/cofswitch/cofswitch/cof"
	"github.com/cofswitch/cofswitch/policy"
	"github.com/cofswitch/cofswitch/routing"
)

// TestPeersUnderOnePolicy: peers under one policy get the same records,
// decided and encoded once per record and compressed once per batch,
// byte for byte what each would get alone; a peer under another policy,
// or the same policy with another label, gets its own; the counts of
// records withheld are each peer's.
func TestPeersUnderOnePolicy(t *testing.T) {
	x := newExchange(t, `
nats: {auth: none}
sensors:
  - {id: s1, organisation: a}
policies:
  narrow:
    exclude: {rrtypes: [TXT]}
    transforms: {truncate_ip: {ipv4: 24}}
  wide:
    transforms: {truncate_ip: {ipv4: 16}}
peers:
  - {id: p1, organisation: a, subscriptions: [{sensors: ['*'], policy: narrow, tlp: AMBER}]}
  - {id: p2, organisation: a, subscriptions: [{sensors: ['*'], policy: wide, tlp: AMBER}]}
  - {id: p3, organisation: a, subscriptions: [{sensors: ['*'], policy: narrow, tlp: AMBER}]}
  - {id: p4, organisation: a, subscriptions: [{sensors: ['*'], policy: narrow, tlp: GREEN}]}
  - {id: p5, organisation: a, subscriptions: [{sensors: ['*'], policy: pass, tlp: AMBER}]}
  - {id: p6, organisation: a, subscriptions: [{sensors: ['*'], policy: pass, tlp: AMBER}]}
`)
	tab, set, err := x.cfg.Compile(policy.DefaultEnv())
	if err != nil {
		t.Fatal(err)
	}
	e := x.startSwitchWith(tab, set)
	body := records("r", 40, "")
	body = append(body, []byte(`{"rrname":"t.example","rrtype":"TXT","rdata":["\"hello\""],"time_first":1700000000,"time_last":1700000100}`+"\n")...)
	x.publish("s1", body, cof.Zstd)
	waitFor(t, "input drained", 10*time.Second, x.inputDrained)

	got := map[string]delivered{}
	for _, p := range []string{"p1", "p2", "p3", "p4", "p5", "p6"} {
		got[p] = x.read(routing.PeerStream(p), true)
		if len(got[p].msgs) != 1 {
			t.Fatalf("%s holds %d messages, want 1", p, len(got[p].msgs))
		}
	}
	same := func(a, b string) bool { return bytes.Equal(got[a].msgs[0].Data(), got[b].msgs[0].Data()) }
	if !same("p1", "p3") || !same("p5", "p6") {
		t.Error("peers under one policy and label got different bytes")
	}
	if same("p1", "p2") || same("p1", "p5") {
		t.Error("peers under different policies got the same bytes")
	}
	if len(got["p1"].records) != 40 || len(got["p2"].records) != 41 || len(got["p4"].records) != 40 || len(got["p5"].records) != 41 {
		t.Errorf("records: p1 %d, p2 %d, p4 %d, p5 %d; want 40, 41, 40, 41", len(got["p1"].records), len(got["p2"].records), len(got["p4"].records), len(got["p5"].records))
	}
	// What each policy made, as a policy alone makes it.
	for peer, name := range map[string]string{"p1": "narrow", "p2": "wide", "p5": "pass"} {
		p, _ := set.Lookup(name)
		br := x.codec.NewBatchReader()
		if err := br.Reset(body, cof.Identity); err != nil {
			t.Fatal(err)
		}
		var want []string
		for br.Next() {
			r := br.Record()
			r.SensorID = "s1"
			if out, ok := p.Apply(r); ok {
				want = append(want, string(out.AppendLine(nil)))
			}
		}
		if len(want) != len(got[peer].lines) {
			t.Fatalf("%s: %d lines, want %d", peer, len(got[peer].lines), len(want))
		}
		for i := range want {
			if got[peer].lines[i]+"\n" != want[i] && got[peer].lines[i] != want[i] {
				t.Errorf("%s line %d: %q, want %q", peer, i, got[peer].lines[i], want[i])
			}
		}
	}
	if p4, p1 := got["p4"].msgs[0].Headers().Get("Cofswitch-TLP"), got["p1"].msgs[0].Headers().Get("Cofswitch-TLP"); p4 == p1 {
		t.Errorf("p4 and p1 share the label %q", p1)
	}
	waitFor(t, "stats", 2*time.Second, func() bool { return e.Stats().Batches == 1 })
	st := e.Stats()
	for peer, want := range map[string]uint64{"p1": 1, "p2": 0, "p3": 1, "p4": 1, "p5": 0, "p6": 0} {
		if st.Filtered[peer] != want {
			t.Errorf("%s: %d withheld, want %d", peer, st.Filtered[peer], want)
		}
	}
}
