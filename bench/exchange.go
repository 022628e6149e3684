package bench

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/cofswitch/cofswitch/switch/exchange"
)

// TypicalPolicies are the policies a benchmark peer can be given by name:
// what CSIRT exchanges, research feeds and aggregation hubs ask for. Their
// keys come from the file {{KEY}}, which the benchmark writes. Their
// coarsened outputs are released at once (release: immediate): the
// benchmark measures switching, and would otherwise wait for the hour.
var TypicalPolicies = map[string]string{
	"csirt": csirtPolicy,
	// A research feed: prefix-preserving address encryption, days.
	"research": `
    exclude: {rdata_cidrs: [special-purpose]}
    transforms:
      cryptopan: {key_file: {{KEY}}}
      coarsen_time: 1d
      release: immediate`,
	// An aggregation hub: the common types only, no internal names.
	"hub": `
    include: {rrtypes: [A, AAAA, CNAME, NS, MX]}
    exclude: {zones: [internal-zones]}
    transforms:
      pseudonymise_sensor: {key_file: {{KEY}}}
      drop_fields: [bailiwick]`,
	// The CSIRT partner's policy behind a k-sensor threshold: an rrset
	// reaches it once 3 sensors saw it within 30 days (bench --sensors 3
	// or more; the generator's popular names are seen by every sensor,
	// its long tail by one).
	"threshold": `
    threshold: {min_sensors: 3, window: 30d}` + csirtPolicy,
	// Names hashed below the registered domain, counts bucketed.
	"names": `
    exclude: {zones: [internal-zones], rdata_cidrs: [special-purpose]}
    transforms:
      hash_labels: {key_file: {{KEY}}}
      bucket_count: [1, 10, 100, 1000]`,
}

// csirtPolicy is a CSIRT partner's: no internal names or special-purpose
// addresses, sensors pseudonymised, addresses truncated, times to the
// hour.
const csirtPolicy = `
    exclude: {zones: [internal-zones], rdata_cidrs: [special-purpose]}
    transforms:
      pseudonymise_sensor: {key_file: {{KEY}}}
      truncate_ip: {ipv4: 24, ipv6: 48}
      coarsen_time: 1h
      release: immediate`

// DefaultPolicies is the benchmark's usual mix: 4 peers, one of each.
var DefaultPolicies = []string{"csirt", "research", "hub", "names"}

// PolicyNames lists the names TypicalPolicies knows, plus "pass".
func PolicyNames() []string {
	names := []string{"pass"}
	for n := range TypicalPolicies {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// sensorIDs and peerIDs name the generated exchange's parties.
func sensorIDs(n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("bench-s%d", i+1)
	}
	return ids
}

func peerIDs(n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("bench-p%d", i+1)
	}
	return ids
}

// exchangeSpec is what a benchmark exchange is made of.
type exchangeSpec struct {
	sensors  int
	policies []string // one peer per entry, subscribed to every sensor under that policy
	output   string   // the switch's output encoding; "" = the default
	replicas int      // the streams' replicas; 0 = the default, 1
}

// exchangeYAML writes the configuration of a benchmark exchange into dir,
// with a fresh random policy key (0600), and returns the configuration
// file's path.
func exchangeYAML(dir string, x exchangeSpec) (string, error) {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return "", err
	}
	keyFile := filepath.Join(dir, "policy.key")
	if err := os.WriteFile(keyFile, []byte(hex.EncodeToString(key)+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("bench: %w", err)
	}
	if _, err := exchange.LoadOrCreateSecret(filepath.Join(dir, "switch.secret")); err != nil {
		return "", err
	}
	var b strings.Builder
	// The trace header lets the observers join outputs to inputs; the
	// secret that seals it is the benchmark's own.
	fmt.Fprintf(&b, "switch:\n  trace: true\n  secret_file: %s\n", strconv.Quote(filepath.Join(dir, "switch.secret")))
	if x.output != "" {
		fmt.Fprintf(&b, "  output_encoding: %s\n", x.output)
	}
	fmt.Fprintf(&b, "streams:\n  replicas: %d\n", max(x.replicas, 1))
	// JetStream reserves each input stream's max_bytes on the disk: with
	// many sensors, each gets a share of 16 GiB (at least 4 MiB, the
	// default 64 MiB at most).
	if perSensor := min(64<<20, max(4<<20, (16<<30)/max(x.sensors, 1))); perSensor < 64<<20 {
		fmt.Fprintf(&b, "  in: {max_bytes: %d}\n", perSensor)
	}
	// The streams keep their default limits: a peer stream's 1 GiB holds
	// a minute of the target rate, and older messages go first.
	used := map[string]bool{}
	for _, p := range x.policies {
		if p != "pass" && TypicalPolicies[p] == "" {
			return "", fmt.Errorf("bench: unknown policy %q (known: %s)", p, strings.Join(PolicyNames(), ", "))
		}
		used[p] = true
	}
	if len(used) > 0 && !(len(used) == 1 && used["pass"]) {
		b.WriteString("policies:\n")
		for _, name := range PolicyNames() {
			if used[name] && name != "pass" {
				fmt.Fprintf(&b, "  %s:%s\n", name, strings.ReplaceAll(TypicalPolicies[name], "{{KEY}}", strconv.Quote(keyFile)))
			}
		}
	}
	b.WriteString("sensors:\n")
	for _, id := range sensorIDs(x.sensors) {
		fmt.Fprintf(&b, "  - id: %s\n", id)
	}
	// The peers stand for other organisations than the sensors': each
	// subscription names its policy and a TLP label, as such sharing must.
	b.WriteString("peers:\n")
	for i, id := range peerIDs(len(x.policies)) {
		fmt.Fprintf(&b, "  - {id: %s, subscriptions: [{sensors: [\"*\"], policy: %s, tlp: AMBER}]}\n", id, x.policies[i])
	}
	path := filepath.Join(dir, "exchange.yaml")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		return "", fmt.Errorf("bench: %w", err)
	}
	return path, nil
}
