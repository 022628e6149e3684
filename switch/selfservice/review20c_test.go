package selfservice_test

// Review 20c: self-service selections across a change of the peer behind
// an id.

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/nats-io/nkeys"

	"github.com/cofswitch/cofswitch/switch/exchange"
	"github.com/cofswitch/cofswitch/switch/selfservice"
)

// pBlock is p's entry in exchangeYAML, up to its subscriptions.
const pBlock = "  - id: p\n    organisation: org-b\n    nkey: %s\n    subscriptions: [{sensors: [acme-dns-1], policy: pass, tlp: AMBER}]\n    ceiling: {sensors: [CEILING], policies: [pass, strict]}\n"

// writeP writes the file with p's entry as entry (a format with %s for
// p's nkey, or "" for no p), and p's ceiling acme-*.
func (b *bed) writeP(entry string) {
	b.t.Helper()
	text := strings.Replace(exchangeYAML, pBlock, entry, 1)
	if text == exchangeYAML && entry != pBlock {
		b.t.Fatal("p's entry not found in the text")
	}
	text = strings.Replace(text, "CEILING", `"acme-*"`, 1)
	qp, _ := b.q.PublicKey()
	args := []any{qp}
	if entry != "" {
		pp, _ := b.p.PublicKey()
		args = []any{pp, qp}
	}
	if err := os.WriteFile(b.path, []byte(fmt.Sprintf(text, args...)), 0o600); err != nil {
		b.t.Fatal(err)
	}
	if !exchange.NewReloader(b.x, b.path, "").Reload(b.t.Context(), "test") {
		b.t.Fatal("reload refused")
	}
}

// orgC is p's entry as another organisation's peer.
var orgC = strings.Replace(pBlock, "organisation: org-b", "organisation: org-c", 1)

// TestReview20cClearedChoiceOutlivesItsPeer: a peer that cleared its
// selection, then left the file, leaves its value in the bucket (a
// cleared one is no selection, so the switch never sees a departed peer
// to forget): the peer added later under that id, another organisation
// with another key, gets versions that go on from the departed one's, and
// its first version tells it how many changes the other organisation
// made. Store.Forget says a returning peer starts "its versions from 1",
// the README that it "starts from the file".
func TestReview20cClearedChoiceOutlivesItsPeer(t *testing.T) {
	// Fixed: the watcher keeps cleared values, and Effective has them forgotten when their peer leaves.
	b := newBed(t)
	for range 3 {
		if rep := b.ask(selfservice.Request{Op: selfservice.OpSet, Subscriptions: acmeWeb}); !rep.OK {
			t.Fatal(rep.Err())
		}
	}
	if rep := b.ask(selfservice.Request{Op: selfservice.OpClear}); !rep.OK {
		t.Fatal(rep.Err())
	}
	// p (org-b) leaves the file; later a peer of org-c is added as p,
	// with its own key.
	b.writeP("")
	checkFor(t, "p gone", func() bool { _, ok := b.x.Config().PeerByID("p"); return !ok })
	b.p, _ = nkeys.CreateUser()
	b.writeP(orgC)
	rep := b.ask(selfservice.Request{Op: selfservice.OpSet, Subscriptions: acmeWeb})
	if !rep.OK {
		t.Fatal(rep.Err())
	}
	if rep.Version != 1 {
		t.Fatalf("org-c's first choice as p is version %d: it learns that org-b's p made %d changes", rep.Version, rep.Version-1)
	}
}

// TestReview20cReplacedPeerInheritsTheChoice: the operator gives the id p
// to another organisation in one edit (another organisation, another
// key; the id never leaves the file). The stored selection names neither
// the organisation nor the key that chose it, so the new holder runs the
// old one's choice, as its own self-service version, instead of the
// file's subscriptions: what org-c's p receives is what org-b chose.
func TestReview20cReplacedPeerInheritsTheChoice(t *testing.T) {
	// Fixed: a choice stores its organisation; Effective ignores (and the exchange forgets) one of another.
	b := newBed(t)
	rep := b.ask(selfservice.Request{Op: selfservice.OpSet, Subscriptions: acmeWeb})
	if !rep.OK {
		t.Fatal(rep.Err())
	}
	applied(t, b.x, rep.Version)
	b.p, _ = nkeys.CreateUser()
	b.writeP(orgC)
	checkFor(t, "p is org-c's", func() bool { pe, _ := b.x.Config().PeerByID("p"); return pe.Organisation == "org-c" })
	pe, _ := b.x.Running().PeerByID("p")
	if len(pe.Subscriptions) != 1 || pe.Subscriptions[0].Sensors[0] != "acme-dns-1" {
		t.Errorf("org-c's p runs %+v, org-b's choice, not the file's acme-dns-1", pe.Subscriptions)
	}
	if got := b.ask(selfservice.Request{Op: selfservice.OpGet}); got.Source != selfservice.SourceFile {
		t.Errorf("org-c's p is told its subscriptions are %s, version %d: %+v", got.Source, got.Version, got.Subscriptions)
	}
}

// leakYAML: p (org-b) receives acme-dns-1 by the file under strict, and
// may choose strict or shared; q (org-c), with QSUBS, is another
// organisation's peer. shared has no keep_fields of its own.
const leakYAML = `
nats: {listen: "127.0.0.1:0"}
switch: {output_encoding: none}
policies:
  strict: {tlp: RED, transforms: {keep_fields: [rrname, rrtype, rdata]}}
  shared: {tlp: AMBER}
sensors:
  - {id: acme-dns-1, organisation: org-a}
  - {id: c-dns-1, organisation: org-c}
peers:
  - id: p
    organisation: org-b
    nkey: %s
    subscriptions: [{sensors: [acme-dns-1], policy: strict}]
    ceiling: {sensors: ["acme-*"], policies: [strict, shared]}
  - id: q
    organisation: org-c
    nkey: %s
    subscriptions: [QSUBS]
`

// TestReview20cReplyTellsOthersSubscriptions: whether p may choose a
// policy across organisations depends on whether some subscription of the
// file, another organisation's included, uses it across organisations;
// the reply says so ("no subscription of the file uses it across
// organisations"), and the acceptance of the same request says the
// opposite. p thus learns, for each policy of its ceiling and at every
// reload, whether another organisation's peer receives other
// organisations' records under it (here: q of org-c, under shared), and
// its own stored choice is dropped when q's subscription goes. The README
// says a refusal "names nothing of the registry beyond its request and
// its ceiling".
func TestReview20cReplyTellsOthersSubscriptions(t *testing.T) {
	// Fixed: config.crossOrgReady asks only the policy and this peer's own subscriptions.
	ask := func(qsubs string) selfservice.Reply {
		b := &bed{t: t, path: t.TempDir() + "/x.yaml", dataDir: t.TempDir()}
		b.p, b.q = newKeys(t)
		b.writeText(strings.Replace(leakYAML, "QSUBS", qsubs, 1))
		b.x = b.start(loadFile(t, b.path))
		return b.ask(selfservice.Request{Op: selfservice.OpSet, Subscriptions: []selfservice.Subscription{
			{Sensors: []string{"acme-*"}, Policy: "shared", TLP: "RED"}}})
	}
	withQ := ask(`{sensors: ["acme-*"], policy: shared}`)
	withoutQ := ask(`{sensors: [c-dns-1], policy: shared}`)
	if withQ.OK != withoutQ.OK {
		t.Fatalf("p's same request is answered ok=%v when org-c's q receives acme-* under shared, ok=%v when q does not (%q): p learns q's subscriptions",
			withQ.OK, withoutQ.OK, withoutQ.Error)
	}
}
