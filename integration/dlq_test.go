package integration

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/cofswitch/cofswitch/accounts"
)

// dlqExchange runs 'serve' with an embedded server and two sensors with
// seeds, each of which published two invalid records (one letter each).
// It returns the URL and the seed files of s1, s2 and the switch.
func dlqExchange(t *testing.T) (url, s1Seed, s2Seed, switchSeed string) {
	t.Helper()
	dir := t.TempDir()
	s1Seed, s1Pub := makeCreds(t, dir, "sensor", "s1")
	s2Seed, s2Pub := makeCreds(t, dir, "sensor", "s2")
	listen := freeAddr(t)
	cfg := writeFile(t, "c.yaml", fmt.Sprintf(`nats:
  listen: %s
sensors:
  - {id: s1, organisation: org-a, nkey: %s}
  - {id: s2, organisation: org-b, nkey: %s}
peers:
  - {id: p, organisation: org-c, subscriptions: [{sensors: ["*"], policy: pass, tlp: CLEAR}]}
`, listen, s1Pub, s2Pub))
	sw := start(t, "serve", "--config", cfg, "--data", filepath.Join(dir, "data"), "--reload-check", "0")
	waitFor(t, "switch ready", 15*time.Second, func() bool { return contains(sw.output(), "exchange ready") })
	url = "nats://" + listen
	for s, seed := range map[string]string{"s1": s1Seed, "s2": s2Seed} {
		body := "not json from " + s + "\n" + `{"rrname":"x.example","rrtype":"A","rdata":"192.0.2.300","time_first":1,"time_last":2}` + "\n"
		if _, stderr, code := run(t, []byte(body), "publish", "--sensor", s, "--nats-url", url, "--nkey", seed); code != 0 {
			t.Fatalf("publish as %s: %s", s, stderr)
		}
	}
	switchSeed = filepath.Join(dir, "data", "switch.nk")
	waitFor(t, "both letters", 15*time.Second, func() bool {
		out, _, _ := run(t, nil, "dlq", "list", "--nats-url", url, "--nkey", switchSeed)
		return strings.Count(out, "\n") == 4
	})
	return url, s1Seed, s2Seed, switchSeed
}

// TestDLQBySensorSeed: with its own seed a sensor lists and shows its own
// dead letters only; asking for another's, or for everyone's, is refused
// by the server with a clear error, not an empty list.
func TestDLQBySensorSeed(t *testing.T) {
	url, s1Seed, _, switchSeed := dlqExchange(t)
	out, stderr, code := run(t, nil, "dlq", "list", "--sensor", "s1", "--nats-url", url, "--nkey", s1Seed)
	if code != 0 || strings.Count(out, "\n") != 2 || !contains(out, `"raw":"not json from s1"`) || contains(out, "s2") {
		t.Fatalf("s1 lists its own: exit %d, %q, %s", code, out, stderr)
	}
	out, _, _ = run(t, nil, "dlq", "--sensor", "s1", "--kind", "bad_rdata", "--since", "1h", "--nats-url", url, "--nkey", s1Seed)
	var e struct {
		Seq  uint64 `json:"dlq_seq"`
		Kind string `json:"kind"`
	}
	if err := json.Unmarshal([]byte(out), &e); err != nil || e.Kind != "bad_rdata" || strings.Count(out, "\n") != 1 {
		t.Fatalf("s1 lists its bad_rdata: %q (%v)", out, err)
	}
	seq := strconv.FormatUint(e.Seq, 10)
	out, stderr, code = run(t, nil, "dlq", "show", "--sensor", "s1", "--nats-url", url, "--nkey", s1Seed, seq)
	if code != 0 || !contains(out, "dead letter "+seq+" of sensor s1") || !contains(out, "bad_rdata (field rdata)") ||
		!contains(out, `raw: {"rrname":"x.example","rrtype":"A","rdata":"192.0.2.300"`) || !contains(out, "line 1, syntax") {
		t.Errorf("s1 shows its letter: exit %d\n%s%s", code, out, stderr)
	}
	// The operator's list names s2's letter, which s1 cannot show.
	all, _, _ := run(t, nil, "dlq", "list", "--sensor", "s2", "--nats-url", url, "--nkey", switchSeed)
	if err := json.Unmarshal([]byte(strings.SplitN(all, "\n", 2)[0]), &e); err != nil {
		t.Fatal(err)
	}
	s2Seq := strconv.FormatUint(e.Seq, 10)
	for _, tt := range []struct {
		name      string
		cmd, args []string
		want      string
	}{
		{name: "list another sensor's", cmd: []string{"dlq", "list", "--sensor", "s2"}, want: "permission denied"},
		{name: "list every sensor's", cmd: []string{"dlq", "list"}, want: "permission denied"},
		{name: "show another sensor's as itself", cmd: []string{"dlq", "show", "--sensor", "s1"}, args: []string{s2Seq}, want: "no such dead letter"},
		{name: "show another sensor's", cmd: []string{"dlq", "show", "--sensor", "s2"}, args: []string{s2Seq}, want: "permission denied"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			args := append(append(tt.cmd, "--nats-url", url, "--nkey", s1Seed), tt.args...)
			out, stderr, code := run(t, nil, args...)
			if code != 1 || out != "" || !contains(stderr, tt.want) || contains(stderr+out, "not json from s2") {
				t.Errorf("exit %d, %q, %s", code, out, stderr)
			}
		})
	}
}

