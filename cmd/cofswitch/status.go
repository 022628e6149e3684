package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/cofswitch/cofswitch/config"
	"github.com/cofswitch/cofswitch/switch/exchange"
	"github.com/cofswitch/cofswitch/switch/statuspage"
)

type statusFlags struct {
	config      string
	json        bool
	silentAfter time.Duration
	nats        natsFlags
}

func statusCommand() *command {
	return &command{
		name:    "status",
		summary: "show whether every sensor feeds and every peer keeps up",
		doc: `Read the exchange's streams and consumers and print, per sensor of the
configuration, its state (ok, silent, no input yet), its input backlog,
when its last batch was stored and its dead letters with the last reasons;
per peer, whose subscriptions are in force (file, or self-service and its
version: see 'cofswitch subscribe'), its TLP labels and policies, what its stream holds, its last
delivery and each consumer's pending and unacked messages; and what waits in COF_HOLD (held
until a bucket ends, or parked while a peer's stream is down). Run it with
the switch's identity (--nkey cofswitch-data/switch.nk on the embedded
server); the servers, credentials and TLS files of the configuration are
used unless flags name others. --json prints the same as JSON. Rates and a peer falling
behind need a history: 'serve --metrics' keeps one on its status page.`,
		flags: func(fs *flag.FlagSet) any {
			f := &statusFlags{}
			fs.StringVar(&f.config, "config", "", "the exchange's configuration `file` (required)")
			fs.BoolVar(&f.json, "json", false, "print JSON")
			fs.DurationVar(&f.silentAfter, "silent-after", statuspage.DefaultSilentAfter, "call a sensor silent when it has sent nothing for this long")
			addNATSFlags(fs, &f.nats, "")
			return f
		},
		run: func(ctx context.Context, io stdio, opts any, args []string) error {
			return runStatus(ctx, io, opts.(*statusFlags), args)
		},
	}
}

func runStatus(ctx context.Context, std stdio, f *statusFlags, args []string) error {
	if len(args) > 0 || f.config == "" {
		return usageErrorf("status takes --config FILE and no arguments")
	}
	cfg, err := config.Load(f.config)
	if err != nil {
		return &exitError{code: exitUsage, msg: err.Error()}
	}
	nc, js, err := f.nats.withConfig(cfg.NATS).connectJS("cofswitch-status")
	if err != nil {
		return err
	}
	defer nc.Close()
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	st, err := exchange.ReadStatus(ctx, js, cfg)
	if err != nil {
		return err
	}
	out := statusReport{Status: st, Sensors: map[string]sensorExtra{}, Peers: map[string]peerExtra{}}
	now := time.Now()
	for _, s := range st.Sensors {
		e := sensorExtra{State: statuspage.SensorState(s, now, f.silentAfter)}
		if s.DeadLetters > 0 {
			e.Reasons = statuspage.LastReasons(ctx, js, s.ID)
		}
		out.Sensors[s.ID] = e
	}
	// The labels and policies in force: the peers' own subscriptions
	// where they chose them.
	eff, _, err := exchange.EffectiveConfig(ctx, js, cfg)
	if err != nil {
		fmt.Fprintf(std.err, "cofswitch: self-service subscriptions unreadable, the file's are shown: %v\n", err)
	}
	for _, p := range st.Peers {
		_, tlp, pols := statuspage.Subscriptions(eff, p.ID)
		out.Peers[p.ID] = peerExtra{TLP: tlp, Policies: pols}
	}
	if f.json {
		enc := json.NewEncoder(std.out)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	writeStatus(std.out, out)
	return nil
}

// statusReport is the exchange's status with what the status page adds:
// each sensor's state and last dead-letter reasons, each peer's labels
// and policies.
type statusReport struct {
	*exchange.Status
	Sensors map[string]sensorExtra `json:"sensor_states"`
	Peers   map[string]peerExtra   `json:"peer_subscriptions"`
}

type sensorExtra struct {
	State   string   `json:"state"`
	Reasons []string `json:"last_reasons,omitempty"`
}

type peerExtra struct {
	TLP      []string `json:"tlp"`
	Policies []string `json:"policies"`
}

func writeStatus(w io.Writer, r statusReport) {
	st := r.Status
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SENSOR\tSTATE\tBACKLOG\tLAST INPUT\tDEAD LETTERS\t")
	for _, s := range st.Sensors {
		e := r.Sensors[s.ID]
		fmt.Fprintf(tw, "%s\t%s\t%d (%s)\t%s\t%d\t%s\n", s.ID, e.State, s.BacklogMessages, statuspage.ByteWords(s.BacklogBytes), ago(s.LastInput), s.DeadLetters, s.Err)
		for _, why := range e.Reasons {
			fmt.Fprintf(tw, "\t\t\t\t  %s\t\n", why)
		}
	}
	fmt.Fprintln(tw, "\t\t\t\t\t")
	fmt.Fprintln(tw, "PEER\tSUBSCRIPTIONS\tTLP\tPOLICY\tSTORED\tLAST DELIVERY\tCONSUMERS (pending/unacked)\t")
	for _, p := range st.Peers {
		e := r.Peers[p.ID]
		cons := ""
		for _, c := range p.Consumers {
			cons += fmt.Sprintf("%s %d/%d ", c.Name, c.Pending, c.AckPending)
		}
		source := p.Source
		if p.SelfVersion > 0 {
			source += fmt.Sprintf(" v%d", p.SelfVersion)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d (%s)\t%s\t%s\t%s\n", p.ID, source, strings.Join(e.TLP, ","), strings.Join(e.Policies, ","),
			p.Messages, statuspage.ByteWords(p.Bytes), ago(p.LastDelivery), cons, p.Err)
	}
	tw.Flush()
	fmt.Fprintf(w, "\nCOF_HOLD: %d messages held until their bucket ends, %d parked for peers whose stream is down\n", st.Held, st.Parked)
}

func ago(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return time.Since(t).Round(time.Second).String() + " ago"
}
