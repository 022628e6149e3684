package selfservice_test

// Review 20e: which process may delete a stored selection.

import (
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/cofswitch/cofswitch/config"
	"github.com/cofswitch/cofswitch/switch/exchange"
	"github.com/cofswitch/cofswitch/switch/selfservice"
)

// TestReview20eRestartWithStaleFileDeletesLiveChoice: fileAt is when a
// process loaded its file, not how new that file is. In a rolling change
// the operator hands p to org-c; the first process reloads and stores
// org-c's choice for p; a second process then (re)starts while its copy
// of the file still says p is org-b's (a crash, an upgrade, a host reboot
// before its copy is updated). Its fileAt is later than the choice, so it
// deletes the choice made under the newer file, as the lagging process
// of TestReview20dLaggingProcessDeletesLiveChoice did before 16bf576.
func TestReview20eRestartWithStaleFileDeletesLiveChoice(t *testing.T) {
	// Fixed: only a reload deletes choices, those the previous file accepted and the new one does not.
	b := newBed(t)
	stale, err := config.Load(b.path) // p is org-b's in this copy
	if err != nil {
		t.Fatal(err)
	}
	stale.NATS.URLs = []string{b.x.URL()}
	stale.NATS.NKey = filepath.Join(b.dataDir, exchange.SwitchSeedFile)

	b.writeP(orgC) // the first process has the new file
	checkFor(t, "p is org-c's", func() bool { pe, _ := b.x.Config().PeerByID("p"); return pe.Organisation == "org-c" })
	store, err := selfservice.OpenStore(t.Context(), b.x.JetStream())
	if err != nil {
		t.Fatal(err)
	}
	v, err := store.Set(t.Context(), "p", "org-c", acmeWeb, nil)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)

	// The second process starts now, with its copy not updated yet.
	second, err := exchange.Start(t.Context(), stale, exchange.Options{NATS: stale.NATS, DataDir: b.dataDir, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer second.Stop()
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		if _, ok, err := store.Get(t.Context(), "p"); err == nil && !ok {
			t.Fatalf("org-c's choice for p (version %d), stored under the newer file, was deleted by a process that started with an older copy", v)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
