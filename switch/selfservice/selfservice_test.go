package selfservice_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
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

// exchangeYAML: sensors of org-a, peer p of org-b subscribed to acme-dns-1
// by the file and allowed any acme-* sensor under pass or strict; peer q
// without a ceiling. %s are the peers' nkeys; CEILING is p's ceiling's
// sensors.
const exchangeYAML = `
nats: {listen: "127.0.0.1:0"}
switch: {output_encoding: none}
policies:
  strict: {tlp: RED, transforms: {keep_fields: [rrname, rrtype, rdata]}}
sensors:
  - {id: acme-dns-1, organisation: org-a}
  - {id: acme-web-1, organisation: org-a}
peers:
  - id: p
    organisation: org-b
    nkey: %s
    subscriptions: [{sensors: [acme-dns-1], policy: pass, tlp: AMBER}]
    ceiling: {sensors: [CEILING], policies: [pass, strict]}
  - id: q
    organisation: org-b
    nkey: %s
    subscriptions: [{sensors: ["acme-*"], policy: strict}]
`

// bed is a running exchange with nkeys, its configuration file and the
// peers' keys.
type bed struct {
	t       *testing.T
	path    string
	dataDir string
	p, q    nkeys.KeyPair
	x       *exchange.Exchange
}

func newBed(t *testing.T) *bed {
	t.Helper()
	b := &bed{t: t, path: filepath.Join(t.TempDir(), "x.yaml"), dataDir: t.TempDir()}
	b.p, _ = nkeys.CreateUser()
	b.q, _ = nkeys.CreateUser()
	b.x = b.start(b.write(`"acme-*"`))
	return b
}

// write writes the file with p's ceiling of sensors and loads it.
func (b *bed) write(ceiling string, extra ...string) *config.Config {
	b.t.Helper()
	pp, _ := b.p.PublicKey()
	qp, _ := b.q.PublicKey()
	text := strings.Replace(fmt.Sprintf(exchangeYAML, pp, qp), "CEILING", ceiling, 1) + strings.Join(extra, "")
	if err := os.WriteFile(b.path, []byte(text), 0o600); err != nil {
		b.t.Fatal(err)
	}
	c, err := config.Load(b.path)
	if err != nil {
		b.t.Fatal(err)
	}
	return c
}

func (b *bed) start(cfg *config.Config) *exchange.Exchange {
	b.t.Helper()
	x, err := exchange.Start(b.t.Context(), cfg, exchange.Options{NATS: cfg.NATS, DataDir: b.dataDir, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.t.Fatal(err)
	}
	b.t.Cleanup(x.Stop)
	return x
}

// connect connects as a peer, with its own inbox prefix.
func (b *bed) connect(kp nkeys.KeyPair, peer string) *nats.Conn {
	b.t.Helper()
	pub, _ := kp.PublicKey()
	nc, err := nats.Connect(b.x.URL(), nats.Nkey(pub, kp.Sign), nats.CustomInboxPrefix(accounts.PeerInbox(peer)))
	if err != nil {
		b.t.Fatal(err)
	}
	b.t.Cleanup(nc.Close)
	return nc
}

// ask sends req as peer p.
func (b *bed) ask(req selfservice.Request) selfservice.Reply {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.t.Context(), 5*time.Second)
	defer cancel()
	rep, err := selfservice.Ask(ctx, b.connect(b.p, "p"), "p", req)
	if err != nil {
		b.t.Fatal(err)
	}
	return rep
}

// checkFor polls cond until it holds or 10s pass.
func checkFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// applied waits until x applies p's selection at version v.
func applied(t *testing.T, x *exchange.Exchange, v uint64) selfservice.Applied {
	t.Helper()
	checkFor(t, fmt.Sprintf("version %d applied", v), func() bool { return x.Selections()["p"].Version == v })
	return x.Selections()["p"]
}

