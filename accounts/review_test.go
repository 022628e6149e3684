package accounts_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cofswitch/cofswitch/accounts"
	"github.com/cofswitch/cofswitch/routing"
)

// TestReviewSensorDLQGrantIsNarrow: a sensor holding the API of its own
// dead-letter consumer tries to step outside it: another sensor's
// consumer, a consumer of its own choosing on COF_DLQ, updating or
// deleting its own, the queue's info, and the switch's consumer on its
// own input (deleting it would make the switch's feeder loop).
func TestReviewSensorDLQGrantIsNarrow(t *testing.T) { inBothModes(t, testReviewSensorDLQGrantIsNarrow) }

func testReviewSensorDLQGrantIsNarrow(t *testing.T, mode string) {
	x := newExchange(t, mode)
	p := accounts.APIPrefix
	req := func(subject, body string) func(*testing.T, *nats.Conn) string {
		return func(t *testing.T, nc *nats.Conn) string {
			_, _ = nc.Request(subject, []byte(body), 300*time.Millisecond)
			return subject
		}
	}
	pub := func(subject, body string) func(*testing.T, *nats.Conn) string {
		return func(t *testing.T, nc *nats.Conn) string {
			_ = nc.Publish(subject, []byte(body))
			return subject
		}
	}
	for _, a := range []struct {
		name string
		do   func(*testing.T, *nats.Conn) string
	}{
		{"fetch another sensor's dead letters", req(p+".CONSUMER.MSG.NEXT.COF_DLQ.dlq_s2", `{"batch":1}`)},
		{"fetch a sibling sensor's dead letters", req(p+".CONSUMER.MSG.NEXT.COF_DLQ.dlq_s1b", `{"batch":1}`)},
		{"info of another sensor's consumer", req(p+".CONSUMER.INFO.COF_DLQ.dlq_s2", ``)},
		{"ack another sensor's dead letter", pub("$JS.ACK.COF_DLQ.dlq_s2.1.2.1.0.0", `+ACK`)},
		{"ack-subject fetch on another sensor's consumer", pub("$JS.ACK.COF_DLQ.dlq_s2.1.2.1.0.0", `+NXT {"batch":10}`)},
		{"create a consumer on COF_DLQ filtered to another", req(p+".CONSUMER.CREATE.COF_DLQ.mine.cof.dlq.s2", `{"stream_name":"COF_DLQ","config":{"name":"mine","filter_subject":"cof.dlq.s2"}}`)},
		{"re-filter its own consumer", req(p+".CONSUMER.CREATE.COF_DLQ.dlq_s1.cof.dlq.s2", `{"stream_name":"COF_DLQ","config":{"durable_name":"dlq_s1","filter_subject":"cof.dlq.s2"}}`)},
		{"durable create with its own name", req(p+".CONSUMER.DURABLE.CREATE.COF_DLQ.dlq_s1", `{"stream_name":"COF_DLQ","config":{"durable_name":"dlq_s1","filter_subject":"cof.dlq.>"}}`)},
		{"delete its own dead-letter consumer", req(p+".CONSUMER.DELETE.COF_DLQ.dlq_s1", ``)},
		{"fetch another sensor's view", req(p+".CONSUMER.MSG.NEXT.COF_DLQ.dlqv_s2", `{"batch":1}`)},
		{"rewind another sensor's view", req(p+".CONSUMER.RESET.COF_DLQ.dlqv_s2", `{"seq":1}`)},
		{"rewind its own acking consumer", req(p+".CONSUMER.RESET.COF_DLQ.dlq_s1", `{"seq":1}`)},
		{"re-filter its own view", req(p+".CONSUMER.CREATE.COF_DLQ.dlqv_s1.cof.dlq.s2", `{"stream_name":"COF_DLQ","config":{"durable_name":"dlqv_s1","filter_subject":"cof.dlq.s2"}}`)},
		{"delete its own view", req(p+".CONSUMER.DELETE.COF_DLQ.dlqv_s1", ``)},
		{"ack-subject fetch on its own view", pub("$JS.ACK.COF_DLQ.dlqv_s1.1.1.1.0.0", `+NXT {"batch":10}`)},
		{"purge COF_DLQ", req(p+".STREAM.PURGE.COF_DLQ", `{"filter":"cof.dlq.s1"}`)},
		{"purge COF_DLQ (own $JS.API)", req("$JS.API.STREAM.PURGE.COF_DLQ", `{"filter":"cof.dlq.s1"}`)},
		{"delete a dead letter", req(p+".STREAM.MSG.DELETE.COF_DLQ", `{"seq":1}`)},
		{"read COF_DLQ's info", req(p+".STREAM.INFO.COF_DLQ", ``)},
		{"message get on COF_DLQ", req(p+".STREAM.MSG.GET.COF_DLQ", `{"last_by_subj":"cof.dlq.s2"}`)},
		{"list consumers of COF_DLQ", req(p+".CONSUMER.LIST.COF_DLQ", ``)},
		{"delete the switch's consumer on its own input", req(p+".CONSUMER.DELETE.COF_IN_s1.cofswitch", ``)},
		{"delete the switch's consumer on its own input (own $JS.API)", req("$JS.API.CONSUMER.DELETE.COF_IN_s1.cofswitch", ``)},
		{"delete its own input stream", req(p+".STREAM.DELETE.COF_IN_s1", ``)},
		{"purge its own input stream", req(p+".STREAM.PURGE.COF_IN_s1", ``)},
		{"read its own input's info", req(p+".STREAM.INFO.COF_IN_s1", ``)},
		{"ack (drop) batches of its own input", pub("$JS.ACK.COF_IN_s1.cofswitch.1.1.1.0.0", `+TERM`)},
		{"ack another sensor's input", pub("$JS.ACK.COF_IN_s2.cofswitch.1.1.1.0.0", `+TERM`)},
		{"read the DLQ subject", func(t *testing.T, nc *nats.Conn) string {
			_, _ = nc.SubscribeSync("cof.dlq.s2")
			return "cof.dlq.s2"
		}},
	} {
		t.Run(a.name, func(t *testing.T) {
			e := &errs{}
			nc := x.connect(t, "s1", accounts.SensorInbox("s1"), e)
			e.waitViolation(t, a.do(t, nc))
		})
	}
	// And the consumers are as provisioned.
	st, err := x.switchJS.Stream(t.Context(), routing.DLQStream)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"s1", "s1b", "s2"} {
		for _, name := range []string{routing.DLQConsumer(s), routing.DLQViewConsumer(s)} {
			c, err := st.Consumer(t.Context(), name)
			if err != nil {
				t.Fatalf("%s's consumer %s: %v", s, name, err)
			}
			if cc := c.CachedInfo().Config; cc.FilterSubject != routing.DLQSubject(s) || cc.DeliverSubject != "" {
				t.Errorf("%s's consumer %s filters %q, delivers to %q", s, name, cc.FilterSubject, cc.DeliverSubject)
			}
		}
	}
	names := st.ConsumerNames(t.Context())
	n := 0
	for range names.Name() {
		n++
	}
	if n != 6 {
		t.Errorf("COF_DLQ has %d consumers, want 6", n)
	}
}

