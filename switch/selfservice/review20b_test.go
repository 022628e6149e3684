package selfservice_test

// Review 20b: a peer attacking self-service subscriptions, on a real
// embedded server with real seeds.

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"github.com/cofswitch/cofswitch/accounts"
	"github.com/cofswitch/cofswitch/config"
	"github.com/cofswitch/cofswitch/routing"
	"github.com/cofswitch/cofswitch/switch/exchange"
	"github.com/cofswitch/cofswitch/switch/selfservice"
)

// writeText writes the file as text, with %s for p's and q's nkeys.
func (b *bed) writeText(text string) {
	b.t.Helper()
	pp, _ := b.p.PublicKey()
	qp, _ := b.q.PublicKey()
	if err := os.WriteFile(b.path, []byte(fmt.Sprintf(text, pp, qp)), 0o600); err != nil {
		b.t.Fatal(err)
	}
}

// lastTLP is the Cofswitch-TLP header of the last batch on p's stream.
func lastTLP(t *testing.T, x *exchange.Exchange) string {
	t.Helper()
	js := x.JetStream()
	s, err := js.Stream(t.Context(), routing.PeerStream("p"))
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	m, err := s.GetMsg(t.Context(), info.State.LastSeq)
	if err != nil {
		t.Fatal(err)
	}
	return m.Header.Get("Cofswitch-TLP")
}

// A peer relabels another organisation's records with a weaker label than
// the operator gave them: p (org-b) receives org-a's acme-dns-1 under
// pass, labelled AMBER by the file; the ceiling allows pass, which has no
// label of its own, so any label passes the "no weaker than the policy's"
// check, TLP:CLEAR included. The exchange then signs TLP:CLEAR on org-a's
// records (Cofswitch-TLP is covered by the exchange's signature), which
// the recipient may show to anyone as released without restriction. The
// ceiling has no label floor (ceiling.tlp is refused as an unknown key).
func TestReview20bLabelWeakerThanTheFiles(t *testing.T) {
	b := newBed(t)
	if got := delivered(t, b.x, "acme-dns-1"); !got["acme-dns-1"] {
		t.Fatal("not delivered by the file")
	}
	if tlp := lastTLP(t, b.x); tlp != "TLP:AMBER" {
		t.Fatalf("by the file: %q, want TLP:AMBER", tlp)
	}
	rep := b.ask(selfservice.Request{Op: selfservice.OpSet, Subscriptions: []selfservice.Subscription{
		{Sensors: []string{"acme-dns-1"}, Policy: "pass", TLP: "CLEAR"}}})
	if rep.OK {
		applied(t, b.x, rep.Version)
		delivered(t, b.x, "acme-dns-1")
		t.Fatalf("p relabelled org-a's records: set %+v; delivered with %s", rep, lastTLP(t, b.x))
	}
}

// relayYAML: hub-9 of org-c relays the id acme-dns-9, within p's ceiling
// acme-*; hub-9 itself and org-c are outside anything p may ask for.
const relayYAML = `
nats: {listen: "127.0.0.1:0"}
switch: {output_encoding: none}
policies:
  strict: {tlp: RED, transforms: {keep_fields: [rrname, rrtype, rdata]}}
  loose: {}
sensors:
  - {id: acme-dns-1, organisation: org-a}
  - {id: acme-web-1, organisation: org-a}
  - {id: hub-9, organisation: org-c, relays: [acme-dns-9]}
peers:
  - id: p
    organisation: org-b
    nkey: %s
    subscriptions: [{sensors: [acme-dns-1], policy: pass, tlp: AMBER}]
    ceiling: {sensors: ["acme-*"], policies: [pass, loose, strict]}
  - id: q
    organisation: org-b
    nkey: %s
    subscriptions: [{sensors: ["acme-*"], policy: strict}]
`

