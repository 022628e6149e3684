package integration

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// natsCLIEnv, set by .ci/run (which installs the nats CLI), turns a
// missing CLI into a failure instead of a skip.
const natsCLIEnv = "COFSWITCH_REQUIRE_NATS_CLI"

func findTool(t *testing.T, env string, names ...string) string {
	t.Helper()
	for _, name := range names {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
		if gopath, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
			p := filepath.Join(strings.TrimSpace(string(gopath)), "bin", name)
			if _, err := os.Stat(p); err == nil {
				return p
			}
		}
	}
	if os.Getenv(env) != "" {
		t.Fatalf("%s not found and %s is set", names[0], env)
	}
	t.Skipf("%s not found (set %s to require it)", names[0], env)
	return ""
}

// TestSensorProtocolWithTheNatsCLI follows docs/sensor-protocol.md with
// the standard nats CLI and zstd only (no Go code of ours sends): a
// compressed batch with its id is stored and reaches the peer, the same
// batch again is a duplicate, an invalid line is dead-lettered and the
// sensor reads it back through its consumer, another sensor's subject is
// refused.
func TestSensorProtocolWithTheNatsCLI(t *testing.T) {
	natsCLI := findTool(t, natsCLIEnv, "nats")
	zstd := findTool(t, natsCLIEnv, "zstd")
	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, "cert.xy"), 0o700) // the seed is written to <dir>/<id>.nk
	seed, pub := makeCreds(t, dir, "sensor", "cert.xy/1")
	listen := freeAddr(t)
	cfg := writeFile(t, "c.yaml", fmt.Sprintf(`nats: {listen: %s}
sensors:
  - {id: cert.xy/1, organisation: org-a, nkey: %s}
peers:
  - {id: hub, organisation: org-a, consumers: [sink], subscriptions: [{sensors: [cert.xy/1]}]}
`, listen, pub))
	data := filepath.Join(dir, "data")
	sw := start(t, "serve", "--config", cfg, "--data", data, "--reload-check", "0")
	waitFor(t, "switch ready", 15*time.Second, func() bool { return contains(sw.output(), "exchange ready") })
	url := "nats://" + listen

	batch := strings.Join([]string{
		`{"rrname":"www.example.com","rrtype":"A","rdata":["192.0.2.1"],"time_first":1700000000,"time_last":1700000060,"count":3}`,
		`{"rrname":"example.com","rrtype":"MX","rdata":["10 mx.example.com"],"time_first":1700000000,"time_last":1700000000}`,
		`{"rrname":"bad.example.com","rrtype":"A","rdata":["192.0.2.300"],"time_first":1700000000,"time_last":1700000000}`,
	}, "\n") + "\n"
	file := writeFile(t, "batch.ndjson", batch)
	sum := sha256.Sum256([]byte(batch))
	id := hex.EncodeToString(sum[:16])
	// Section 2: the id's token; section 1: the inbox prefix.
	const subject, inbox = "cof.in.cert%2Exy%2F1", "_INBOX.s.cert%2Exy%2F1"
	var lastStderr string
	send := func(subject string) (string, error) {
		sh := fmt.Sprintf("%s -q -c %s | %s req --server %s --nkey %s --inbox-prefix %s --header Nats-Msg-Id:%s --header Content-Encoding:zstd --force-stdin --raw --timeout 5s '%s'",
			zstd, file, natsCLI, url, seed, inbox, id, subject)
		var stdout, stderr strings.Builder
		cmd := exec.Command("bash", "-o", "pipefail", "-c", sh)
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		lastStderr = stderr.String()
		return stdout.String(), err
	}

	out, err := send(subject)
	var ack struct {
		Stream    string `json:"stream"`
		Seq       uint64 `json:"seq"`
		Duplicate bool   `json:"duplicate"`
	}
	if err != nil || json.Unmarshal([]byte(strings.TrimSpace(out)), &ack) != nil || ack.Stream != "COF_IN_cert%2Exy%2F1" || ack.Seq != 1 || ack.Duplicate {
		t.Fatalf("first send: %v: %s %s", err, out, lastStderr)
	}
	out, err = send(subject)
	if err != nil || json.Unmarshal([]byte(strings.TrimSpace(out)), &ack) != nil || !ack.Duplicate || ack.Seq != 1 {
		t.Errorf("the same batch again: %v: %s, want a duplicate of seq 1", err, out)
	}

	// The peer receives the two valid records (the operator's view).
	switchSeed := filepath.Join(data, "switch.nk")
	var lines []string
	for deadline := time.Now().Add(15 * time.Second); ; {
		o, e, code := run(t, nil, "tail", "--peer", "hub", "--from-start", "--wait", "500ms", "--nats-url", url, "--nkey", switchSeed)
		if lines = strings.Split(strings.TrimSpace(o), "\n"); code == 0 && len(lines) == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the peer's records: tail exit %d, %q, %s", code, lines, e)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !strings.Contains(lines[0]+lines[1], `"rrname":"www.example.com"`) || !strings.Contains(lines[0]+lines[1], `"10 mx.example.com"`) {
		t.Errorf("peer received %q", lines)
	}

	// Section 7: the sensor reads its dead letter with the CLI.
	dl, err := exec.Command(natsCLI, "consumer", "next", "COF_DLQ", "dlq_cert%2Exy%2F1", "--server", url, "--nkey", seed,
		"--inbox-prefix", inbox, "--js-api-prefix", "JS.EXCHANGE.API", "--raw", "--timeout", "5s").CombinedOutput()
	if err != nil || !strings.Contains(string(dl), `"line":3`) || !strings.Contains(string(dl), `"kind":"bad_rdata"`) || !strings.Contains(string(dl), `192.0.2.300`) {
		t.Errorf("reading the dead letter: %v: %s", err, dl)
	}

	// Another sensor's subject is refused: no ack, and the server says
	// why.
	if out, err := send("cof.in.other"); strings.Contains(out, `"stream"`) || !strings.Contains(lastStderr, "Permissions Violation") {
		t.Errorf("publishing on another sensor's subject: %v: %s %s", err, out, lastStderr)
	}
}