// delivered publishes one record of each sensor and returns, once every
// input is switched, the sensor_ids that reached p's stream since from.
func delivered(t *testing.T, x *exchange.Exchange, sensors ...string) map[string]bool {
	t.Helper()
	js := x.JetStream()
	ctx := t.Context()
	stream, err := js.Stream(ctx, routing.PeerStream("p"))
	if err != nil {
		t.Fatal(err)
	}
	info, _ := stream.Info(ctx)
	from := info.State.LastSeq
	for _, s := range sensors {
		rec := fmt.Sprintf(`{"rrname":"%s.example","rrtype":"A","rdata":"192.0.2.1","time_first":1,"time_last":2,"sensor_id":%q}`, s, s)
		if _, err := js.Publish(ctx, routing.InSubject(s), []byte(rec)); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range sensors {
		checkFor(t, s+"'s input switched", func() bool {
			in, err := js.Stream(ctx, routing.InStream(s))
			if err != nil {
				return false
			}
			i, err := in.Info(ctx)
			return err == nil && i.State.Msgs == 0
		})
	}
	got := map[string]bool{}
	info, _ = stream.Info(ctx)
	for seq := from + 1; seq <= info.State.LastSeq; seq++ {
		m, err := stream.GetMsg(ctx, seq)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range sensors {
			if strings.Contains(string(m.Data), s+".example") {
				got[s] = true
			}
		}
	}
	return got
}

var acmeWeb = []selfservice.Subscription{{Sensors: []string{"acme-web-*"}, Policy: "strict"}}

// A set within the ceiling applies: records published afterwards reach
// the peer by the new selection, and stop for the sensor it dropped; get
// shows it; clear returns to the file's.
func TestSetWithinCeilingApplies(t *testing.T) {
	b := newBed(t)
	if got := delivered(t, b.x, "acme-dns-1", "acme-web-1"); !got["acme-dns-1"] || got["acme-web-1"] {
		t.Fatalf("by the file: delivered %v, want acme-dns-1 alone", got)
	}
	asked := time.Now()
	rep := b.ask(selfservice.Request{Op: selfservice.OpSet, Subscriptions: acmeWeb})
	if err := rep.Err(); err != nil || rep.Version == 0 || rep.Source != selfservice.SourceSelf {
		t.Fatalf("set: %+v (%v)", rep, err)
	}
	replied := time.Since(asked)
	a := applied(t, b.x, rep.Version)
	t.Logf("set: replied in %v, applied %v after the request", replied, time.Since(asked))
	if len(a.Subscriptions) != 1 || a.Subscriptions[0].Sensors[0] != "acme-web-*" {
		t.Fatalf("applied %+v", a)
	}
	if got := delivered(t, b.x, "acme-dns-1", "acme-web-1"); got["acme-dns-1"] || !got["acme-web-1"] {
		t.Fatalf("by the selection: delivered %v, want acme-web-1 alone", got)
	}
	if p, _ := b.x.Running().PeerByID("p"); len(p.Subscriptions) != 1 || p.Subscriptions[0].Policy != "strict" {
		t.Errorf("Running: p's subscriptions %+v", p.Subscriptions)
	}
	if p, _ := b.x.Config().PeerByID("p"); p.Subscriptions[0].Sensors[0] != "acme-dns-1" {
		t.Errorf("Config (the file's) changed: %+v", p.Subscriptions)
	}
	get := b.ask(selfservice.Request{Op: selfservice.OpGet})
	if !get.OK || get.Version != rep.Version || get.Ceiling == nil || get.Ceiling.Sensors[0] != "acme-*" || get.Subscriptions[0].Policy != "strict" {
		t.Fatalf("get: %+v", get)
	}
	st, err := exchange.ReadStatus(t.Context(), b.x.JetStream(), b.x.Config())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range st.Peers {
		want := map[string]string{"p": selfservice.SourceSelf, "q": selfservice.SourceFile}[p.ID]
		if p.Source != want || (p.ID == "p") != (p.SelfVersion == rep.Version) {
			t.Errorf("status of %s: source %q version %d", p.ID, p.Source, p.SelfVersion)
		}
	}

	clr := b.ask(selfservice.Request{Op: selfservice.OpClear})
	if !clr.OK || clr.Source != selfservice.SourceFile || clr.Version != 0 {
		t.Fatalf("clear: %+v", clr)
	}
	applied(t, b.x, 0)
	if got := delivered(t, b.x, "acme-dns-1", "acme-web-1"); !got["acme-dns-1"] || got["acme-web-1"] {
		t.Fatalf("cleared: delivered %v, want acme-dns-1 alone", got)
	}
}

// Refusals: outside the ceiling (naming the pattern or policy), a weaker
// label, a version conflict, malformed or oversized requests. None
// changes what is stored or applied.
func TestRefusals(t *testing.T) {
	b := newBed(t)
	stale := b.ask(selfservice.Request{Op: selfservice.OpSet, Subscriptions: acmeWeb}).Version
	first := b.ask(selfservice.Request{Op: selfservice.OpSet, Subscriptions: acmeWeb})
	if !first.OK || first.Version <= stale {
		t.Fatalf("set twice: %+v", first)
	}
	applied(t, b.x, first.Version)
	zero := uint64(0)
	tests := []struct {
		name string
		req  string // JSON
		code string
		want string
	}{
		{name: "pattern outside", req: `{"op":"set","subscriptions":[{"sensors":["*"],"policy":"pass","tlp":"RED"}]}`,
			code: selfservice.CodeRefused, want: `sensor pattern "*" is outside the ceiling [acme-*]`},
		{name: "policy outside", req: `{"op":"set","subscriptions":[{"sensors":["acme-web-1"],"policy":"other"}]}`,
			code: selfservice.CodeRefused, want: `policy "other" is not one the ceiling allows [pass, strict]`},
		{name: "another organisation without a label", req: `{"op":"set","subscriptions":[{"sensors":["acme-web-1"],"policy":"pass"}]}`,
			code: selfservice.CodeRefused, want: `sensor "acme-web-1" is not known to be organisation "org-b"'s alone): give it a TLP label`},
		{name: "weaker label", req: `{"op":"set","subscriptions":[{"sensors":["acme-web-1"],"policy":"strict","tlp":"GREEN"}]}`,
			code: selfservice.CodeRefused, want: "less restrictive"},
		{name: "stale version", req: fmt.Sprintf(`{"op":"set","expect_version":%d,"subscriptions":[{"sensors":["acme-dns-1"],"policy":"strict"}]}`, stale),
			code: selfservice.CodeConflict, want: fmt.Sprintf("at version %d", first.Version)},
		{name: "create over a stored one", req: fmt.Sprintf(`{"op":"set","expect_version":%d,"subscriptions":[{"sensors":["acme-dns-1"],"policy":"strict"}]}`, zero),
			code: selfservice.CodeConflict, want: "version conflict"},
		{name: "stale clear", req: fmt.Sprintf(`{"op":"clear","expect_version":%d}`, stale), code: selfservice.CodeConflict, want: "version conflict"},
		{name: "malformed", req: `{"op":"set",`, code: selfservice.CodeBadRequest, want: "malformed request"},
		{name: "unknown field", req: `{"op":"set","ceiling":{"sensors":["*"]}}`, code: selfservice.CodeBadRequest, want: `unknown field "ceiling"`},
		{name: "unknown op", req: `{"op":"widen"}`, code: selfservice.CodeBadRequest, want: `unknown op "widen"`},
		{name: "too large", req: `{"op":"set","subscriptions":[{"sensors":["` + strings.Repeat("a", selfservice.MaxRequestBytes) + `"]}]}`,
			code: selfservice.CodeBadRequest, want: "at most 16384"},
	}
	nc := b.connect(b.p, "p")
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := nc.Request(routing.ControlSubject("p"), []byte(tc.req), 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			var rep selfservice.Reply
			if err := json.Unmarshal(m.Data, &rep); err != nil {
				t.Fatal(err)
			}
			if rep.OK || rep.Code != tc.code || !strings.Contains(rep.Error, tc.want) {
				t.Fatalf("reply %+v, want %s: %q", rep, tc.code, tc.want)
			}
			if rep.Version != first.Version || rep.Source != selfservice.SourceSelf {
				t.Fatalf("the refusal does not show the selection in force: %+v", rep)
			}
		})
	}
	if a := b.x.Selections()["p"]; a.Version != first.Version || a.Subscriptions[0].Sensors[0] != "acme-web-*" {
		t.Fatalf("applied after refusals: %+v", a)
	}
	// The right version goes through.
	v := first.Version
	next := b.ask(selfservice.Request{Op: selfservice.OpSet, ExpectVersion: &v,
		Subscriptions: []selfservice.Subscription{{Sensors: []string{"acme-dns-1"}, Policy: "strict"}}})
	if !next.OK || next.Version <= first.Version {
		t.Fatalf("conditional set at the stored version: %+v", next)
	}
}