// A refusal tells the peer nothing of the registry beyond what it asked
// and its ceiling: not the sensors that relay an id (outside its
// ceiling), not the organisations of other sensors, not whether an id it
// names is configured at all.
func TestReview20bRefusalKeepsTheRegistry(t *testing.T) {
	b := &bed{t: t, path: t.TempDir() + "/x.yaml", dataDir: t.TempDir()}
	b.p, b.q = newKeys(t)
	b.writeText(relayYAML)
	b.x = b.start(loadFile(t, b.path))
	var msgs []string
	for _, id := range []string{"acme-dns-9", "acme-web-1", "acme-nope-1"} {
		for _, pol := range []string{"pass", "loose"} {
			tlp := map[string]string{"pass": "", "loose": "AMBER"}[pol]
			rep := b.ask(selfservice.Request{Op: selfservice.OpSet, Subscriptions: []selfservice.Subscription{
				{Sensors: []string{id}, Policy: pol, TLP: tlp}}})
			if rep.OK || rep.Code != selfservice.CodeRefused {
				t.Fatalf("%s under %s: %+v", id, pol, rep)
			}
			for _, secret := range []string{"hub-9", "org-c", "org-a", "relayed", "not configured"} {
				if strings.Contains(rep.Error, secret) {
					t.Errorf("%s under %s: the refusal names %q: %s", id, pol, secret, rep.Error)
				}
			}
			msgs = append(msgs, strings.ReplaceAll(rep.Error, id, "ID"))
		}
	}
	// The same refusal whatever the sensor's registration.
	for i := 2; i < len(msgs); i++ {
		if msgs[i] != msgs[i%2] {
			t.Errorf("refusals differ by registration:\n%s\n%s", msgs[i%2], msgs[i])
		}
	}
}

// No identity but the switch reaches the bucket: a peer cannot read
// another's choice or write its own by the bucket's subjects or the
// stream API, under either name of the API.
func TestReview20bBucketOutOfReach(t *testing.T) {
	b := newBed(t)
	if rep := b.ask(selfservice.Request{Op: selfservice.OpSet, Subscriptions: acmeWeb}); !rep.OK {
		t.Fatal(rep.Err())
	}
	errs := make(chan error, 64)
	pub, _ := b.q.PublicKey()
	q, err := nats.Connect(b.x.URL(), nats.Nkey(pub, b.q.Sign), nats.CustomInboxPrefix("_INBOX.p.q"),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { errs <- err }))
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	for _, subj := range []string{
		"$KV." + routing.SubscriptionsBucket + ".p",
		"$JS.API.DIRECT.GET.KV_" + routing.SubscriptionsBucket + ".$KV." + routing.SubscriptionsBucket + ".p",
		"JS.EXCHANGE.API.DIRECT.GET.KV_" + routing.SubscriptionsBucket + ".$KV." + routing.SubscriptionsBucket + ".p",
		"JS.EXCHANGE.API.STREAM.INFO.KV_" + routing.SubscriptionsBucket,
		"$JS.API.STREAM.INFO.KV_" + routing.SubscriptionsBucket,
		"JS.EXCHANGE.API.STREAM.MSG.GET.KV_" + routing.SubscriptionsBucket,
		"$JS.API.CONSUMER.CREATE.KV_" + routing.SubscriptionsBucket,
	} {
		m, err := q.Request(subj, []byte(`{"last_by_subj":"$KV.COF_SUBSCRIPTIONS.p","seq":1}`), 500*time.Millisecond)
		if err == nil && (strings.Contains(string(m.Data), "acme-web") || m.Header.Get("Nats-Subject") != "") {
			t.Errorf("q read p's choice on %s: %s %v", subj, m.Data, m.Header)
		}
	}
	// The control subject of the switch itself, or with a wildcard.
	for _, subj := range []string{"cof.ctl.peer.*", "cof.ctl.peer.>", "cof.ctl.peer.p.x", "cof.ctl.peer.%70"} {
		if _, err := q.Request(subj, []byte(`{"op":"clear"}`), 300*time.Millisecond); err == nil {
			t.Errorf("q got an answer on %s", subj)
		}
	}
	if got := b.ask(selfservice.Request{Op: selfservice.OpGet}); got.Source != selfservice.SourceSelf {
		t.Fatalf("p's choice after q's attempts: %+v", got)
	}
	select {
	case err := <-errs:
		if !strings.Contains(strings.ToLower(err.Error()), "permissions violation") {
			t.Errorf("q's error: %v", err)
		}
	default:
	}
}

