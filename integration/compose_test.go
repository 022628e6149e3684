package integration

import (
	"archive/tar"
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// compose runs the compose file of the checkout as one project.
type compose struct {
	tool    []string // docker compose, or docker-compose
	project string
	env     []string
}

// composeTool finds the Compose tool: the docker plugin, or the
// standalone docker-compose.
func composeTool(t *testing.T) []string {
	t.Helper()
	if exec.Command("docker", "compose", "version").Run() == nil {
		return []string{"docker", "compose"}
	}
	if exec.Command("docker-compose", "version").Run() == nil {
		return []string{"docker-compose"}
	}
	t.Fatal("a Docker daemon answers but neither 'docker compose' nor 'docker-compose' runs")
	return nil
}

func (c *compose) cmd(stdin io.Reader, args ...string) *exec.Cmd {
	all := append([]string{}, c.tool[1:]...)
	all = append(all, "-p", c.project, "-f", "../docker-compose.yml", "--project-directory", "..")
	cmd := exec.Command(c.tool[0], append(all, args...)...)
	cmd.Env = append(os.Environ(), c.env...)
	cmd.Stdin = stdin
	return cmd
}

// run runs a compose command and fails the test if it fails.
func (c *compose) run(t *testing.T, stdin io.Reader, args ...string) string {
	t.Helper()
	out, err := c.cmd(stdin, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("compose %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// composeZones spreads the test's names over zones of at most 8,000, so
// that one lookup answers a zone whole (the database answers 10,000 at most).
const composeZones = 25

func composeName(i int) string { return fmt.Sprintf("h%d.z%d.compose-test.net", i, i%composeZones) }

func composeRecords(from, to int) []byte {
	var b bytes.Buffer
	for i := from; i < to; i++ {
		fmt.Fprintf(&b, `{"rrname":%q,"rrtype":"A","rdata":"9.%d.%d.%d","time_first":1700000000,"time_last":1700000060,"count":1}`+"\n",
			composeName(i), i>>16&255, i>>8&255, i&255)
	}
	return b.Bytes()
}

// TestCompose brings up docker-compose.yml (three NATS servers, two
// switches, the database; not its continuous sensor), publishes 100,000
// records through a sensor container, checks the database holds them
// through its API, kills one NATS node and one switch, publishes 100,000
// more, restarts them, and checks every record is in the database once
// (each rrset with a count of 1). It builds the images first.
func TestCompose(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the compose file")
	}
	buildImages(t)
	port := freePort(t)
	c := &compose{tool: composeTool(t), project: fmt.Sprintf("cofswitchtest%d", os.Getpid()),
		env: []string{"COFSWITCH_DB_PORT=" + strconv.Itoa(port)}}
	t.Cleanup(func() {
		if t.Failed() {
			out, _ := c.cmd(nil, "logs", "--tail=40").CombinedOutput()
			t.Logf("logs:\n%s", out)
		}
		if out, err := c.cmd(nil, "down", "-v", "--remove-orphans", "-t", "5").CombinedOutput(); err != nil {
			t.Errorf("compose down: %v\n%s", err, out)
		}
	})
	c.run(t, nil, "up", "-d", "--scale", "sensor=0")
	key := c.apiKey(t)
	api := fmt.Sprintf("http://127.0.0.1:%d", port)
	// Ready as the README says to check: the switch's status answers, and
	// the database (which binds the feed the switch made) answers.
	waitFor(t, "the exchange's status", 2*time.Minute, func() bool {
		return c.cmd(nil, "exec", "-T", "switch-1", "/usr/local/bin/cofswitch", "status", "--config", "/cluster/cofswitch.yaml").Run() == nil
	})
	waitFor(t, "the database", 2*time.Minute, func() bool { _, ok := dbNames(t, api, key); return ok })

	const n = 100_000
	c.publish(t, composeRecords(0, n))
	waitDB(t, api, key, n)

	c.run(t, nil, "kill", "nats-2", "switch-1")
	c.publish(t, composeRecords(n, 2*n))
	c.run(t, nil, "start", "nats-2", "switch-1")
	waitDB(t, api, key, 2*n)
	time.Sleep(3 * time.Second) // a duplicate would come now
	if got, _ := dbNames(t, api, key); !exactlyOnceUpTo(t, got, 2*n) {
		t.Error("the database does not hold every record once")
	}
}

// apiKey reads the database's API key that the init step wrote into the
// cluster volume, as the README says to.
func (c *compose) apiKey(t *testing.T) string {
	t.Helper()
	id := strings.TrimSpace(c.run(t, nil, "ps", "-a", "-q", "init"))
	out, err := exec.Command("docker", "cp", id+":/cluster/db-db.api-keys", "-").Output()
	if err != nil {
		t.Fatalf("docker cp the API key: %v", err)
	}
	tr := tar.NewReader(bytes.NewReader(out))
	if _, err := tr.Next(); err != nil {
		t.Fatal(err)
	}
	key, _ := io.ReadAll(tr)
	return strings.TrimSpace(string(key))
}

// publish sends records as the sensor, from a one-off sensor container
// reading them on its standard input.
func (c *compose) publish(t *testing.T, records []byte) {
	t.Helper()
	c.run(t, bytes.NewReader(records), "run", "--rm", "-T", "--no-deps", "sensor", "publish", "--sensor", "gen-1",
		"--nkey", "/cluster/sensor-gen-1.nk", "--nats-url", "nats://nats-1:4222,nats://nats-2:4222,nats://nats-3:4222", "-")
}

// dbNames asks the database for every zone of the test and returns the
// count of each name (summed over its rrsets) and how often it came.
func dbNames(t *testing.T, api, key string) (map[string][2]int, bool) {
	t.Helper()
	names := map[string][2]int{}
	for z := range composeZones {
		url := fmt.Sprintf("%s/dnsdb/v2/lookup/rrset/name/*.z%d.compose-test.net/A?limit=10000", api, z)
		for {
			req, _ := http.NewRequest(http.MethodGet, url, nil)
			req.Header.Set("X-Api-Key", key)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return names, false // not up yet
			}
			if resp.StatusCode == http.StatusTooManyRequests {
				resp.Body.Close()
				time.Sleep(time.Second)
				continue
			}
			sc := bufio.NewScanner(resp.Body)
			sc.Buffer(nil, 1<<20)
			for sc.Scan() {
				var line struct {
					Obj *struct {
						RRName string `json:"rrname"`
						Count  int    `json:"count"`
					} `json:"obj"`
					Cond string `json:"cond"`
				}
				if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
					t.Fatalf("%s: %v: %s", url, err, sc.Bytes())
				}
				if line.Cond == "limited" {
					t.Fatalf("%s: the answer was cut", url)
				}
				if line.Obj != nil {
					v := names[line.Obj.RRName]
					names[line.Obj.RRName] = [2]int{v[0] + line.Obj.Count, v[1] + 1}
				}
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return names, false
			}
			break
		}
	}
	return names, true
}

// waitDB waits until the database holds at least want of the test's names.
func waitDB(t *testing.T, api, key string, want int) {
	t.Helper()
	deadline := time.Now().Add(4 * time.Minute)
	for {
		got, _ := dbNames(t, api, key)
		if len(got) >= want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the database holds %d of %d names after 4 minutes", len(got), want)
		}
		time.Sleep(2 * time.Second)
	}
}

// exactlyOnceUpTo reports whether names [0, to) are there with a count of
// one each, in one rrset each, and nothing else.
func exactlyOnceUpTo(t *testing.T, names map[string][2]int, to int) bool {
	t.Helper()
	missing, more := 0, 0
	for i := range to {
		switch v := names[composeName(i)]; {
		case v == [2]int{}:
			missing++
		case v != [2]int{1, 1}:
			more++
			if more < 4 {
				t.Logf("%s: count %d in %d rrsets", composeName(i), v[0], v[1])
			}
		}
	}
	t.Logf("%d names of %d: %d missing, %d counted more than once", len(names), to, missing, more)
	return missing == 0 && more == 0 && len(names) == to
}
