package bench

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/cofswitch/cofswitch/cof"
)

// Options configures a benchmark run.
type Options struct {
	Exe      string        // the cofswitch binary; children run "Exe bench switch|forward"
	Dir      string        // scratch space (a directory per phase, removed after it); "" = the system's
	Sensors  int           // sensors publishing at once
	Policies []string      // one peer per entry, subscribed to every sensor under that policy
	Batch    int           // records per input batch
	Encoding cof.Encoding  // input batch compression
	Duration time.Duration // how long the sensors publish, per phase
	Rate     float64       // records/s across the sensors for PhaseRate
	Pool     int           // distinct records generated before the timed window; 0 = enough for the switch phase
	Seed     uint64        // the generator's seed
	Workers  int           // switch workers per process; 0 = the default
	Phases   []string      // which phases run; nil = DefaultPhases
	Profile  string        // if set, the raw, switch, per-record and raw-per-record phases write CPU profiles into this directory: the child's (raw.pprof, switch.pprof, switch-per-record.pprof, raw-per-record.pprof) and this process's (the same with bus, bus-raw...)
	Exchange bool          // the child is the whole exchange, server and switch, as 'cofswitch serve' runs; else the switch alone
	// NATSURL, when set, is an external NATS cluster (comma-separated
	// URLs, no authentication) that every phase runs on instead of a fresh
	// embedded server: the benchmark creates the exchange's streams there
	// and deletes them after each phase. It refuses a cluster that holds
	// an exchange's streams other than a benchmark's own.
	NATSURL string
	// Replicas is the streams' replicas (the configuration's
	// streams.replicas); 0 = 1. Above 1 it needs NATSURL.
	Replicas int
	// Switches lists how many processes under test each round of the
	// phases runs, all on the one durable consumer as several 'serve'
	// processes share it; nil = {1}, today's single child.
	Switches []int
	Log      *slog.Logger // nil discards
	Progress io.Writer    // a line per phase as it ends; nil = none
}

// maxSwitches bounds Options.Switches' counts: children on one machine.
const maxSwitches = 64

// ErrOptions reports unusable options.
var ErrOptions = errors.New("bench: invalid options")

func (o *Options) check() error {
	switch {
	case o.Exe == "":
		return fmt.Errorf("%w: no cofswitch binary to run", ErrOptions)
	case o.Sensors < 1 || o.Sensors > 1000:
		return fmt.Errorf("%w: sensors %d not in 1..1000", ErrOptions, o.Sensors)
	case len(o.Policies) < 1 || len(o.Policies) > 100:
		return fmt.Errorf("%w: %d peers, want 1..100", ErrOptions, len(o.Policies))
	case o.Batch < 1 || o.Batch > cof.DefaultMaxRecords:
		return fmt.Errorf("%w: batch %d not in 1..%d", ErrOptions, o.Batch, cof.DefaultMaxRecords)
	case o.Duration < 100*time.Millisecond:
		return fmt.Errorf("%w: duration %v below 100ms", ErrOptions, o.Duration)
	case o.Pool < 0 || o.Pool > 0 && o.Pool < o.Batch:
		return fmt.Errorf("%w: pool of %d records is smaller than a batch", ErrOptions, o.Pool)
	case o.Rate < 0:
		return fmt.Errorf("%w: negative rate", ErrOptions)
	}
	for _, p := range o.Policies {
		if p != "pass" && TypicalPolicies[p] == "" {
			return fmt.Errorf("%w: unknown policy %q (known: %s)", ErrOptions, p, strings.Join(PolicyNames(), ", "))
		}
	}
	if err := o.checkScaling(); err != nil {
		return err
	}
	if err := o.checkPhases(); err != nil {
		return err
	}
	if o.Pool == 0 {
		// Enough distinct records that the switch phase sends each about
		// once at the goal rate: repeats would flatter the policies'
		// caches.
		o.Pool = min(max(int(o.Duration.Seconds()*goalRecords), 100_000), 8_000_000)
		o.Pool = max(o.Pool/o.Batch, 1) * o.Batch
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return nil
}

// checkScaling checks the cluster, replicas and process counts, and sets
// their defaults.
func (o *Options) checkScaling() error {
	if o.Replicas == 0 {
		o.Replicas = 1
	}
	if o.Switches == nil {
		o.Switches = []int{1}
	}
	one := slices.Equal(o.Switches, []int{1})
	switch {
	case o.Replicas < 1 || o.Replicas > 5:
		return fmt.Errorf("%w: replicas %d not in 1..5", ErrOptions, o.Replicas)
	case o.Replicas > 1 && o.NATSURL == "":
		return fmt.Errorf("%w: %d replicas need a cluster (a NATS URL): the embedded server is one node", ErrOptions, o.Replicas)
	case o.Exchange && o.NATSURL != "":
		return fmt.Errorf("%w: the exchange child runs its own server, not an external cluster's", ErrOptions)
	case len(o.Switches) == 0:
		return fmt.Errorf("%w: no switch counts", ErrOptions)
	case o.Exchange && !one:
		return fmt.Errorf("%w: the exchange child runs its own server: one process only (switches 1)", ErrOptions)
	case o.Profile != "" && !one:
		return fmt.Errorf("%w: profiles are taken with one switch process (switches 1)", ErrOptions)
	}
	for i, n := range o.Switches {
		if n < 1 || n > maxSwitches {
			return fmt.Errorf("%w: switch count %d not in 1..%d", ErrOptions, n, maxSwitches)
		}
		if slices.Contains(o.Switches[:i], n) {
			return fmt.Errorf("%w: switch count %d given twice", ErrOptions, n)
		}
	}
	return nil
}

// checkPhases checks the phases and what they need, and sets their
// default.
func (o *Options) checkPhases() error {
	if o.Phases == nil {
		o.Phases = DefaultPhases
	}
	if len(o.Phases) == 0 {
		return fmt.Errorf("%w: no phases", ErrOptions)
	}
	if o.Rate > 0 && !slices.Contains(o.Phases, PhaseRate) {
		return fmt.Errorf("%w: a rate is for the rate phase, which is not among the phases %v", ErrOptions, o.Phases)
	}
	if o.Profile != "" && !slices.ContainsFunc(o.Phases, func(p string) bool { _, ok := profiled[p]; return ok }) {
		return fmt.Errorf("%w: profiles are taken in the raw, switch, per-record and raw-per-record phases, none of which is among the phases %v", ErrOptions, o.Phases)
	}
	for _, p := range o.Phases {
		switch p {
		case PhaseRaw, PhaseSwitch, PhasePerRecord, PhaseRawPerRecord:
		case PhaseRate:
			if o.Rate == 0 {
				return fmt.Errorf("%w: the rate phase needs a rate", ErrOptions)
			}
		case PhaseHalf:
			if i, j := slices.Index(o.Phases, PhaseSwitch), slices.Index(o.Phases, PhaseHalf); i < 0 || i > j {
				return fmt.Errorf("%w: the half phase needs the switch phase before it", ErrOptions)
			}
		default:
			return fmt.Errorf("%w: unknown phase %q", ErrOptions, p)
		}
	}
	return nil
}