// A value written in the bucket by hand (an operator's mistake, or anyone
// who reached it), wider than the ceiling, is re-checked: what is outside
// is dropped, never applied.
func TestReview20bHandWrittenValueRechecked(t *testing.T) {
	b := newBed(t)
	kv, err := b.x.JetStream().KeyValue(t.Context(), routing.SubscriptionsBucket)
	if err != nil {
		t.Fatal(err)
	}
	val := `{"subscriptions":[{"sensors":["*"],"policy":"pass","tlp":"RED"},{"sensors":["acme-web-1"],"policy":"nope"},` +
		`{"sensors":["acme-web-1"],"policy":"strict","tlp":"CLEAR"},{"sensors":["acme-web-*"],"policy":"strict","backfill":"30d"}]}`
	rev, err := kv.Put(t.Context(), "p", []byte(val))
	if err != nil {
		t.Fatal(err)
	}
	a := applied(t, b.x, rev)
	if len(a.Subscriptions) != 1 || len(a.Dropped) != 3 || a.Subscriptions[0].Sensors[0] != "acme-web-*" || a.Subscriptions[0].Backfill != 0 {
		t.Fatalf("applied %+v", a)
	}
	// q, who has no ceiling, gets a value by hand too: ignored (only a
	// reload deletes values, those its previous file accepted: another
	// process may run a newer file, under which this one was written).
	if _, err = kv.Put(t.Context(), "q", []byte(`{"subscriptions":[{"sensors":["*"],"policy":"pass","tlp":"RED"}]}`)); err != nil {
		t.Fatal(err)
	}
	checkFor(t, "q's value read and ignored", func() bool {
		a, ok := b.x.Selections()["q"]
		return ok && a.Ignored != "" && len(a.Subscriptions) == 0
	})
	if q, _ := b.x.Running().PeerByID("q"); q.Subscriptions[0].Sensors[0] != "acme-*" {
		t.Fatalf("q runs %+v", q.Subscriptions)
	}
}

// A peer removed from the file and added again later (the same id, e.g.
// for another organisation's identity) does not inherit the choice stored
// before its removal: its file's subscriptions apply until it chooses.
func TestReview20bReaddedPeerStartsFromTheFile(t *testing.T) {
	b := newBed(t)
	rep := b.ask(selfservice.Request{Op: selfservice.OpSet, Subscriptions: acmeWeb})
	if !rep.OK {
		t.Fatal(rep.Err())
	}
	applied(t, b.x, rep.Version)
	r := exchange.NewReloader(b.x, b.path, "")
	without := strings.Replace(exchangeYAML, "  - id: p\n    organisation: org-b\n    nkey: %s\n    subscriptions: [{sensors: [acme-dns-1], policy: pass, tlp: AMBER}]\n    ceiling: {sensors: [CEILING], policies: [pass, strict]}\n", "", 1)
	if without == exchangeYAML {
		t.Fatal("p not removed from the text")
	}
	qp, _ := b.q.PublicKey()
	if err := os.WriteFile(b.path, []byte(fmt.Sprintf(without, qp)), 0o600); err != nil {
		t.Fatal(err)
	}
	if !r.Reload(t.Context(), "test") {
		t.Fatal("reload without p refused")
	}
	// p gone, its choice is deleted (by whichever switch process sees
	// it first).
	checkFor(t, "p's choice deleted", func() bool { _, ok := b.x.Selections()["p"]; return !ok })
	// p comes back with a new key and the same ceiling.
	b.p, _ = newKeys(t)
	b.write(`"acme-*"`)
	if !r.Reload(t.Context(), "test") {
		t.Fatal("reload with p refused")
	}
	if pe, _ := b.x.Running().PeerByID("p"); pe.Subscriptions[0].Sensors[0] != "acme-dns-1" {
		t.Fatalf("the new p runs the old p's choice: %+v (applied %+v)", pe.Subscriptions, b.x.Selections()["p"])
	}
}

