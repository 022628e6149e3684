package engine_test

import (
	"bytes"
	"encoding/json"
	"strconv"
	"testing"
	"time"

	"github.com/cofswitch/cofswitch/cof"
	"github.com/cofswitch/cofswitch/routing"
	"github.com/cofswitch/cofswitch/switch/engine"
	"github.com/cofswitch/cofswitch/switch/exchange"
)

// TestPoisonHeadersDoNotStallTheSwitch: a sensor adds JetStream headers
// that would make the dead-letter publish fail, and forges our own
// headers, on batches that cannot be read. They are dead-lettered anyway,
// without them, and the switch keeps switching.
func TestPoisonHeadersDoNotStallTheSwitch(t *testing.T) {
	x := newExchange(t, exchangeYAML)
	x.startSwitch(engine.WithMaxAckPending(2), engine.WithWorkers(1))
	for i, sensor := range []string{"org-a-s1", "org-a-s2", "org-b/s1", "org-a-s1"} {
		m := natsMsg(routing.InSubject(sensor), []byte("not zstd "+strconv.Itoa(i)), "zstd")
		m.Header.Set("Nats-Expected-Last-Subject-Sequence", "0")
		m.Header.Set(engine.HeaderSensor, "org-b/s1")
		if _, err := x.js.PublishMsg(t.Context(), m); err != nil {
			t.Fatalf("%s: %v", sensor, err)
		}
		waitFor(t, "input drained", 10*time.Second, x.inputDrained)
	}
	x.publish("org-a-s1", records("after-", 5, ""), cof.Zstd)
	waitFor(t, "input drained", 10*time.Second, x.inputDrained)
	if n := len(x.read(routing.PeerStream("peer-c"), true).records); n != 5 {
		t.Errorf("peer-c received %d records after the poison, want 5", n)
	}
	dlq := x.read(routing.DLQStream, false)
	if len(dlq.msgs) != 4 {
		t.Fatalf("DLQ holds %d messages, want 4", len(dlq.msgs))
	}
	for _, m := range dlq.msgs {
		h := m.Headers()
		if h.Get("Nats-Expected-Last-Subject-Sequence") != "" {
			t.Errorf("dead letter carries the sender's headers: %v", h)
		}
		// The attribution is the switch's: the stream the batch came from.
		if s := h.Get(engine.HeaderSensor); s == "org-b/s1" && m.Subject() != routing.DLQSubject("org-b/s1") {
			t.Errorf("dead letter on %s attributed to %q", m.Subject(), s)
		}
		if h.Get(engine.HeaderErrorKind) != "corrupt" || h.Get("Content-Encoding") != "zstd" {
			t.Errorf("dead letter headers: %v", h)
		}
	}
}

// TestHugeDeadLettersFit: a line of control characters grows sixfold when
// escaped into a DLQ entry; the entry keeps its beginning and says so.
func TestHugeDeadLettersFit(t *testing.T) {
	x := newExchange(t, exchangeYAML)
	x.startSwitch()
	huge := bytes.Repeat([]byte{1}, 200<<10) // raw control bytes: invalid JSON
	body := append(append([]byte(`{"rrname":"`), huge...), "\"}\n"...)
	body = append(body, records("ok-", 3, "")...)
	x.publish("org-a-s1", body, cof.Zstd)
	waitFor(t, "input drained", 10*time.Second, x.inputDrained)
	dlq := x.read(routing.DLQStream, false)
	if len(dlq.msgs) != 1 {
		t.Fatalf("DLQ holds %d messages", len(dlq.msgs))
	}
	var entry struct {
		Line         int    `json:"line"`
		Kind         string `json:"kind"`
		Raw          string `json:"raw"`
		RawBytes     int    `json:"raw_bytes"`
		RawTruncated bool   `json:"raw_truncated"`
	}
	if err := json.Unmarshal(bytes.TrimSpace(dlq.msgs[0].Data()), &entry); err != nil {
		t.Fatal(err)
	}
	if entry.Line != 1 || !entry.RawTruncated || entry.RawBytes != len(body)-len(records("ok-", 3, ""))-1 || len(entry.Raw) != 64<<10 {
		t.Errorf("entry line=%d kind=%s truncated=%v raw_bytes=%d raw=%d bytes", entry.Line, entry.Kind, entry.RawTruncated, entry.RawBytes, len(entry.Raw))
	}
	if n := len(x.read(routing.PeerStream("peer-c"), true).records); n != 3 {
		t.Errorf("peer-c received %d records, want 3", n)
	}
}

// TestConsumerDeletedIsRecreated: an operator deletes the switch's durable
// consumer; the switch notices, resubscribes and goes on.
func TestConsumerDeletedIsRecreated(t *testing.T) {
	x := newExchange(t, exchangeYAML)
	x.startSwitch()
	x.publish("org-a-s1", records("before-", 2, ""), cof.Identity)
	waitFor(t, "input drained", 10*time.Second, x.inputDrained)
	if err := x.js.DeleteConsumer(t.Context(), routing.InStream("org-a-s1"), engine.DefaultConsumer); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	x.publish("org-a-s1", records("after-", 3, ""), cof.Identity)
	waitFor(t, "input drained after the consumer was deleted", 20*time.Second, x.inputDrained)
	if n := len(x.read(routing.PeerStream("peer-c"), true).records); n != 5 {
		t.Errorf("peer-c received %d records, want 5", n)
	}
}

// TestUnstorableDeadLettersWait: with the DLQ gone, a batch with an
// invalid line is retried max_attempts times, then waits (stalled, handed
// back again and again) rather than losing its dead letter; its valid
// records reach the peer once. When the DLQ is back, the batch completes.
func TestUnstorableDeadLettersWait(t *testing.T) {
	x := newExchange(t, exchangeYAML)
	if err := x.js.DeleteStream(t.Context(), routing.DLQStream); err != nil {
		t.Fatal(err)
	}
	e := x.startSwitch(engine.WithMaxAttempts(2), engine.WithPublishTimeout(time.Second), engine.WithStallRetry(200*time.Millisecond))
	x.publish("org-a-s1", append(records("v-", 2, ""), "garbage\n"...), cof.Identity)
	waitFor(t, "stalled", 20*time.Second, func() bool { return e.Stats().Stalled >= 2 })
	if x.inputDrained() || e.Stats().GivenUp != 0 {
		t.Fatalf("the batch was dropped: %s", e.Stats())
	}
	if err := exchange.EnsureStreams(t.Context(), x.js, x.cfg); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "input drained once the DLQ is back", 20*time.Second, x.inputDrained)
	waitFor(t, "stats", 2*time.Second, func() bool { return e.Stats().Batches == 1 })
	s := e.Stats()
	if s.GivenUp != 0 || s.LostDead != 0 || s.Delivered["peer-c"] != 2 || len(x.read(routing.DLQStream, false).msgs) != 1 {
		t.Errorf("stats: %s lost_dead=%d", s, s.LostDead)
	}
	if n := len(x.read(routing.PeerStream("peer-c"), true).records); n != 2 {
		t.Errorf("peer-c has %d records, want 2 once", n)
	}
}
