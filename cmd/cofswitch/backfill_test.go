package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cofswitch/cofswitch/config"
	"github.com/cofswitch/cofswitch/routing"
	"github.com/cofswitch/cofswitch/switch/exchange"
)

const backfillBefore = `
nats: {auth: none, listen: "127.0.0.1:0"}
streams: {archive: {max_age: 1h}}
sensors: [{id: s1}]
peers:
  - {id: early, subscriptions: [{sensors: ["*"], policy: pass, tlp: CLEAR}]}
`

const backfillAfter = backfillBefore + `  - {id: late, subscriptions: [{sensors: [s1], policy: mx, tlp: GREEN}]}
policies:
  mx: {include: {rrtypes: [MX]}}
`

// TestBackfillCommand runs 'cofswitch backfill' against an exchange whose
// archive holds records switched before peer late existed: it delivers
// what late's policy grants, reports its progress on stderr, delivers
// nothing on a second run, and names the peers when given an unknown one.
func TestBackfillCommand(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "c.yaml")
	if err := os.WriteFile(path, []byte(backfillBefore), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	x, err := exchange.Start(ctx, cfg, exchange.Options{Listen: "127.0.0.1:0", DataDir: dir, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer x.Stop()
	nc, err := nats.Connect(x.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	for i := range 4 {
		var body string
		for j := range 10 {
			typ, rdata := "A", "192.0.2.1"
			if j%5 == 0 {
				typ, rdata = "MX", "10 mail.example."
			}
			body += fmt.Sprintf(`{"rrname":"b%d-r%d.example","rrtype":"%s","rdata":["%s"],"time_first":1,"time_last":2}`+"\n", i, j, typ, rdata)
		}
		if _, err := js.Publish(ctx, routing.InSubject("s1"), []byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if s, err := js.Stream(ctx, routing.ArchiveStream); err == nil && s.CachedInfo().State.Msgs == 4 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the archive does not hold the 4 batches")
		}
	}
	if err := os.WriteFile(path, []byte(backfillAfter), 0o600); err != nil {
		t.Fatal(err)
	}
	if !exchange.NewReloader(x, path, cfg.Version).Reload(ctx, "test") {
		t.Fatal("reload rejected")
	}
	args := []string{"backfill", "--config", path, "--data", dir, "--nats-url", x.URL(), "--peer", "late"}
	r := runCLI(t, nil, append(args, "--since", "1d")...)
	if r.code != 0 || !strings.Contains(r.stdout, "backfilled peer late: 8 records in 4 messages from 4 archived batches") ||
		!strings.Contains(r.stderr, "backfill: 8 records") || !strings.Contains(r.stderr, "archive 4 of 4 (100.0%)") {
		t.Fatalf("backfill: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	s, err := js.Stream(ctx, routing.PeerStream("late"))
	if err != nil || s.CachedInfo().State.Msgs != 4 {
		t.Fatalf("late's stream: %v, %v", s, err)
	}
	r = runCLI(t, nil, args...)
	if r.code != 0 || !strings.Contains(r.stdout, ": 0 records in 0 messages from 0 archived batches (4 skipped") {
		t.Fatalf("second backfill: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	// Another data directory has neither serve's secret nor its key: the
	// command refuses rather than make its own, and makes nothing.
	other := t.TempDir()
	r = runCLI(t, nil, "backfill", "--config", path, "--data", other, "--nats-url", x.URL(), "--peer", "late")
	if r.code != exitUsage || !strings.Contains(r.stderr, "point --data at serve's data directory") {
		t.Fatalf("backfill without serve's keys: exit %d, stderr %s", r.code, r.stderr)
	}
	if left, _ := os.ReadDir(other); len(left) != 0 {
		t.Errorf("backfill made %v in a data directory not serve's", left)
	}
	r = runCLI(t, nil, "backfill", "--config", path, "--data", dir, "--nats-url", x.URL(), "--peer", "nobody")
	if r.code != exitUsage || !strings.Contains(r.stderr, `unknown peer "nobody": the configuration's peers are [early late]`) {
		t.Fatalf("unknown peer: exit %d, stderr %s", r.code, r.stderr)
	}
}