// One peer's flood of requests (each one large and malformed, answered
// with a read of the bucket) does not hold up another peer's: q's requests
// are answered promptly while p floods its control subject, and p's
// excess is refused as too many. Before the fix, the responder answered
// every request in turn with a read of the bucket, and q's gets timed out
// (3 of 5 after 2 s) behind p's.
func TestReview20bFloodDoesNotStarveOthers(t *testing.T) {
	b := newBed(t)
	p := b.connect(b.p, "p")
	q := b.connect(b.q, "q")
	tooMany := make(chan struct{}, 1)
	if _, err := p.Subscribe(accounts.PeerInbox("p")+".flood", func(m *nats.Msg) {
		if strings.Contains(string(m.Data), selfservice.CodeTooMany) {
			select {
			case tooMany <- struct{}{}:
			default:
			}
		}
	}); err != nil {
		t.Fatal(err)
	}
	junk := []byte(`{"op":"get","x":"` + strings.Repeat("a", 15000) + `"}`)
	ctx, stop := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			_ = p.PublishRequest(routing.ControlSubject("p"), accounts.PeerInbox("p")+".flood", junk)
		}
	}()
	defer func() { stop(); <-done }()
	time.Sleep(500 * time.Millisecond)
	for i := range 3 {
		actx, cancel := context.WithTimeout(t.Context(), 1500*time.Millisecond)
		t0 := time.Now()
		rep, err := selfservice.Ask(actx, q, "q", selfservice.Request{Op: selfservice.OpGet})
		cancel()
		if err != nil || !rep.OK {
			t.Fatalf("q's get %d under p's flood: %+v, %v after %v", i, rep, err, time.Since(t0))
		}
	}
	select {
	case <-tooMany:
	case <-time.After(5 * time.Second):
		t.Fatal("p's flood was never refused as too many")
	}
}

func newKeys(t *testing.T) (nkeys.KeyPair, nkeys.KeyPair) {
	t.Helper()
	p, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	q, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	return p, q
}

