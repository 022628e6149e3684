package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/cofswitch/cofswitch/accounts"
	"github.com/cofswitch/cofswitch/routing"
	"github.com/cofswitch/cofswitch/switch/selfservice"
)

// subscribeTimeout bounds the request to the switch.
const subscribeTimeout = 10 * time.Second

type subscribeFlags struct {
	peer, sensors, policy, tlp string
	list, clear, json          bool
	expect                     int64
	nats                       natsFlags
}

func subscribeCommand() *command {
	return &command{
		name:    "subscribe",
		summary: "choose a peer's own subscriptions, within its ceiling",
		doc: `Ask the exchange, as the peer itself, to replace the peer's subscriptions
by its own choice: the sensors of --sensors (ids or patterns where '*'
matches any run of bytes), under the policy --policy, labelled --tlp (at
least as restrictive as the policy's label; needed for another
organisation's sensors when the policy has none). The operator's ceiling
(peers[].ceiling in the configuration) bounds the choice: each pattern must
lie within one of its patterns (acme-dns-* within acme-*) and the policy
must be one it lists. A refusal prints the reason and exits 1; nothing
changes then. --list prints the subscriptions in force, whose they are (the
file's or self-service), their version and the ceiling; --clear returns to
the file's subscriptions. --expect-version makes a change conditional on
the version in force (0: the file's), so that two clients cannot undo each
other unseen.

Connect with the peer's own credentials (--nkey or --creds): the exchange
knows the peer by them, and answers only on the peer's own control subject.
Every switch process applies the change within moments, and a reload of
the configuration keeps it, re-checked against the ceiling then in force.`,
		flags: func(fs *flag.FlagSet) any {
			f := &subscribeFlags{}
			fs.StringVar(&f.peer, "peer", "", "the peer `id` (required)")
			fs.StringVar(&f.sensors, "sensors", "", "sensor `patterns`, comma-separated")
			fs.StringVar(&f.policy, "policy", "", "the policy `name`, one the ceiling lists")
			fs.StringVar(&f.tlp, "tlp", "", "TLP `label` (CLEAR, GREEN, AMBER, AMBER+STRICT, RED); default: the policy's")
			fs.BoolVar(&f.list, "list", false, "print the subscriptions in force and the ceiling")
			fs.BoolVar(&f.clear, "clear", false, "return to the configuration file's subscriptions")
			fs.Int64Var(&f.expect, "expect-version", -1, "change only if the `version` in force is this one (0: the file's)")
			fs.BoolVar(&f.json, "json", false, "print the exchange's reply as JSON")
			addNATSFlags(fs, &f.nats, defaultURL)
			return f
		},
		run: func(ctx context.Context, io stdio, opts any, args []string) error {
			if len(args) > 0 {
				return usageErrorf("subscribe takes no arguments")
			}
			return subscribe(ctx, io, opts.(*subscribeFlags))
		},
	}
}

// request builds the request the flags ask for.
func (f *subscribeFlags) request() (selfservice.Request, error) {
	if f.peer == "" {
		return selfservice.Request{}, usageErrorf("--peer is required")
	}
	if err := routing.ValidateID("peer", f.peer, true); err != nil {
		return selfservice.Request{}, usageErrorf("--peer: %v", err)
	}
	change := f.sensors != "" || f.policy != "" || f.tlp != ""
	if f.list && (f.clear || change || f.expect >= 0) || f.clear && change {
		return selfservice.Request{}, usageErrorf("give --list, --clear, or --sensors and --policy")
	}
	var req selfservice.Request
	if f.expect >= 0 {
		v := uint64(f.expect)
		req.ExpectVersion = &v
	}
	switch {
	case f.list:
		req.Op = selfservice.OpGet
	case f.clear:
		req.Op = selfservice.OpClear
	default:
		if f.sensors == "" || f.policy == "" {
			return selfservice.Request{}, usageErrorf("--sensors and --policy are required (or --list, or --clear)")
		}
		var pats []string
		for _, p := range strings.Split(f.sensors, ",") {
			if p = strings.TrimSpace(p); p != "" {
				pats = append(pats, p)
			}
		}
		req.Op = selfservice.OpSet
		req.Subscriptions = []selfservice.Subscription{{Sensors: pats, Policy: f.policy, TLP: f.tlp}}
	}
	return req, nil
}

func subscribe(ctx context.Context, std stdio, f *subscribeFlags) error {
	req, err := f.request()
	if err != nil {
		return err
	}
	nc, err := f.nats.connect("cofswitch-subscribe", nil, nats.CustomInboxPrefix(accounts.PeerInbox(f.peer)))
	if errors.Is(err, nats.ErrAuthorization) {
		return &exitError{code: exitFailure, msg: err.Error() + ": the exchange does not know these credentials; give the peer's own seed (--nkey or --creds)"}
	}
	if err != nil {
		return &exitError{code: exitFailure, msg: err.Error()}
	}
	defer nc.Close()
	ctx, cancel := context.WithTimeout(ctx, subscribeTimeout)
	defer cancel()
	rep, err := selfservice.Ask(ctx, nc, f.peer, req)
	if err != nil {
		return &exitError{code: exitFailure, msg: err.Error()}
	}
	if f.json {
		enc := json.NewEncoder(std.out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
	} else {
		writeSubscriptions(std.out, req.Op, rep)
	}
	if !rep.OK {
		return &exitError{code: exitFailure, msg: fmt.Sprintf("refused (%s): %s", rep.Code, rep.Error)}
	}
	return nil
}

// writeSubscriptions prints a reply for a person.
func writeSubscriptions(w io.Writer, op string, rep selfservice.Reply) {
	if rep.OK {
		switch op {
		case selfservice.OpSet:
			fmt.Fprintf(w, "stored: peer %s's own subscriptions, version %d (every switch applies them within moments)\n", rep.Peer, rep.Version)
		case selfservice.OpClear:
			fmt.Fprintf(w, "cleared: peer %s receives by the configuration file's subscriptions\n", rep.Peer)
		}
	}
	if rep.Source == selfservice.SourceSelf {
		fmt.Fprintf(w, "in force: self-service, version %d\n", rep.Version)
	} else {
		fmt.Fprintf(w, "in force: the configuration file's\n")
	}
	for _, s := range rep.Subscriptions {
		tlp := s.TLP
		if tlp == "" {
			tlp = "(the policy's)"
		}
		fmt.Fprintf(w, "  sensors %s  policy %s  tlp %s\n", strings.Join(s.Sensors, ","), s.Policy, tlp)
	}
	for _, d := range rep.Dropped {
		fmt.Fprintf(w, "  not applied, outside the ceiling now: %s\n", d)
	}
	if rep.Ceiling != nil {
		fmt.Fprintf(w, "ceiling: sensors %s  policies %s\n", strings.Join(rep.Ceiling.Sensors, ","), strings.Join(rep.Ceiling.Policies, ","))
	} else if rep.OK {
		fmt.Fprintf(w, "ceiling: none (the operator sets this peer's subscriptions)\n")
	}
}
