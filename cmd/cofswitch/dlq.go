package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/cofswitch/cofswitch/accounts"
	"github.com/cofswitch/cofswitch/routing"
	"github.com/cofswitch/cofswitch/sensor/deadletters"
)

func dlqCommand() *command {
	list := dlqListCommand()
	return &command{
		name:    "dlq",
		summary: "list, show and purge dead letters, by sensor, kind and time",
		doc: `The dead letters the switch keeps in COF_DLQ: each record it rejected, with
the reason and the original line, and each batch it rejected whole.

Who may see what is the server's to say, by the credentials given: the
operator (the switch's identity, --nkey cofswitch-data/switch.nk on the
embedded server; or no credentials on a server without any) sees every
sensor's and purges; a sensor's organisation, with the sensor's own seed
and --sensor set to that sensor, lists and shows its own and nothing
else: asking for another's is refused by the server, and said so.`,
		subs: []*command{list, dlqShowCommand(), dlqPurgeCommand()},
		dflt: list,
	}
}

// dlqConn are the flags every dlq command shares.
type dlqConn struct {
	sensor, apiPrefix string
	nats              natsFlags
}

// addDLQConnFlags adds --sensor (described by sensorUsage), the NATS
// flags and, unless for the operator alone, --api-prefix.
func addDLQConnFlags(fs *flag.FlagSet, f *dlqConn, sensorUsage string, operator bool) {
	fs.StringVar(&f.sensor, "sensor", "", sensorUsage)
	if !operator {
		fs.StringVar(&f.apiPrefix, "api-prefix", "", "JetStream API `prefix` of a sensor's account (default "+accounts.APIPrefix+" with --sensor and --nkey or --creds)")
	}
	addNATSFlags(fs, &f.nats, defaultURL)
}

// open connects and binds a dead-letter client: as the sensor when
// --sensor and credentials are given and the server answers under the
// prefix, as the operator otherwise (always, with operator set). The
// connection uses the sensor's inbox prefix, the only one its
// permissions allow.
func (f *dlqConn) open(ctx context.Context, operator bool) (*nats.Conn, *deadletters.Client, error) {
	if f.sensor != "" {
		if err := routing.ValidateID("sensor", f.sensor, false); err != nil {
			return nil, nil, usageErrorf("--sensor: %v", err)
		}
	}
	r := &deadletters.Refusals{}
	opts := []nats.Option{nats.ErrorHandler(r.Handler)}
	if f.sensor != "" {
		opts = append(opts, nats.CustomInboxPrefix(accounts.SensorInbox(f.sensor)))
	}
	nc, err := f.nats.connect("cofswitch-dlq", nil, opts...)
	if errors.Is(err, nats.ErrAuthorization) {
		return nil, nil, &exitError{code: exitFailure, msg: err.Error() + ": the exchange does not know these credentials"}
	}
	if err != nil {
		return nil, nil, &exitError{code: exitFailure, msg: err.Error()}
	}
	who := deadletters.Who{Sensor: f.sensor}
	if !operator && f.sensor != "" {
		who.APIPrefix = f.apiPrefix
		if who.APIPrefix == "" && (f.nats.nkey != "" || f.nats.creds != "") {
			who.APIPrefix = accounts.APIPrefix
		}
	}
	c, err := deadletters.Open(ctx, nc, r, who)
	if err != nil {
		nc.Close()
		return nil, nil, &exitError{code: exitFailure, msg: err.Error()}
	}
	return nc, c, nil
}

type dlqListFlags struct {
	conn         dlqConn
	kind         string
	since, until timeFlag
	n            int
	wait         time.Duration
}

func dlqListCommand() *command {
	return &command{
		name:    "list",
		summary: "list dead letters as NDJSON, filtered by sensor, kind and time",
		doc: `Print the dead letters chosen by --sensor, --kind, --since and --until, in
the order stored, one JSON object each: dlq_seq (for 'dlq show'), stored,
sensor, line, kind, field, error, input_seq and the original line (raw,
or raw_base64 when it is not UTF-8); a batch rejected whole has
whole_batch, its kind, error, encoding and size. Read-only: it acks and
takes nothing, so 'dead-letters' still reads all of them.

As the operator it reads COF_DLQ through an ordered consumer of its own;
as a sensor, through the view consumer the switch provisions for it
(filtered to its own dead letters, which it rewinds): two listings of the
same sensor at once make one of them fail, to be run again.`,
		flags: func(fs *flag.FlagSet) any {
			f := &dlqListFlags{}
			addDLQConnFlags(fs, &f.conn, "only this sensor `id`'s dead letters (a sensor's seed: its own id, required)", false)
			fs.StringVar(&f.kind, "kind", "", "only entries of this `kind` (syntax, bad_rdata, sensor_mismatch, ...)")
			fs.Var(&f.since, "since", "only those stored since `TIME`: RFC 3339, or a duration ago (90m, 2h, 7d)")
			fs.Var(&f.until, "until", "only those stored until `TIME`: RFC 3339, or a duration ago")
			fs.IntVar(&f.n, "n", 0, "stop after this many entries (0: no limit)")
			fs.DurationVar(&f.wait, "wait", 2*time.Second, "longest wait for the server's next answer")
			return f
		},
		run: func(ctx context.Context, io stdio, opts any, args []string) error {
			if len(args) > 0 {
				return usageErrorf("dlq list takes no arguments")
			}
			f := opts.(*dlqListFlags)
			nc, c, err := f.conn.open(ctx, false)
			if err != nil {
				return err
			}
			defer nc.Close()
			enc := json.NewEncoder(io.out)
			enc.SetEscapeHTML(false)
			filter := deadletters.Filter{Sensor: f.conn.sensor, Kind: f.kind, Since: f.since.t, Until: f.until.t}
			_, err = c.List(ctx, filter, deadletters.Options{Limit: f.n, Idle: f.wait}, func(e *deadletters.Entry) error { return enc.Encode(e) })
			if err != nil {
				return &exitError{code: exitFailure, msg: err.Error()}
			}
			return nil
		},
	}
}

// timeFlag is a point in time given as RFC 3339 or as a duration ago
// (Go's, or whole days as 7d).
type timeFlag struct {
	t   time.Time
	raw string
}

func (f *timeFlag) String() string { return f.raw }

func (f *timeFlag) Set(s string) error {
	t, err := parseTimeArg(s, time.Now())
	if err != nil {
		return err
	}
	f.t, f.raw = t, s
	return nil
}

// parseTimeArg reads RFC 3339 or a duration before now.
func parseTimeArg(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if days, ok := strings.CutSuffix(s, "d"); ok {
		if n, err := strconv.Atoi(days); err == nil && n >= 0 {
			return now.Add(-time.Duration(n) * 24 * time.Hour), nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return time.Time{}, fmt.Errorf("%q: want RFC 3339 (2026-01-02T15:04:05Z) or a duration ago (90m, 2h, 7d)", s)
	}
	return now.Add(-d), nil
}