func loadFile(t *testing.T, path string) *config.Config {
	t.Helper()
	c, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// ask without a bed's helper: raw JSON, as p.
func rawAsk(t *testing.T, nc *nats.Conn, req string) selfservice.Reply {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	m, err := nc.RequestWithContext(ctx, routing.ControlSubject("p"), []byte(req))
	if err != nil {
		t.Fatal(err)
	}
	var rep selfservice.Reply
	if err := json.Unmarshal(m.Data, &rep); err != nil {
		t.Fatal(err)
	}
	return rep
}

// thresholdYAML: q (org-b) receives acme-dns-1 (org-a) under k2, which
// holds an rrset until two sensors have seen it; hub-9 (org-c) is routed
// to no one by the file. p (org-d) may choose hub-* under k2.
const thresholdYAML = `
nats: {listen: "127.0.0.1:0"}
switch: {output_encoding: none}
policies:
  k2: {tlp: AMBER, threshold: {min_sensors: 2, window: 1h}, transforms: {keep_fields: [rrname, rrtype, rdata]}}
sensors:
  - {id: acme-dns-1, organisation: org-a}
  - {id: hub-9, organisation: org-c}
peers:
  - id: p
    organisation: org-d
    nkey: %s
    subscriptions: [{sensors: [acme-dns-1], policy: k2}]
    ceiling: {sensors: ["hub-*"], policies: [k2]}
  - id: q
    organisation: org-b
    nkey: %s
    subscriptions: [{sensors: [acme-dns-1], policy: k2}]
`

// seenBy publishes name from each sensor in turn, each switched before
// the next, and reports whether name then reached peer's stream.
func seenBy(t *testing.T, x *exchange.Exchange, peer, name string, sensors ...string) bool {
	t.Helper()
	js := x.JetStream()
	ctx := t.Context()
	for _, s := range sensors {
		rec := fmt.Sprintf(`{"rrname":%q,"rrtype":"A","rdata":"192.0.2.1","time_first":1,"time_last":2}`, name)
		if _, err := js.Publish(ctx, routing.InSubject(s), []byte(rec)); err != nil {
			t.Fatal(err)
		}
		checkFor(t, s+"'s input switched", func() bool {
			in, err := js.Stream(ctx, routing.InStream(s))
			if err != nil {
				return false
			}
			i, err := in.Info(ctx)
			return err == nil && i.State.Msgs == 0 && x.Engine().Stats().SightingsPending == 0
		})
	}
	time.Sleep(200 * time.Millisecond)
	st, err := js.Stream(ctx, routing.PeerStream(peer))
	if err != nil {
		t.Fatal(err)
	}
	info, _ := st.Info(ctx)
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && seq > 0; seq++ {
		if m, err := st.GetMsg(ctx, seq); err == nil && strings.Contains(string(m.Data), name) {
			return true
		}
	}
	return false
}

// One peer's choice never changes what another receives under a release
// threshold: what sensors saw decides, whatever the routes. hub-9 sees an
// rrset that acme-dns-1 sees too; hub-9 is routed to no one by the file,
// yet its sighting counts, so q receives the rrset before p chooses hub-*
// under k2 as after. (Sightings used to count only from records some
// threshold subscription routed: by the file q received nothing, and p's
// choice released q's records.)
func TestReview20bThresholdSightingsFollowOthersChoices(t *testing.T) {
	b := &bed{t: t, path: t.TempDir() + "/x.yaml", dataDir: t.TempDir()}
	b.p, b.q = newKeys(t)
	b.writeText(thresholdYAML)
	b.x = b.start(loadFile(t, b.path))
	if !seenBy(t, b.x, "q", "before.example", "hub-9", "acme-dns-1") {
		t.Fatal("by the file, q did not receive an rrset two sensors saw: hub-9's sighting, routed to no one, did not count")
	}
	if seenBy(t, b.x, "q", "alone.example", "acme-dns-1") {
		t.Fatal("q received an rrset one sensor saw")
	}
	rep := b.ask(selfservice.Request{Op: selfservice.OpSet, Subscriptions: []selfservice.Subscription{
		{Sensors: []string{"hub-*"}, Policy: "k2"}}})
	if !rep.OK {
		t.Fatal(rep.Err())
	}
	applied(t, b.x, rep.Version)
	if !seenBy(t, b.x, "q", "after.example", "hub-9", "acme-dns-1") {
		t.Fatal("after p's choice, q did not receive an rrset two sensors saw")
	}
	if seenBy(t, b.x, "q", "alone-after.example", "acme-dns-1") {
		t.Fatal("after p's choice, q received an rrset one sensor saw")
	}
}

// twoCeilingsYAML: p and q, of different organisations, both choose.
const twoCeilingsYAML = `
nats: {listen: "127.0.0.1:0"}
switch: {output_encoding: none}
policies:
  strict: {tlp: RED, transforms: {keep_fields: [rrname, rrtype, rdata]}}
sensors:
  - {id: acme-dns-1, organisation: org-a}
peers:
  - id: p
    organisation: org-b
    nkey: %s
    subscriptions: [{sensors: [acme-dns-1], policy: strict}]
    ceiling: {sensors: ["acme-*"], policies: [strict]}
  - id: q
    organisation: org-c
    nkey: %s
    subscriptions: [{sensors: [acme-dns-1], policy: strict}]
    ceiling: {sensors: ["acme-*"], policies: [strict]}
`

// A peer's versions say nothing of another's choices. They were the
// bucket's revision, a sequence shared by every peer's key, so p saw by
// how much it moved between two of its own changes how many changes the
// other peers made meanwhile (and when, by asking often); they now count
// the peer's own changes.
func TestReview20bVersionsCountOthersChanges(t *testing.T) {
	b := &bed{t: t, path: t.TempDir() + "/x.yaml", dataDir: t.TempDir()}
	b.p, b.q = newKeys(t)
	b.writeText(twoCeilingsYAML)
	b.x = b.start(loadFile(t, b.path))
	sub := []selfservice.Subscription{{Sensors: []string{"acme-*"}, Policy: "strict"}}
	v1 := b.ask(selfservice.Request{Op: selfservice.OpSet, Subscriptions: sub}).Version
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	q := b.connect(b.q, "q")
	for range 3 {
		if rep, err := selfservice.Ask(ctx, q, "q", selfservice.Request{Op: selfservice.OpSet, Subscriptions: sub}); err != nil || !rep.OK {
			t.Fatalf("q: %+v %v", rep, err)
		}
	}
	v2 := b.ask(selfservice.Request{Op: selfservice.OpSet, Subscriptions: sub}).Version
	if v2 != v1+1 {
		t.Fatalf("p's versions %d then %d: p sees that %d changes of other peers came between", v1, v2, v2-v1-1)
	}
}
