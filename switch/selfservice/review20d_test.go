package selfservice_test

// Review 20d: what deletes or applies a stored selection after the
// holder of an id changes.

import (
	"encoding/json"
	"errors"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nkeys"

	"github.com/cofswitch/cofswitch/config"
	"github.com/cofswitch/cofswitch/routing"
	"github.com/cofswitch/cofswitch/switch/exchange"
	"github.com/cofswitch/cofswitch/switch/selfservice"
)

// TestReview20dLaggingProcessDeletesLiveChoice: several switch processes
// share the bucket, each reloading its own copy of the file. The operator
// hands p to org-c; the first process reloads and stores org-c's choice
// for p (what its responder does); the second, whose file still says p
// is org-b's, finds a choice of "another organisation" and deletes it
// (Store.Forget). p was answered ok, and once every process has the new
// file it runs the file's subscriptions: its choice is gone for good. The
// same happens to the first choice of a peer just added, or just given a
// ceiling, made before every process reloaded (then by a clear before
// this change, by a delete now).
func TestReview20dLaggingProcessDeletesLiveChoice(t *testing.T) {
	// Fixed: a process forgets only choices made before its file was loaded.
	b := newBed(t)
	cfg, err := config.Load(b.path)
	if err != nil {
		t.Fatal(err)
	}
	cfg.NATS.URLs = []string{b.x.URL()}
	cfg.NATS.NKey = filepath.Join(b.dataDir, exchange.SwitchSeedFile)
	lagging, err := exchange.Start(t.Context(), cfg, exchange.Options{NATS: cfg.NATS, DataDir: b.dataDir, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer lagging.Stop()

	b.writeP(orgC) // the first process only
	checkFor(t, "p is org-c's", func() bool { pe, _ := b.x.Config().PeerByID("p"); return pe.Organisation == "org-c" })
	store, err := selfservice.OpenStore(t.Context(), b.x.JetStream())
	if err != nil {
		t.Fatal(err)
	}
	v, err := store.Set(t.Context(), "p", "org-c", acmeWeb, nil)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		if _, ok, err := store.Get(t.Context(), "p"); err == nil && !ok {
			t.Fatalf("org-c's choice for p (version %d), stored by the process that has the new file, was deleted by one whose file is older", v)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestReview20dStaleForgetDeletesNewChoice: Forget is conditional on the
// peer's version, and versions start from 1 again after a Forget. Two
// processes forget the same departed (or handed-over) value; the first
// deletes it; the peer under that id chooses (version 1 again); the
// second process's Forget, conditional on "version 1", deletes the new
// choice.
func TestReview20dStaleForgetDeletesNewChoice(t *testing.T) {
	// Fixed: Forget is conditional on the revision.
	b := newBed(t)
	store, err := selfservice.OpenStore(t.Context(), b.x.JetStream())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.Set(t.Context(), "p", "org-b", acmeWeb, nil); err != nil {
		t.Fatal(err)
	}
	old, _, err := store.Get(t.Context(), "p")
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Forget(t.Context(), "p", old.Revision); err != nil { // the first process
		t.Fatal(err)
	}
	now, err := store.Set(t.Context(), "p", "org-b", acmeWeb, nil) // the peer chooses again
	if err != nil {
		t.Fatal(err)
	}
	err = store.Forget(t.Context(), "p", old.Revision) // the second process, late
	if _, ok, gerr := store.Get(t.Context(), "p"); gerr != nil || !ok {
		t.Errorf("a late Forget of version %d (err %v) deleted the new choice, version %d", old.Version, err, now)
	} else if !errors.Is(err, selfservice.ErrConflict) {
		t.Errorf("a late Forget: %v, want a conflict", err)
	}
}

// TestReview20dLegacyChoiceFollowsTheId: a choice stored before choices
// recorded their organisation (every choice of an exchange upgraded to
// this version) names none, and Effective checks the organisation only
// when the value names one: when the operator later hands the id to
// another organisation, the new holder runs the old holder's choice, as
// its own self-service version (the case 20c fixed for new values).
func TestReview20dLegacyChoiceFollowsTheId(t *testing.T) {
	// Fixed: the exchange stamps such a value with the file's organisation when it first reads it.
	b := newBed(t)
	kv, err := b.x.JetStream().KeyValue(t.Context(), routing.SubscriptionsBucket)
	if err != nil {
		t.Fatal(err)
	}
	legacy, err := json.Marshal(selfservice.Stored{Subscriptions: acmeWeb, At: time.Now().UTC()})
	if err != nil {
		t.Fatal(err)
	}
	rev, err := kv.Put(t.Context(), "p", legacy) // as org-b's p stored it before the upgrade
	if err != nil {
		t.Fatal(err)
	}
	applied(t, b.x, rev)
	b.p, _ = nkeys.CreateUser()
	b.writeP(orgC)
	checkFor(t, "p is org-c's", func() bool { pe, _ := b.x.Config().PeerByID("p"); return pe.Organisation == "org-c" })
	time.Sleep(300 * time.Millisecond)
	pe, _ := b.x.Running().PeerByID("p")
	if len(pe.Subscriptions) != 1 || len(pe.Subscriptions[0].Sensors) != 1 || pe.Subscriptions[0].Sensors[0] != "acme-dns-1" {
		t.Errorf("org-c's p runs %+v, org-b's choice stored before the upgrade, not the file's acme-dns-1", pe.Subscriptions)
	}
	if got := b.ask(selfservice.Request{Op: selfservice.OpGet}); got.Source != selfservice.SourceFile {
		t.Errorf("org-c's p is told its subscriptions are %s, version %d", got.Source, got.Version)
	}
}
