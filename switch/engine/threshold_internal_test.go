package engine

import (
	"encoding/json"
	"fmt"
	"hash/crc32"
	"strings"
	"testing"
	"time"

	"github.com/cofswitch/cofswitch/policy"
)

// ref names an input batch by a string, for the tests.
func ref(s string) inputRef { return inputRef{stream: "t", seq: uint64(crc32.ChecksumIEEE([]byte(s)))} }

// obsOf makes one observation of rrset "a" by sensor, for the output out.
func obsOf(out *outBody, sensor, org string, count int) obs {
	return obs{key: [16]byte{1}, out: out, th: policy.Threshold{MinSensors: 2, MinOrganisations: 1, Window: time.Hour},
		sensor: sensor, org: org,
		line: fmt.Appendf(nil, `{"rrname":"a.example","rrtype":"A","rdata":["192.0.2.1"],"time_first":1,"time_last":2,"count":%d,"sensor_id":%q}`+"\n", count, sensor)}
}

// TestSeenEntryApply: held until the second sensor, which is delivered at
// once while the first's is released; a redelivered input adds nothing;
// an rrset nobody saw within the window loses what it held; more distinct
// observations than an entry may hold are counted, not kept.
func TestSeenEntryApply(t *testing.T) {
	out := &outBody{peer: "p"}
	var e seenEntry
	now := int64(1_000_000)
	r := e.apply([]obs{obsOf(out, "s1", "o", 3)}, ref("in1"), now, time.Hour)
	if len(r.pass) != 0 || r.held["p"] != 1 || len(r.releases) != 0 {
		t.Fatalf("first sensor: %+v", r)
	}
	r = e.apply([]obs{obsOf(out, "s1", "o", 4)}, ref("in1"), now+1, time.Hour) // redelivered
	if len(r.pass) != 0 || r.held["p"] != 0 || !strings.Contains(e.Out[outputKey("p", "", 0)].Lines[0], `"count":3`) {
		t.Fatalf("redelivered input changed the entry: %+v %+v", r, e.Out[outputKey("p", "", 0)])
	}
	r = e.apply([]obs{obsOf(out, "s1", "o", 5)}, ref("in2"), now+2, time.Hour)
	if h := e.Out[outputKey("p", "", 0)]; len(h.Lines) != 1 || !strings.Contains(h.Lines[0], `"count":8`) {
		t.Fatalf("second input of one sensor not merged: %+v", h)
	}
	r = e.apply([]obs{obsOf(out, "s2", "o", 1)}, ref("in3"), now+3, time.Hour)
	if len(r.pass) != 1 || len(r.releases) != 1 || r.releases[0].gen < 2 || len(r.releases[0].lines) != 1 {
		t.Fatalf("crossing: pass %d releases %+v", len(r.pass), r.releases)
	}
	gen := r.releases[0].gen
	r = e.apply([]obs{obsOf(out, "s2", "o", 1)}, ref("in3"), now+4, time.Hour) // the crossing batch again
	if len(r.pass) != 1 || len(r.releases) != 1 || r.releases[0].gen != gen {
		t.Fatalf("crossing redelivered: pass %d releases %+v, want the same pass and release", len(r.pass), r.releases)
	}
	// The entry made again (evicted, expired) never reuses a generation.
	var again seenEntry
	again.apply([]obs{obsOf(out, "s1", "o", 3)}, ref("in1"), now, time.Hour)
	r = again.apply([]obs{obsOf(out, "s2", "o", 1)}, ref("in3"), now+3, time.Hour)
	if len(r.releases) != 1 || r.releases[0].gen == gen {
		t.Errorf("the entry made again released under generation %d again", gen)
	}

	// The window: two hours later nobody has seen it; s3 starts again.
	var f seenEntry
	f.apply([]obs{obsOf(out, "s1", "o", 1)}, ref("x1"), now, time.Hour)
	r = f.apply([]obs{obsOf(out, "s3", "o", 1)}, ref("x2"), now+7200, time.Hour)
	if r.expired != 1 || len(r.pass) != 0 || len(f.Sensors) != 1 {
		t.Fatalf("after the window: %+v, sensors %v", r, f.Sensors)
	}

	// Overflow: distinct observations beyond maxHeldLines.
	var g seenEntry
	var os []obs
	for i := range maxHeldLines + 3 {
		o := obsOf(out, "s1", "o", 1)
		o.line = fmt.Appendf(nil, `{"rrname":"a.example","rrtype":"A","rdata":["192.0.2.1"],"time_first":1,"time_last":2,"sensor_id":"s1","x":%d}`+"\n", i)
		os = append(os, o)
	}
	r = g.apply(os, ref("y1"), now, time.Hour)
	if r.overflow != 3 || len(g.Out[outputKey("p", "", 0)].Lines) != maxHeldLines {
		t.Fatalf("overflow %d, lines %d", r.overflow, len(g.Out[outputKey("p", "", 0)].Lines))
	}
}

