package cluster

import (
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/cofswitch/cofswitch/config"
)

// SwitchSecret is the switch's secret, shared by every switch process: the
// message ids of a batch must not depend on which process switched it, or
// a batch redelivered to another process after a crash would be delivered
// twice.
const SwitchSecret = "switch.secret"

// registry is what the generated cofswitch.yaml names.
type registry struct {
	Options
	switchSeed           string
	sensorKeys, peerKeys []string
}

// writeRegistry writes the registry beside its final place (path+".new"),
// reads it back as 'serve' will, and returns it.
func writeRegistry(r registry, path string) (*config.Config, error) {
	if _, err := writeSecret(filepath.Join(r.Dir, SwitchSecret), 32); err != nil {
		return nil, err
	}
	text := r.render()
	if err := writeFile(path+".new", []byte(text)); err != nil {
		return nil, err
	}
	cfg, err := config.Load(path + ".new")
	if err != nil {
		return nil, fmt.Errorf("cluster: the registry written is refused: %w", err)
	}
	return cfg, nil
}

func (r registry) render() string {
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	urls := make([]string, len(r.Servers))
	for i, s := range r.Servers {
		urls[i] = strconv.Quote("nats://" + net.JoinHostPort(s.Host, strconv.Itoa(s.Client)))
	}
	w("# Written by 'cofswitch cluster-init'. Every switch process reads it; edit\n")
	w("# the sensors, peers and policies as for any exchange (deploy/examples/\n")
	w("# cofswitch.yaml has every key), then run 'cofswitch nats-config' for the\n")
	w("# servers' accounts, or 'cofswitch creds' for a new identity.\n")
	w("nats:\n  urls: [%s]\n  nkey: %s\n", strings.Join(urls, ", "), strconv.Quote(r.switchSeed))
	w("streams:\n  replicas: %d\n", r.Replicas)
	w("switch:\n  secret_file: %s\n", strconv.Quote(filepath.Join(r.Dir, SwitchSecret)))
	// What a partner gets unless the operator says otherwise: nothing
	// internal, addresses truncated, only the draft's fields. No time
	// coarsening, so that deliveries are not held for an hour.
	w(`policies:
  share:
    tlp: AMBER
    exclude:
      zones: [internal-zones]
      rdata_cidrs: [special-purpose]
      embedded_cidrs: [special-purpose]
    transforms:
      truncate_ip: {ipv4: 24, ipv6: 48}
      keep_fields: []
`)
	w("sensors:\n")
	for i, s := range r.Sensors {
		w("  - id: %s\n    organisation: %s\n    nkey: %s\n", strconv.Quote(s.ID), strconv.Quote(s.Organisation), r.sensorKeys[i])
	}
	w("peers:\n")
	for i, p := range r.Peers {
		w("  - id: %s\n    organisation: %s\n    nkey: %s\n", strconv.Quote(p.ID), strconv.Quote(p.Organisation), r.peerKeys[i])
		w("    subscriptions:\n      - sensors: [\"*\"]\n        policy: share\n")
	}
	return b.String()
}
