package aggregate

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cofswitch/cofswitch/cof"
)

var t0 = time.Unix(1_700_000_000, 0)

// obs builds an observation: name, type, rdata (comma separated), first
// and last seen; count < 0 means none.
func obs(name, typ, rdata string, first, last, count int64) cof.Record {
	t, _ := cof.ParseType(typ)
	r := cof.Record{RRName: name, RRType: t, RData: strings.Split(rdata, ","), TimeFirst: first, TimeLast: last}
	if count >= 0 {
		r.Count, r.Has = count, cof.HasCount
	}
	return r
}

// step is one call: add a record at a time offset, or flush at one.
type step struct {
	at    time.Duration
	add   *cof.Record
	flush bool
	all   bool
}

func add(at time.Duration, r cof.Record) step { return step{at: at, add: &r} }
func flush(at time.Duration) step             { return step{at: at, flush: true} }
func flushAll() step                          { return step{all: true} }

func TestAggregator(t *testing.T) {
	bw := obs("b.example", "NS", "ns1.example", 5, 5, -1)
	bw.Bailiwick = "example"
	ms := obs("m.example", "A", "192.0.2.9", 10, 10, -1)
	ms.TimeFirstMS, ms.TimeLastMS, ms.Has = 10_500, 10_500, cof.HasTimeFirstMS|cof.HasTimeLastMS
	ms2 := obs("m.example", "A", "192.0.2.9", 10, 12, -1)
	ms2.TimeFirstMS, ms2.Has = 10_100, cof.HasTimeFirstMS
	for _, tt := range []struct {
		name  string
		opts  []Option
		steps []step
		want  []string // emitted records, as COF
		stats Stats
	}{{
		name: "identical observations become one",
		steps: []step{
			add(0, obs("a.example", "A", "192.0.2.1", 100, 100, -1)),
			add(time.Second, obs("a.example", "A", "192.0.2.1", 90, 95, 3)),
			add(2*time.Second, obs("a.example", "A", "192.0.2.1", 120, 120, -1)),
			flushAll(),
		},
		want:  []string{`{"rrname":"a.example","rrtype":"A","rdata":["192.0.2.1"],"time_first":90,"time_last":120,"count":5}`},
		stats: Stats{In: 3, Out: 1},
	}, {
		name: "rdata sets in any order, repeats or not",
		steps: []step{
			add(0, obs("a.example", "A", "192.0.2.2,192.0.2.1", 1, 1, -1)),
			add(0, obs("a.example", "A", "192.0.2.1,192.0.2.2,192.0.2.1", 2, 2, -1)),
			add(0, obs("a.example", "A", "192.0.2.1", 3, 3, -1)),
			flushAll(),
		},
		want: []string{
			`{"rrname":"a.example","rrtype":"A","rdata":["192.0.2.2","192.0.2.1"],"time_first":1,"time_last":2,"count":2}`,
			`{"rrname":"a.example","rrtype":"A","rdata":["192.0.2.1"],"time_first":3,"time_last":3,"count":1}`,
		},
		stats: Stats{In: 3, Out: 2},
	}, {
		name: "type, bailiwick and sensor tell records apart",
		steps: []step{
			add(0, obs("b.example", "NS", "ns1.example", 5, 5, -1)),
			add(0, bw),
			add(0, obs("b.example", "CNAME", "ns1.example", 5, 5, -1)),
			add(0, func() cof.Record { r := obs("b.example", "NS", "ns1.example", 5, 5, -1); r.SensorID = "s2"; return r }()),
			flushAll(),
		},
		want: []string{
			`{"rrname":"b.example","rrtype":"NS","rdata":["ns1.example"],"time_first":5,"time_last":5,"count":1}`,
			`{"rrname":"b.example","rrtype":"NS","rdata":["ns1.example"],"time_first":5,"time_last":5,"count":1,"bailiwick":"example"}`,
			`{"rrname":"b.example","rrtype":"CNAME","rdata":["ns1.example"],"time_first":5,"time_last":5,"count":1}`,
			`{"rrname":"b.example","rrtype":"NS","rdata":["ns1.example"],"time_first":5,"time_last":5,"count":1,"sensor_id":"s2"}`,
		},
		stats: Stats{In: 4, Out: 4},
	}, {
		name: "flush emits ended windows, oldest first",
		opts: []Option{WithWindow(10 * time.Second)},
		steps: []step{
			add(0, obs("1.example", "A", "192.0.2.1", 1, 1, -1)),
			add(4*time.Second, obs("2.example", "A", "192.0.2.2", 2, 2, -1)),
			add(9*time.Second, obs("1.example", "A", "192.0.2.1", 3, 3, -1)),
			flush(9 * time.Second),
			flush(10 * time.Second),
			add(11*time.Second, obs("1.example", "A", "192.0.2.1", 4, 4, -1)), // a new window
			flush(14 * time.Second),
			flushAll(),
		},
		want: []string{
			`{"rrname":"1.example","rrtype":"A","rdata":["192.0.2.1"],"time_first":1,"time_last":3,"count":2}`,
			`{"rrname":"2.example","rrtype":"A","rdata":["192.0.2.2"],"time_first":2,"time_last":2,"count":1}`,
			`{"rrname":"1.example","rrtype":"A","rdata":["192.0.2.1"],"time_first":4,"time_last":4,"count":1}`,
		},
		stats: Stats{In: 4, Out: 3},
	}, {
		name: "at max keys the oldest goes early",
		opts: []Option{WithMaxKeys(2)},
		steps: []step{
			add(0, obs("1.example", "A", "192.0.2.1", 1, 1, -1)),
			add(0, obs("2.example", "A", "192.0.2.2", 2, 2, -1)),
			add(0, obs("2.example", "A", "192.0.2.2", 3, 3, -1)),
			add(0, obs("3.example", "A", "192.0.2.3", 4, 4, -1)),
			flush(time.Second),
		},
		want:  []string{`{"rrname":"1.example","rrtype":"A","rdata":["192.0.2.1"],"time_first":1,"time_last":1,"count":1}`},
		stats: Stats{In: 4, Out: 1, Early: 1, Keys: 2},
	}, {
		name: "milliseconds follow their seconds",
		steps: []step{
			add(0, ms),
			add(0, ms2),
			flushAll(),
		},
		want:  []string{`{"rrname":"m.example","rrtype":"A","rdata":["192.0.2.9"],"time_first":10,"time_last":12,"time_first_ms":10100,"count":2}`},
		stats: Stats{In: 2, Out: 1},
	}, {
		name: "counts stop at the COF maximum",
		steps: []step{
			add(0, obs("c.example", "A", "192.0.2.1", 1, 1, cof.MaxCount-1)),
			add(0, obs("c.example", "A", "192.0.2.1", 1, 1, 5)),
			flushAll(),
		},
		want:  []string{`{"rrname":"c.example","rrtype":"A","rdata":["192.0.2.1"],"time_first":1,"time_last":1,"count":9007199254740991}`},
		stats: Stats{In: 2, Out: 1},
	}} {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			a, err := New(func(r *cof.Record) { got = append(got, string(r.AppendJSON(nil))) }, tt.opts...)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range tt.steps {
				switch {
				case s.add != nil:
					a.Add(s.add, t0.Add(s.at))
				case s.flush:
					a.Flush(t0.Add(s.at))
				case s.all:
					a.FlushAll()
				}
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
			for _, line := range got {
				r, err := cof.Parse([]byte(line))
				if err != nil || string(r.AppendJSON(nil)) != line {
					t.Errorf("emitted record does not round-trip: %s: %v", line, err)
				}
			}
			if st := a.Stats(); st != tt.stats {
				t.Errorf("stats %+v, want %+v", st, tt.stats)
			}
		})
	}
}

func TestEmittedRecordsStay(t *testing.T) {
	var kept []cof.Record
	a, _ := New(func(r *cof.Record) { kept = append(kept, *r) }, WithMaxKeys(1))
	for i := range 100 {
		r := obs("x.example", "A", "192.0.2."+string(rune('0'+i%10)), 1, 1, -1)
		a.Add(&r, t0)
	}
	a.FlushAll()
	for i, r := range kept {
		if want := "192.0.2." + string(rune('0'+i%10)); r.RData[0] != want {
			t.Fatalf("record %d has %s, want %s", i, r.RData[0], want)
		}
	}
}

func TestReductionAndOptions(t *testing.T) {
	if (Stats{In: 10, Out: 4}).Reduction() != 2.5 || (Stats{}).Reduction() != 0 {
		t.Error("reduction")
	}
	for _, opt := range []Option{WithWindow(0), WithMaxKeys(0)} {
		if _, err := New(func(*cof.Record) {}, opt); !errors.Is(err, ErrInvalidOption) {
			t.Errorf("err = %v", err)
		}
	}
	if _, err := New(nil); !errors.Is(err, ErrInvalidOption) {
		t.Errorf("nil emit: %v", err)
	}
}