// TestDLQPurge: a sensor's seed cannot purge, through the command or the
// API itself; the operator purges by kind, after --yes, and says how many.
func TestDLQPurge(t *testing.T) {
	url, s1Seed, _, switchSeed := dlqExchange(t)
	count := func() int {
		out, _, _ := run(t, nil, "dlq", "list", "--nats-url", url, "--nkey", switchSeed)
		return strings.Count(out, "\n")
	}
	out, stderr, code := run(t, nil, "dlq", "purge", "--sensor", "s1", "--yes", "--nats-url", url, "--nkey", s1Seed)
	if code != 1 || !contains(stderr, "permission denied") || !contains(stderr, "Permissions Violation") {
		t.Errorf("a sensor purging: exit %d, %q, %s", code, out, stderr)
	}
	// The API itself, as the sensor: under its prefix and its account's own.
	kp := seedKey(t, s1Seed)
	pub, _ := kp.PublicKey()
	refused := make(chan error, 8)
	nc, err := nats.Connect(url, nats.Nkey(pub, kp.Sign), nats.CustomInboxPrefix(accounts.SensorInbox("s1")),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { refused <- err }))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	for _, subj := range []string{accounts.APIPrefix + ".STREAM.PURGE.COF_DLQ", "$JS.API.STREAM.PURGE.COF_DLQ", accounts.APIPrefix + ".STREAM.MSG.DELETE.COF_DLQ"} {
		if _, err := nc.Request(subj, []byte(`{"filter":"cof.dlq.s1","seq":1}`), 500*time.Millisecond); err == nil {
			t.Errorf("%s answered the sensor", subj)
		}
		select {
		case err := <-refused:
			if !contains(err.Error(), "Permissions Violation for Publish to \""+subj) {
				t.Errorf("%s: %v", subj, err)
			}
		case <-time.After(3 * time.Second):
			t.Errorf("%s: no refusal", subj)
		}
	}
	if n := count(); n != 4 {
		t.Fatalf("after the sensor's attempts %d entries are left, want 4", n)
	}
	if _, stderr, code := run(t, nil, "dlq", "purge", "--sensor", "s1", "--nats-url", url, "--nkey", switchSeed); code != 2 || !contains(stderr, "--yes") {
		t.Errorf("purge without --yes off a terminal: exit %d, %s", code, stderr)
	}
	out, stderr, code = run(t, nil, "dlq", "purge", "--sensor", "s1", "--kind", "syntax", "--yes", "--nats-url", url, "--nkey", switchSeed)
	if code != 0 || !contains(out, "nothing to purge") || !contains(out, "kept 1 letters that also hold entries of other kinds") {
		t.Errorf("purge of a mixed letter by kind: exit %d, %q, %s", code, out, stderr)
	}
	out, stderr, code = run(t, nil, "dlq", "purge", "--sensor", "s1", "--until", time.Now().Format(time.RFC3339), "--yes", "--nats-url", url, "--nkey", switchSeed)
	if code != 0 || !contains(out, "purged 1 letters (2 entries) of the dead letters of sensor s1") {
		t.Errorf("operator purge: exit %d, %q, %s", code, out, stderr)
	}
	if n := count(); n != 2 {
		t.Errorf("%d entries left, want s2's 2", n)
	}
}
