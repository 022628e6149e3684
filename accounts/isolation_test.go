package accounts_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cofswitch/cofswitch/accounts"
	"github.com/cofswitch/cofswitch/cof"
	"github.com/cofswitch/cofswitch/policy"
	"github.com/cofswitch/cofswitch/routing"
	"github.com/cofswitch/cofswitch/sensor/deadletters"
	"github.com/cofswitch/cofswitch/sensor/publish"
	"github.com/cofswitch/cofswitch/switch/engine"
)

// startSwitch runs the switch of the testbed's registry until the test
// ends.
func (x *testbed) startSwitch(t *testing.T) *engine.Engine {
	t.Helper()
	table, pols, err := x.cfg.Compile(policy.DefaultEnv())
	if err != nil {
		t.Fatal(err)
	}
	e, err := engine.New(x.switchNC, table, pols, engine.WithLogger(discard()))
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Stop)
	return e
}

// sensorBatches are n batches of per records of a sensor, as lines.
func sensorBatches(sensor string, n, per int) [][]byte {
	var out [][]byte
	for i := range n {
		var b []byte
		for j := range per {
			b = fmt.Appendf(b, `{"rrname":"%s-b%d-r%d.example","rrtype":"A","rdata":["192.0.2.1"],"time_first":1,"time_last":2}`+"\n", sensor, i, j)
		}
		out = append(out, b)
	}
	return out
}

// publishAs publishes batches as a sensor with its own seed, through the
// publisher, and returns what it says was stored.
func (x *testbed) publishAs(t *testing.T, sensor string, batches [][]byte) publish.Result {
	t.Helper()
	refusals := &publish.Refusals{}
	nc := x.connect(t, sensor, "", nil)
	nc.Close()
	nc, err := nats.Connect(x.url, append(publish.ConnectOptions(sensor, refusals), x.auth(sensor))...)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	p, err := publish.New(nc, js, publish.Options{Sensor: sensor, Batch: cof.DefaultMaxRecords, Refusals: refusals})
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range batches {
		for line := range bytes.Lines(b) {
			p.Add(line)
		}
		p.Flush()
	}
	return p.Close(t.Context())
}

// peerRecords counts the records of the peer's stream whose owner name
// starts with prefix.
func (x *testbed) peerRecords(t *testing.T, peer, prefix string) int {
	t.Helper()
	s, err := x.switchJS.Stream(t.Context(), routing.PeerStream(peer))
	if err != nil {
		t.Fatal(err)
	}
	info, _ := s.Info(t.Context())
	codec, _ := cof.NewCodec()
	defer codec.Close()
	br := codec.NewBatchReader()
	n := 0
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := s.GetMsg(t.Context(), seq)
		if err != nil {
			continue
		}
		enc, _ := cof.ParseEncoding(m.Header.Get("Content-Encoding"))
		if br.Reset(m.Data, enc) != nil {
			continue
		}
		for br.Next() {
			if r := br.Record(); r != nil && strings.HasPrefix(r.RRName, prefix) {
				n++
			}
		}
	}
	return n
}

