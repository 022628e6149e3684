package backfill_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cofswitch/cofswitch/batchsig"

	"github.com/cofswitch/cofswitch/routing"
	"github.com/cofswitch/cofswitch/switch/backfill"
	"github.com/cofswitch/cofswitch/switch/exchange"
)

const thresholdBefore = `
nats: {auth: none, listen: "127.0.0.1:0"}
streams: {archive: {max_age: 1h}}
sensors: [{id: s1}, {id: s2}, {id: s3}]
policies:
  k2:
    tlp: AMBER
    threshold: {min_sensors: 2}
peers:
  - {id: early, subscriptions: [{sensors: [s1, s2], policy: k2}]}
`

// TestBackfillThreshold: a backfill under a policy with a k-sensor
// threshold delivers the archived records of the rrsets the switch found
// released (seen by both sensors) and none of those only one sensor saw,
// which it counts as held. s3, routed to no one, adds sightings alone.
func TestBackfillThreshold(t *testing.T) {
	w := start(t, thresholdBefore)
	send := func(sensor string, body string) {
		m := nats.NewMsg(routing.InSubject(sensor))
		m.Data = []byte(body)
		if _, err := w.js.PublishMsg(w.ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	line := func(name string) string {
		return fmt.Sprintf(`{"rrname":%q,"rrtype":"A","rdata":["192.0.2.1"],"time_first":1700000000,"time_last":1700000001}`+"\n", name)
	}
	var s1, s2 strings.Builder
	for i := range 10 {
		s1.WriteString(line(fmt.Sprintf("shared-%d.example", i)))
		s1.WriteString(line(fmt.Sprintf("lonely-%d.example", i)))
		s2.WriteString(line(fmt.Sprintf("shared-%d.example", i)))
	}
	send("s1", s1.String())
	send("s2", s2.String())
	send("s3", line("s3-only.example")+line("shared-0.example"))
	w.waitArchived(3)
	waitFor(t, func() bool { return len(w.read("early").lines) == 20 }, "the released records of early")

	cfg := w.reload(thresholdBefore + `  - {id: late, subscriptions: [{sensors: [s1, s2], policy: k2}]}` + "\n")
	signer, err := exchange.SigningKey(cfg.Switch, "", w.dir)
	if err != nil {
		t.Fatal(err)
	}
	p, err := backfill.Run(w.ctx, w.js, backfill.Options{Config: cfg, Peer: "late", Secret: w.secret, Signer: signer, Rate: -1})
	if err != nil {
		t.Fatal(err)
	}
	if p.Records != 20 || p.ThresholdHeld != 10 {
		t.Errorf("progress %+v: want 20 records (shared-*, both sensors) and 10 held (lonely-*)", p)
	}
	for _, l := range w.read("late").lines {
		if strings.Contains(l, "lonely") {
			t.Errorf("late got a record only one sensor saw: %s", l)
		}
	}
	// Every message verifies under the exchange's key, as the switch's own.
	v, err := batchsig.NewVerifier(signer.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	cons, err := w.js.OrderedConsumer(w.ctx, routing.PeerStream("late"), jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	batch, err := cons.FetchNoWait(100)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for m := range batch.Messages() {
		n++
		if err := v.VerifyMsg(m.Subject(), m.Headers(), m.Data()); err != nil {
			t.Errorf("backfilled message does not verify: %v", err)
		}
	}
	if n == 0 {
		t.Error("no message to verify")
	}
}
