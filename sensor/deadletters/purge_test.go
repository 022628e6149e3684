package deadletters_test

import (
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/cofswitch/cofswitch/routing"
	"github.com/cofswitch/cofswitch/sensor/deadletters"
)

// TestPurge: the operator purges one sensor's dead letters up to a time,
// or those of one kind (a letter holding other kinds too is kept), after
// confirming; nothing when the confirmation is refused; a sensor's client
// cannot purge, and a COF_DLQ made with deny_purge says why it cannot.
func TestPurge(t *testing.T) {
	denied := func(js jetstream.JetStream) {
		_, err := js.CreateStream(t.Context(), jetstream.StreamConfig{Name: routing.DLQStream, Subjects: []string{routing.DLQPrefix + ">"},
			Storage: jetstream.FileStorage, DenyPurge: true, DenyDelete: true})
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, tt := range []struct {
		name      string
		who       string
		oldStream bool
		f         func(x *exchangeDLQ) deadletters.Filter
		confirm   bool
		want      deadletters.Purged
		done      bool
		err       error
		left      string // s1's entries left, as kinds() writes them
	}{
		{name: "until", who: "switch", confirm: true, done: true,
			f: func(x *exchangeDLQ) deadletters.Filter {
				return deadletters.Filter{Sensor: "s1", Until: x.stored(t, x.seqs["s1"][1])}
			},
			want: deadletters.Purged{Letters: 2, Entries: 3}, left: "s1:bad_encoding@3"},
		{name: "all", who: "switch", confirm: true, done: true,
			f:    func(x *exchangeDLQ) deadletters.Filter { return deadletters.Filter{Sensor: "s1"} },
			want: deadletters.Purged{Letters: 3, Entries: 4}, left: ""},
		{name: "by kind", who: "switch", confirm: true, done: true,
			f:    func(x *exchangeDLQ) deadletters.Filter { return deadletters.Filter{Sensor: "s1", Kind: "bad_rdata"} },
			want: deadletters.Purged{Letters: 1, Entries: 1, Mixed: 1}, left: "s1:syntax@1 s1:bad_rdata@1 s1:bad_encoding@3"},
		{name: "not confirmed", who: "switch", confirm: false,
			f:    func(x *exchangeDLQ) deadletters.Filter { return deadletters.Filter{Sensor: "s1"} },
			want: deadletters.Purged{Letters: 3, Entries: 4}, left: "s1:syntax@1 s1:bad_rdata@1 s1:bad_rdata@2 s1:bad_encoding@3"},
		{name: "a sensor", who: "s1", confirm: true, err: deadletters.ErrDenied,
			f:    func(x *exchangeDLQ) deadletters.Filter { return deadletters.Filter{Sensor: "s1"} },
			left: "s1:syntax@1 s1:bad_rdata@1 s1:bad_rdata@2 s1:bad_encoding@3"},
		{name: "a stream made with deny_purge", who: "switch", oldStream: true, confirm: true, err: deadletters.ErrNoPurge,
			f:    func(x *exchangeDLQ) deadletters.Filter { return deadletters.Filter{Sensor: "s1"} },
			left: "s1:syntax@1 s1:bad_rdata@1 s1:bad_rdata@2 s1:bad_encoding@3"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var mk func(jetstream.JetStream)
			if tt.oldStream {
				mk = denied
			}
			x := newExchangeDLQ(t, mk)
			sensor := ""
			if tt.who != "switch" {
				sensor = tt.who
			}
			c, err := x.open(t, tt.who, sensor)
			if err != nil {
				t.Fatal(err)
			}
			asked := false
			got, done, err := c.Purge(t.Context(), tt.f(x), func(deadletters.Purged) bool { asked = true; return tt.confirm })
			if !errors.Is(err, tt.err) || got != tt.want || done != tt.done || asked != (tt.err == nil) {
				t.Errorf("Purge = %+v, %v, %v (asked %v); want %+v, %v, %v", got, done, err, asked, tt.want, tt.done, tt.err)
			}
			op, err := x.open(t, "switch", "")
			if err != nil {
				t.Fatal(err)
			}
			if left, err := list(t, op, deadletters.Filter{Sensor: "s1"}, 0); err != nil || kinds(left) != tt.left {
				t.Errorf("s1 has %q left, %v; want %q", kinds(left), err, tt.left)
			}
			if left, _ := list(t, op, deadletters.Filter{Sensor: "s2"}, 0); len(left) != 1 {
				t.Errorf("s2 has %d entries left, want its 1", len(left))
			}
		})
	}
}

// stored is the time the DLQ stored seq.
func (x *exchangeDLQ) stored(t *testing.T, seq uint64) time.Time {
	t.Helper()
	st, err := x.js.Stream(t.Context(), routing.DLQStream)
	if err != nil {
		t.Fatal(err)
	}
	m, err := st.GetMsg(t.Context(), seq)
	if err != nil {
		t.Fatal(err)
	}
	return m.Time
}