func waitUntil(t *testing.T, what string, d time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestSuppressionAttackFails: an organisation that knows (or predicts)
// the message ids of another's batches publishes them first, on its own
// input, and probes the victim's with expected-last headers. The victim's
// batches are all stored as new, and its peer receives every record.
func TestSuppressionAttackFails(t *testing.T) { inBothModes(t, testSuppressionAttackFails) }

func testSuppressionAttackFails(t *testing.T, mode string) {
	x := newExchange(t, mode)
	x.startSwitch(t)
	victim := sensorBatches("s1", 20, 50)

	attacker := x.connect(t, "s2", accounts.SensorInbox("s2"), nil)
	ajs, _ := jetstream.New(attacker)
	for _, b := range victim {
		m := nats.NewMsg(routing.InSubject("s2"))
		m.Data = []byte("{}\n")
		m.Header.Set(jetstream.MsgIDHeader, publish.BatchID(b))
		if _, err := ajs.PublishMsg(t.Context(), m); err != nil {
			t.Fatalf("the attacker's own publish: %v", err)
		}
	}
	// Publishing on the victim's subject is refused outright.
	e := &errs{}
	bad := x.connect(t, "s2", accounts.SensorInbox("s2"), e)
	if err := bad.Publish(routing.InSubject("s1"), []byte("{}")); err != nil {
		t.Fatal(err)
	}
	bad.Flush()
	e.waitViolation(t, routing.InSubject("s1"))

	res := x.publishAs(t, "s1", victim)
	if res.Records != 1000 || res.Duplicates != 0 || res.Failed != 0 {
		t.Fatalf("the victim's publish: %+v, want 1000 records stored, no duplicates", res)
	}
	waitUntil(t, "the victim's records at its peer", 20*time.Second, func() bool { return x.peerRecords(t, "pb", "s1-") == 1000 })

	// The victim re-publishing its own file is told what was there.
	again := x.publishAs(t, "s1", victim)
	if again.Records != 0 || again.Duplicates != 20 || again.DuplicateRecords != 1000 {
		t.Fatalf("re-publishing: %+v, want 20 batches already stored", again)
	}
	if n := x.peerRecords(t, "pb", "s1-"); n != 1000 {
		t.Fatalf("the peer holds %d of the victim's records after the re-publish, want 1000", n)
	}
}

// TestSequenceProbesRevealNothing: the expected-sequence and
// expected-id headers a sensor may send are answered from its own input
// stream only: the victim's traffic (37 batches) shows in no reply.
func TestSequenceProbesRevealNothing(t *testing.T) { inBothModes(t, testSequenceProbesRevealNothing) }

func testSequenceProbesRevealNothing(t *testing.T, mode string) {
	x := newExchange(t, mode)
	victim := x.publishAs(t, "s1", sensorBatches("s1", 37, 1))
	if victim.Records != 37 {
		t.Fatalf("victim: %+v", victim)
	}
	attacker := x.connect(t, "s2", accounts.SensorInbox("s2"), nil)
	ajs, _ := jetstream.New(attacker)
	if _, err := ajs.Publish(t.Context(), routing.InSubject("s2"), []byte("{}\n")); err != nil {
		t.Fatal(err)
	}
	numbers := regexp.MustCompile(`\d+`)
	for _, probe := range []map[string]string{
		{"Nats-Expected-Last-Sequence": "999"},
		{"Nats-Expected-Last-Msg-Id": "guess"},
		{"Nats-Expected-Last-Subject-Sequence": "999"},
		{"Nats-Expected-Last-Subject-Sequence": "999", "Nats-Expected-Last-Subject-Sequence-Subject": routing.InSubject("s1")},
		{"Nats-Expected-Last-Subject-Sequence": "999", "Nats-Expected-Last-Subject-Sequence-Subject": routing.InPrefix + ">"},
		{"Nats-Expected-Stream": routing.InStream("s1")},
	} {
		m := nats.NewMsg(routing.InSubject("s2"))
		m.Data = []byte("{}\n")
		for k, v := range probe {
			m.Header.Set(k, v)
		}
		_, err := ajs.PublishMsg(t.Context(), m)
		if err == nil {
			t.Errorf("probe %v was stored", probe)
			continue
		}
		for _, n := range numbers.FindAllString(err.Error(), -1) {
			if v, _ := strconv.Atoi(n); v == 37 || v == 38 {
				t.Errorf("probe %v answered %q: the victim's count shows", probe, err)
			}
		}
		if strings.Contains(err.Error(), "s1") {
			t.Errorf("probe %v answered %q: it names the victim", probe, err)
		}
	}
}

// TestDeadLetterShares: one sensor flooding the dead-letter queue evicts
// only its own dead letters; each sensor reads its own with its own seed,
// and nothing else.
func TestDeadLetterShares(t *testing.T) { inBothModes(t, testDeadLetterShares) }

func testDeadLetterShares(t *testing.T, mode string) {
	x := newExchange(t, mode)
	x.startSwitch(t)
	if r := x.publishAs(t, "s1", [][]byte{[]byte("not json s1\n")}); r.Failed != 0 {
		t.Fatal(r)
	}
	flood := make([][]byte, 300)
	for i := range flood {
		flood[i] = fmt.Appendf(nil, "not json %d %s\n", i, strings.Repeat("x", 2000))
	}
	if r := x.publishAs(t, "s2", flood); r.Failed != 0 {
		t.Fatal(r)
	}
	dlq, _ := x.switchJS.Stream(t.Context(), routing.DLQStream)
	subjectMsgs := func(subj string) uint64 {
		info, err := dlq.Info(t.Context(), jetstream.WithSubjectFilter(subj))
		if err != nil {
			t.Fatal(err)
		}
		return info.State.Subjects[subj]
	}
	waitUntil(t, "the flood dead-lettered", 30*time.Second, func() bool { return subjectMsgs(routing.DLQSubject("s2")) == 256 })
	// The testbed planted one message on cof.dlq.s1 and one invalid
	// record on cof.in.s1; with s1's own, the switch dead-lettered two.
	if n := subjectMsgs(routing.DLQSubject("s1")); n != 3 {
		t.Fatalf("s1 holds %d dead letters after s2's flood, want 3", n)
	}

	// s1 reads its own dead letters with its own seed.
	nc := x.connect(t, "s1", accounts.SensorInbox("s1"), nil)
	var out bytes.Buffer
	n, err := deadletters.Read(t.Context(), nc, "s1", deadletters.Options{APIPrefix: accounts.APIPrefix, Idle: 500 * time.Millisecond}, &out)
	if err != nil || n != 3 || !strings.Contains(out.String(), `"raw":"not json s1"`) {
		t.Fatalf("s1 read %d entries, %v:\n%s", n, err, out.String())
	}
	// ... and nobody else's: not s2's consumer, not the stream.
	if _, err := deadletters.Read(t.Context(), nc, "s2", deadletters.Options{APIPrefix: accounts.APIPrefix, Idle: 300 * time.Millisecond}, io.Discard); !errors.Is(err, deadletters.ErrBind) {
		t.Fatalf("s1 reading s2's dead letters: %v", err)
	}
	js, _ := jetstream.NewWithAPIPrefix(nc, accounts.APIPrefix)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	if _, err := js.Stream(ctx, routing.DLQStream); err == nil {
		t.Fatal("s1 reads COF_DLQ's info")
	}
	// Read again: what was acked is not shown twice.
	out.Reset()
	if n, err := deadletters.Read(t.Context(), nc, "s1", deadletters.Options{APIPrefix: accounts.APIPrefix, Idle: 300 * time.Millisecond}, &out); err != nil || n != 0 {
		t.Fatalf("second read: %d, %v: %s", n, err, out.String())
	}
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }
