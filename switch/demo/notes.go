package demo

import (
	"bytes"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/cofswitch/cofswitch/cof"
	"github.com/cofswitch/cofswitch/config"
	"github.com/cofswitch/cofswitch/policy"
)

// note is what one peer's policy does to the demo's own records: the
// first it changed, field by field, and how many it withheld, by rule.
type note struct {
	peer, policy string
	held         time.Duration // outputs held to the end of their bucket
	records      int           // the demo records routed to the peer
	example      string        // "www.example.com A" of the first changed
	changes      []policy.Change
	withheld     map[string]int // rule -> records
}

// notes applies each peer's policy to the demo's sample records as the
// switch does: the sensor bound to the record, a spoofed or invalid
// record left to the dead-letter queue, the routing table choosing the
// subscription. It reads nothing back from the bus: the demo knows what
// it sends. Notes come in the order of the configuration's peers.
func notes(cfg *config.Config) ([]*note, error) {
	tab, set, err := cfg.Compile(policy.DefaultEnv())
	if err != nil {
		return nil, err
	}
	byPeer := map[string]*note{}
	batches := Batches()
	for _, sensor := range slices.Sorted(maps.Keys(batches)) {
		for line := range bytes.SplitSeq(bytes.TrimSpace(batches[sensor]), []byte{'\n'}) {
			r, err := cof.Parse(line)
			if err != nil {
				continue
			}
			if r.SensorID == "" {
				r.SensorID = sensor
			}
			if !tab.MayPublishAs(sensor, r.SensorID) {
				continue
			}
			for _, rt := range tab.Routes(r.SensorID) {
				p, ok := set.Lookup(rt.Subscription.Policy)
				if !ok {
					continue
				}
				n := byPeer[rt.Peer]
				if n == nil {
					n = &note{peer: rt.Peer, policy: rt.Subscription.Policy, held: p.Release(), withheld: map[string]int{}}
					byPeer[rt.Peer] = n
				}
				n.add(&r, p.Explain(&r))
			}
		}
	}
	var out []*note
	for _, p := range cfg.Peers {
		if n := byPeer[p.ID]; n != nil {
			out = append(out, n)
		}
	}
	return out, nil
}

// add counts one record's fate.
func (n *note) add(r *cof.Record, e policy.Explanation) {
	n.records++
	switch {
	case !e.Kept:
		n.withheld[e.Rule]++
	case n.example == "" && len(e.Changes) > 0:
		n.example, n.changes = r.RRName+" "+r.RRType.String(), e.Changes
	}
}

// log writes the note as two lines at most: an example of what the
// policy changed (or that it changed nothing), and what it withheld. The
// values are plain text, fit for logfmt.
func (n *note) log(l *slog.Logger) {
	attrs := []any{"peer", n.peer, "policy", n.policy}
	if n.example == "" {
		attrs = append(attrs, "changed", "nothing")
	} else {
		var changed, dropped []string
		for _, c := range n.changes {
			switch {
			case c.Dropped:
				dropped = append(dropped, c.Field)
			case c.Added:
				changed = append(changed, c.Field+" added "+c.After+" ("+c.Transform+")")
			default:
				changed = append(changed, c.Field+" "+c.Before+" -> "+c.After+" ("+c.Transform+")")
			}
		}
		attrs = append(attrs, "record", n.example, "changed", strings.Join(changed, "; "))
		if len(dropped) > 0 {
			attrs = append(attrs, "dropped_fields", strings.Join(dropped, ","))
		}
	}
	if n.held > 0 {
		attrs = append(attrs, "held_until_end_of", n.held.String())
	}
	l.Info("policy example", attrs...)
	total := 0
	for _, c := range n.withheld {
		total += c
	}
	if total == 0 {
		return
	}
	attrs = []any{"peer", n.peer, "policy", n.policy, "records", total, "of", n.records}
	for _, rule := range slices.Sorted(maps.Keys(n.withheld)) {
		attrs = append(attrs, rule, n.withheld[rule])
	}
	l.Info("policy withheld", attrs...)
}
