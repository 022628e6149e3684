package main

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"

	"github.com/cofswitch/cofswitch/bus/bustest"
	"github.com/cofswitch/cofswitch/routing"
	"github.com/cofswitch/cofswitch/switch/demo"
	"github.com/cofswitch/cofswitch/switch/exchange"
)

const sensorRecords = `{"rrname":"a.example.com","rrtype":"A","rdata":["151.101.1.69"],"time_first":1700000000,"time_last":1700000000}
{"rrname":"b.example.com","rrtype":"A","rdata":["151.101.1.70"],"time_first":1700000000,"time_last":1700000000}
`

// The end of standard input ends the sensor once what it read is stored,
// without waiting for the window.
func TestSensorStdinEnds(t *testing.T) {
	srv, _, js := bustest.Server(t)
	s, err := js.CreateStream(t.Context(), jetstream.StreamConfig{Name: "IN", Subjects: []string{routing.InSubject("s1")}})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	r := runCLI(t, strings.NewReader(sensorRecords), "sensor", "--nats-url", srv.ClientURL(), "--sensor", "s1",
		"--input", "cof:-", "--window", "1h", "--spool", filepath.Join(t.TempDir(), "spool"))
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if took := time.Since(start); took > 4*time.Second {
		t.Errorf("took %v after the end of its input", took)
	}
	info, err := s.Info(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 1 {
		t.Errorf("stream holds %d batches, want 1; stderr: %s", info.State.Msgs, r.stderr)
	}
}

// A seed the exchange does not know is named as such in the log, not only
// as "exchange out of reach".
func TestSensorUnknownSeed(t *testing.T) {
	cfg, err := demo.Config()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	x, err := exchange.Start(ctx, cfg, exchange.Options{Listen: "127.0.0.1:0", DataDir: t.TempDir(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer x.Stop()
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	seed, _ := kp.Seed()
	seedFile := filepath.Join(t.TempDir(), "s1.nk")
	if err := os.WriteFile(seedFile, seed, 0o600); err != nil {
		t.Fatal(err)
	}
	r := runCLI(t, strings.NewReader(sensorRecords), "sensor", "--nats-url", x.URL(), "--nkey", seedFile,
		"--sensor", "cert-xy-resolver-1", "--input", "cof:-", "--window", "0", "--spool", filepath.Join(t.TempDir(), "spool"))
	if !strings.Contains(r.stderr, "Authorization Violation") || !strings.Contains(r.stderr, "refuses this sensor's credentials") {
		t.Errorf("exit %d, stderr says nothing of the refused seed:\n%s", r.code, r.stderr)
	}
}

// A dnstap-tcp address beyond loopback is refused with the flag that
// accepts it, not the library's option name.
func TestSensorRemoteDnstapNamesTheFlag(t *testing.T) {
	srv, _, _ := bustest.Server(t)
	r := runCLI(t, nil, "sensor", "--nats-url", srv.ClientURL(), "--sensor", "s1",
		"--input", "dnstap-tcp:0.0.0.0:0", "--spool", filepath.Join(t.TempDir(), "spool"))
	if r.code != exitUsage || !strings.Contains(r.stderr, "--dnstap-allow-remote") {
		t.Errorf("exit %d, stderr: %s", r.code, r.stderr)
	}
}