// TestSeenEntryBounded: an entry keeps the 64 most recent sensors, and
// whatever its peers hold, it is written within maxEntryBytes, dropping
// (and counting) held observations.
func TestSeenEntryBounded(t *testing.T) {
	var e seenEntry
	now := int64(1_000_000)
	for i := range 100 {
		o := obsOf(&outBody{peer: "p"}, fmt.Sprintf("s%d", i), "o", 1)
		o.th.MinSensors = 200 // never reached
		e.apply([]obs{o}, ref(fmt.Sprintf("in%d", i)), now+int64(i), time.Hour)
	}
	if len(e.Sensors) != 64 {
		t.Errorf("%d sensors kept, want the 64 most recent", len(e.Sensors))
	}
	if _, ok := e.Sensors[fmt.Sprintf("s%d", 99)]; !ok {
		t.Error("the most recent sensor was dropped")
	}
	big := strings.Repeat("x", 8000)
	var f seenEntry
	var r thresholdResult
	for p := range 20 {
		var os []obs
		for i := range 40 {
			o := obsOf(&outBody{peer: fmt.Sprint("p", p)}, "s1", "o", 1)
			o.th.MinSensors = 3
			o.line = fmt.Appendf(nil, `{"rrname":"a.example","rrtype":"TXT","rdata":["%s%d"],"time_first":1,"time_last":2,"sensor_id":"s1"}`+"\n", big, i)
			os = append(os, o)
		}
		f.apply(os, ref(fmt.Sprint("in", p)), now, time.Hour)
	}
	b, err := f.encode(&r)
	if err != nil || len(b) > maxEntryBytes || r.overflow == 0 {
		t.Fatalf("encoded %d bytes (max %d), %d dropped, err %v", len(b), maxEntryBytes, r.overflow, err)
	}
}

// TestSeenEntryCrossingAtTheLimit: an entry whose held lines fill it to
// the limit still takes the crossing write (what it releases is written,
// never refused for its size): a sensor padding its lines cannot stall
// the batches that reach the threshold.
func TestSeenEntryCrossingAtTheLimit(t *testing.T) {
	out := &outBody{peer: "p"}
	var e seenEntry
	var r thresholdResult
	pad := strings.Repeat("x", 4000)
	for i := 0; ; i++ {
		o := obsOf(out, "s1", "o", 1)
		o.line = fmt.Appendf(nil, `{"rrname":"a.example","rrtype":"A","rdata":["192.0.2.1"],"time_first":1,"time_last":2,"sensor_id":"s1","pad":"%s%d"}`+"\n", pad, i)
		e.apply([]obs{o}, ref(fmt.Sprint("in", i)), 1_000_000, time.Hour)
		if b, _ := json.Marshal(&e); len(b) > maxEntryBytes-200 {
			break
		}
	}
	if _, err := e.encode(&r); err != nil {
		t.Fatal(err)
	}
	r = e.apply([]obs{obsOf(out, "s2", "o", 1)}, ref("cross"), 1_000_001, time.Hour)
	b, err := e.encode(&r)
	if err != nil || len(b) > hardEntryBytes || len(r.releases) != 1 {
		t.Fatalf("crossing at the limit: %d bytes, %d releases, err %v", len(b), len(r.releases), err)
	}
}

// TestInputSet: runs of sequences per stream; a batch redelivered after a
// thousand others of its stream were counted in is still known.
func TestInputSet(t *testing.T) {
	var s inputSet
	for seq := uint64(1); seq <= 1000; seq++ {
		if seq != 500 {
			s = s.add(inputRef{"a", seq})
		}
	}
	if len(s["a"]) != 2 || !s.has(inputRef{"a", 1}) || !s.has(inputRef{"a", 999}) || s.has(inputRef{"a", 500}) || s.has(inputRef{"b", 1}) {
		t.Fatalf("runs %v", s["a"])
	}
	s = s.add(inputRef{"a", 500})
	if len(s["a"]) != 1 || s["a"][0] != [2]uint64{1, 1000} {
		t.Fatalf("the gap filled: runs %v, want one", s["a"])
	}
	// Scattered sequences: the lowest runs go first.
	for seq := uint64(2000); seq < 2000+2*maxInputRanges+10; seq += 2 {
		s = s.add(inputRef{"a", seq})
	}
	if len(s["a"]) != maxInputRanges || s.has(inputRef{"a", 1}) || !s.has(inputRef{"a", 2000 + 2*maxInputRanges + 8}) {
		t.Fatalf("bounded runs: %d, %v", len(s["a"]), s["a"][:2])
	}
	for i := range maxInputStreams + 5 {
		s = s.add(inputRef{fmt.Sprint("st", i), 1})
	}
	if len(s) != maxInputStreams {
		t.Fatalf("%d streams, want at most %d", len(s), maxInputStreams)
	}
}

// TestSeenEntryRedeliveredLate: a held rrset that most batches of one
// sensor carry; the first batch redelivered after 200 others were counted
// in adds nothing twice.
func TestSeenEntryRedeliveredLate(t *testing.T) {
	out := &outBody{peer: "p"}
	var e seenEntry
	for seq := uint64(1); seq <= 201; seq++ {
		e.apply([]obs{obsOf(out, "s1", "o", 1)}, inputRef{"a", seq}, 1_000_000, time.Hour)
	}
	e.apply([]obs{obsOf(out, "s1", "o", 1)}, inputRef{"a", 1}, 1_000_000, time.Hour)
	h := e.Out[outputKey("p", "", 0)]
	if len(h.Lines) != 1 || !strings.Contains(h.Lines[0], `"count":201`) {
		t.Fatalf("held %v, want one line counting 201", h.Lines)
	}
}
