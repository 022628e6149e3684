package accounts_test

import (
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/cofswitch/cofswitch/accounts"
	"github.com/cofswitch/cofswitch/routing"
)

// TestControlSubjectOfAnother: no identity but pa reaches pa's control
// subject, in either mode: not a sibling peer of pa's organisation, not a
// peer of another, not a sensor of either; not through the exchange's API
// prefix, nor with a reply subject of pa's inbox. The switch sees nothing
// of their attempts.
func TestControlSubjectOfAnother(t *testing.T) { inBothModes(t, testControlSubjectOfAnother) }

func testControlSubjectOfAnother(t *testing.T, mode string) {
	x := newExchange(t, mode)
	got := make(chan string, 64)
	sub, err := x.switchNC.QueueSubscribe(routing.ControlPrefix+"*", "switch", func(m *nats.Msg) {
		got <- m.Subject
		_ = m.Respond([]byte(`{"ok":true}`))
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	_ = x.switchNC.Flush()
	victim := routing.ControlSubject("pa")
	for _, who := range []string{"pa2", "pb", "s1", "s1b", "s2"} {
		inbox := accounts.PeerInbox(who)
		if strings.HasPrefix(who, "s") {
			inbox = accounts.SensorInbox(who)
		}
		e := &errs{}
		nc := x.connect(t, who, inbox, e)
		if _, err := nc.Request(victim, []byte(`{"op":"clear"}`), 300*time.Millisecond); err == nil {
			t.Errorf("%s: answered on %s", who, victim)
		}
		// Its own inbox is the only reply subject it may give; pa's is refused.
		_ = nc.PublishRequest(victim, accounts.PeerInbox("pa")+".x", []byte(`{"op":"clear"}`))
		_ = nc.Publish(accounts.APIPrefix+".x", nil)
		_ = nc.Flush()
		e.waitViolation(t, victim)
	}
	select {
	case s := <-got:
		t.Fatalf("the switch saw a request on %s from another identity", s)
	case <-time.After(200 * time.Millisecond):
	}
}