// A peer without a ceiling is refused; another peer cannot ask on p's
// control subject (the server refuses the publish), so nothing changes.
func TestOtherIdentities(t *testing.T) {
	b := newBed(t)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	q := b.connect(b.q, "q")
	rep, err := selfservice.Ask(ctx, q, "q", selfservice.Request{Op: selfservice.OpSet, Subscriptions: acmeWeb})
	if err != nil || rep.OK || rep.Code != selfservice.CodeNoCeiling || !strings.Contains(rep.Error, `peer "q" has no ceiling`) {
		t.Fatalf("q without a ceiling: %+v, %v", rep, err)
	}
	short, cancel2 := context.WithTimeout(t.Context(), time.Second)
	defer cancel2()
	if rep, err := selfservice.Ask(short, q, "p", selfservice.Request{Op: selfservice.OpSet, Subscriptions: acmeWeb}); err == nil {
		t.Fatalf("q asked on p's subject and got %+v", rep)
	}
	if got := b.ask(selfservice.Request{Op: selfservice.OpGet}); got.Version != 0 || got.Source != selfservice.SourceFile {
		t.Fatalf("p's selection after q's attempt: %+v", got)
	}
}

// A second switch process (on the same bus) applies a selection set
// through the first, and answers in the same queue group.
func TestSecondProcess(t *testing.T) {
	b := newBed(t)
	cfg, err := config.Load(b.path)
	if err != nil {
		t.Fatal(err)
	}
	cfg.NATS.URLs = []string{b.x.URL()}
	cfg.NATS.NKey = filepath.Join(b.dataDir, exchange.SwitchSeedFile)
	x2, err := exchange.Start(t.Context(), cfg, exchange.Options{NATS: cfg.NATS, DataDir: b.dataDir, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer x2.Stop()
	rep := b.ask(selfservice.Request{Op: selfservice.OpSet, Subscriptions: acmeWeb})
	if !rep.OK {
		t.Fatal(rep.Err())
	}
	applied(t, b.x, rep.Version)
	applied(t, x2, rep.Version)
}

// The selection survives a restart (applied from the start), a reload of
// the file keeps it, and a reload that narrows the ceiling drops what is
// now outside it without widening anything.
func TestRestartAndReload(t *testing.T) {
	b := newBed(t)
	rep := b.ask(selfservice.Request{Op: selfservice.OpSet, Subscriptions: []selfservice.Subscription{
		{Sensors: []string{"acme-web-1"}, Policy: "strict"},
		{Sensors: []string{"acme-dns-*"}, Policy: "pass", TLP: "AMBER"},
	}})
	if !rep.OK {
		t.Fatal(rep.Err())
	}
	applied(t, b.x, rep.Version)
	b.x.Stop()

	b.x = b.start(b.write(`"acme-*"`))
	if a := b.x.Selections()["p"]; a.Version != rep.Version || len(a.Subscriptions) != 2 {
		t.Fatalf("after a restart: %+v", a)
	}
	if got := delivered(t, b.x, "acme-dns-1", "acme-web-1"); !got["acme-dns-1"] || !got["acme-web-1"] {
		t.Fatalf("after a restart: delivered %v, want both", got)
	}

	// A reload of a changed file (a new sensor) keeps the selection.
	r := exchange.NewReloader(b.x, b.path, "")
	b.write(`"acme-*"`, "  - {id: r, organisation: org-b, subscriptions: [{sensors: [acme-web-1], policy: strict}]}\n")
	if !r.Reload(t.Context(), "test") {
		t.Fatal("reload refused")
	}
	if a := b.x.Selections()["p"]; a.Version != rep.Version || len(a.Subscriptions) != 2 || len(a.Dropped) != 0 {
		t.Fatalf("after a reload: %+v", a)
	}
	if got := delivered(t, b.x, "acme-dns-1", "acme-web-1"); !got["acme-dns-1"] || !got["acme-web-1"] {
		t.Fatalf("after a reload: delivered %v, want both", got)
	}

	// A narrower ceiling drops acme-web-1's subscription and keeps the
	// other as it was.
	b.write(`"acme-dns-*"`)
	if !r.Reload(t.Context(), "test") {
		t.Fatal("reload refused")
	}
	a := b.x.Selections()["p"]
	if len(a.Subscriptions) != 1 || a.Subscriptions[0].Sensors[0] != "acme-dns-*" || len(a.Dropped) != 1 || !strings.Contains(a.Dropped[0], `"acme-web-1" is outside`) {
		t.Fatalf("after narrowing: %+v", a)
	}
	if got := delivered(t, b.x, "acme-dns-1", "acme-web-1"); !got["acme-dns-1"] || got["acme-web-1"] {
		t.Fatalf("after narrowing: delivered %v, want acme-dns-1 alone", got)
	}
	if get := b.ask(selfservice.Request{Op: selfservice.OpGet}); len(get.Dropped) != 1 || len(get.Subscriptions) != 1 {
		t.Fatalf("get after narrowing: %+v", get)
	}
}

// A peer's changes are limited: a burst of 10, then one every 6s.
func TestChangesLimited(t *testing.T) {
	b := newBed(t)
	for i := range 11 {
		rep := b.ask(selfservice.Request{Op: selfservice.OpClear})
		if i < 10 && !rep.OK {
			t.Fatalf("change %d refused: %+v", i, rep)
		}
		if i == 10 && (rep.OK || rep.Code != selfservice.CodeTooMany) {
			t.Fatalf("change %d: %+v, want %s", i, rep, selfservice.CodeTooMany)
		}
	}
	if rep := b.ask(selfservice.Request{Op: selfservice.OpGet}); !rep.OK {
		t.Fatalf("get after the limit: %+v", rep)
	}
}

// TestVersionsCountThePeersChanges: a version counts the peer's own
// changes, a clear among them, and is never given twice: an expectation
// read before a clear and later sets cannot match what those sets stored.
func TestVersionsCountThePeersChanges(t *testing.T) {
	b := newBed(t)
	set := func(expect *uint64) selfservice.Reply {
		t.Helper()
		return b.ask(selfservice.Request{Op: selfservice.OpSet, Subscriptions: acmeWeb, ExpectVersion: expect})
	}
	if r1, r2 := set(nil), set(nil); r1.Version != 1 || r2.Version != 2 {
		t.Fatalf("versions %d, %d: want 1, 2", r1.Version, r2.Version)
	}
	if clr := b.ask(selfservice.Request{Op: selfservice.OpClear}); !clr.OK || clr.Version != 0 {
		t.Fatalf("clear: %+v", clr)
	}
	if again := b.ask(selfservice.Request{Op: selfservice.OpClear}); !again.OK || again.Version != 0 {
		t.Fatalf("clearing what is cleared: %+v", again)
	}
	zero := uint64(0)
	r4 := set(&zero)
	if !r4.OK || r4.Version != 4 {
		t.Fatalf("set after a clear, expecting none stored: %+v, want version 4 (the clear was 3)", r4)
	}
	applied(t, b.x, 4)
	stale := uint64(2)
	if r := set(&stale); r.OK || r.Code != selfservice.CodeConflict || !strings.Contains(r.Error, "at version 4") {
		t.Fatalf("a set expecting version 2 after the clear: %+v", r)
	}
	if r := b.ask(selfservice.Request{Op: selfservice.OpClear, ExpectVersion: &zero}); r.OK || r.Code != selfservice.CodeConflict {
		t.Fatalf("a clear expecting none stored while version 4 is: %+v", r)
	}
}