// TestReviewSensorDLQReplyRedirection: a sensor's fetch of its own dead
// letters (a pull request, an ack-subject +NXT, an info request) whose
// reply subject is its own input, which its account imports: the dead
// letters must not be fed back into the input (a loop), nor land anywhere
// but its inbox.
func TestReviewSensorDLQReplyRedirection(t *testing.T) {
	inBothModes(t, testReviewSensorDLQReplyRedirection)
}

func testReviewSensorDLQReplyRedirection(t *testing.T, mode string) {
	x := newExchange(t, mode)
	nc := x.connect(t, "s1", accounts.SensorInbox("s1"), nil)
	in := routing.InStream("s1")
	before := streamMsgs(t, x.switchJS, in)
	next := accounts.APIPrefix + ".CONSUMER.MSG.NEXT." + routing.DLQStream + "." + routing.DLQConsumer("s1")
	info := accounts.APIPrefix + ".CONSUMER.INFO." + routing.DLQStream + "." + routing.DLQConsumer("s1")
	view := routing.DLQStream + "." + routing.DLQViewConsumer("s1")
	viewNext, viewReset := accounts.APIPrefix+".CONSUMER.MSG.NEXT."+view, accounts.APIPrefix+".CONSUMER.RESET."+view
	for _, target := range []string{"cof.in.s1", "cof.in.s1b", "cof.in.s2", "cof.dlq.s2", next} {
		for _, r := range []struct{ subj, body string }{
			{next, `{"batch":10,"expires":200000000}`}, {info, ``},
			{viewReset, `{"seq":1}`}, {viewNext, `{"batch":10,"expires":200000000}`},
		} {
			if err := nc.PublishRequest(r.subj, target, []byte(r.body)); err != nil {
				t.Fatal(err)
			}
		}
	}
	time.Sleep(500 * time.Millisecond)
	// The first fetch above took the planted dead letter (seq 4 of the
	// stream); an ack-subject +NXT on it asks for more, redirected.
	ack := fmt.Sprintf("$JS.ACK.%s.%s.1.4.1.0.0", routing.DLQStream, routing.DLQConsumer("s1"))
	if err := nc.PublishRequest(ack, "cof.in.s1", []byte(`+NXT {"batch":10}`)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	// A sensor may send the replies of its own dead-letter consumer into
	// its own input (its account imports that subject): it harms itself
	// only, and the switch dead-letters them to its own share. No other
	// input receives anything.
	if got := streamMsgs(t, x.switchJS, in); got < before {
		t.Errorf("COF_IN_s1 lost messages: %d, was %d", got, before)
	}
	for _, s := range []string{"s1b", "s2"} {
		want := uint64(0)
		if got := streamMsgs(t, x.switchJS, routing.InStream(s)); got != want {
			t.Errorf("COF_IN_%s holds %d messages, want %d: s1 redirected a reply into it", s, got, want)
			st, _ := x.switchJS.Stream(t.Context(), routing.InStream(s))
			for seq := uint64(1); seq <= got+1; seq++ {
				if m, err := st.GetMsg(t.Context(), seq); err == nil {
					t.Logf("  seq %d %s %v %.200s", seq, m.Subject, m.Header, m.Data)
				}
			}
		}
	}
	dlq, _ := x.switchJS.Stream(t.Context(), routing.DLQStream)
	if i, _ := dlq.Info(t.Context()); i.State.Msgs != 1 {
		t.Errorf("COF_DLQ holds %d messages, want the planted 1", i.State.Msgs)
	}
}

// TestReviewHeadersOnOwnInput: every JetStream header a sensor can set on
// its own subject, a huge header and a message at the server's limit:
// refused or judged in its own stream, and another sensor's batches are
// switched meanwhile and after.
func TestReviewHeadersOnOwnInput(t *testing.T) { inBothModes(t, testReviewHeadersOnOwnInput) }

func testReviewHeadersOnOwnInput(t *testing.T, mode string) {
	x := newExchange(t, mode)
	x.startSwitch(t)
	nc := x.connect(t, "s1", accounts.SensorInbox("s1"), nil)
	js, _ := jetstream.New(nc)
	s2Before := streamMsgs(t, x.switchJS, routing.InStream("s2"))
	line := `{"rrname":"attack.example","rrtype":"A","rdata":["192.0.2.1"],"time_first":1,"time_last":2}` + "\n"
	for _, h := range []nats.Header{
		{"Nats-Rollup": {"all"}},
		{"Nats-Rollup": {"sub"}},
		{"Nats-TTL": {"1s"}},
		{"Nats-TTL": {"never"}},
		{"Nats-Schedule": {"@every 1s"}, "Nats-Schedule-Target": {"cof.in.s2"}},
		{"Nats-Schedule": {"@at 2000-01-01T00:00:00Z"}, "Nats-Schedule-Target": {"cof.in.s1"}},
		{"Nats-Incr": {"1"}},
		{"Nats-Batch-Id": {"b1"}, "Nats-Batch-Sequence": {"1"}},
		{"Nats-Batch-Id": {"b1"}, "Nats-Batch-Sequence": {"2"}, "Nats-Batch-Commit": {"1"}},
		{"Nats-Expected-Stream": {routing.InStream("s2")}},
		{"Nats-Expected-Last-Subject-Sequence-Subject": {"cof.in.s2"}, "Nats-Expected-Last-Subject-Sequence": {"0"}},
		{"Nats-Msg-Id": {strings.Repeat("i", 60000)}},
		{"X-Huge": {strings.Repeat("h", 900<<10)}},
		{"Nats-Marker-Reason": {"Remove"}},
		{"Nats-Required-Api-Level": {"999"}},
	} {
		m := &nats.Msg{Subject: "cof.in.s1", Header: h, Data: []byte(line)}
		ack, err := js.PublishMsg(t.Context(), m)
		t.Logf("%v: %v %v", keys(h), ack, err)
		if ack != nil && ack.Stream != routing.InStream("s1") {
			t.Errorf("%v stored in %s", keys(h), ack.Stream)
		}
	}
	// A message at the server's limit, data only.
	if _, err := js.Publish(t.Context(), "cof.in.s1", []byte(strings.Repeat("x", int(nc.MaxPayload())-200))); err != nil {
		t.Logf("max payload: %v", err)
	}
	if got := streamMsgs(t, x.switchJS, routing.InStream("s2")); got != s2Before {
		t.Errorf("COF_IN_s2 went from %d to %d", s2Before, got)
	}
	if r := x.publishAs(t, "s2", sensorBatches("victim", 3, 10)); r.Failed != 0 {
		t.Fatal(r)
	}
	waitUntil(t, "s2's records at pb", 20*time.Second, func() bool { return x.peerRecords(t, "pb", "victim-") == 30 })
	waitUntil(t, "s1's input drained", 20*time.Second, func() bool { return streamMsgs(t, x.switchJS, routing.InStream("s1")) == 0 })
	time.Sleep(1500 * time.Millisecond) // a schedule, had one been stored, would fire
	if got := x.peerRecords(t, "pb", "victim-"); got != 30 {
		t.Errorf("pb holds %d victim records, want 30", got)
	}
	if got := streamMsgs(t, x.switchJS, routing.InStream("s2")); got != 0 {
		t.Errorf("COF_IN_s2 holds %d messages after the switch drained it", got)
	}
}

func keys(h nats.Header) []string {
	var out []string
	for k := range h {
		out = append(out, k)
	}
	return out
}
