package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cofswitch/cofswitch/cof"
	"github.com/cofswitch/cofswitch/ops"
	"github.com/cofswitch/cofswitch/policy"
	"github.com/cofswitch/cofswitch/routing"
	"github.com/cofswitch/cofswitch/sensor/dnstap"
	"github.com/cofswitch/cofswitch/sensor/logformat"
	"github.com/cofswitch/cofswitch/sensor/pipeline"
	"github.com/cofswitch/cofswitch/sensor/publish"
	"github.com/cofswitch/cofswitch/sensor/spool"
)

type sensorFlags struct {
	sensor, spoolDir, filter, metrics string
	inputs                            inputList
	noFilter                          bool
	spoolMax                          int64
	window                            time.Duration
	maxKeys, batch                    int
	compression, passivednsFields     string
	errorResponses                    bool
	authority, additional, clientResp bool
	allowRemote                       bool
	memoryLimit                       int64
	nats                              natsFlags
	log                               logFlags
}

// inputList collects repeated --input flags.
type inputList []pipeline.Input

func (l *inputList) String() string {
	var s []string
	for _, in := range *l {
		s = append(s, in.String())
	}
	return strings.Join(s, " ")
}

func (l *inputList) Set(v string) error {
	in, err := pipeline.ParseInput(v)
	if err != nil {
		return err
	}
	*l = append(*l, in)
	return nil
}

func sensorCommand() *command {
	return &command{
		name:    "sensor",
		summary: "feed the exchange from resolvers (dnstap) and sensor logs",
		doc: `Run at a sensor site with the sensor's own seed: read every --input at once,
turn what it reads into COF records, withhold at the site what must not
leave it (--filter), merge identical observations over --window, and
publish the records as sensor --sensor through an on-disk spool (--spool):
while the exchange is out of reach the batches wait there (up to
--spool-max-bytes, the oldest dropped and counted) and are sent in order,
with the same message ids, once it is back; a restart, even after kill -9,
sends what the spool holds first. Logs are followed like tail -F (rotation,
truncation) and their positions kept in the spool directory, so a restart
neither loses nor repeats lines.

Inputs (--input KIND:SOURCE, as many as needed):
` + pipeline.InputHelp() + `
dnstap: resolver and authoritative responses become one record per RRset
of the answer (--dnstap-authority, --dnstap-additional for those
sections), bailiwick from query_zone, times from the response; a CNAME
chain gives one record per link. Client addresses are never read. Negative
answers (NXDOMAIN, SERVFAIL...) have no COF form: counted, not sent.

The default filter withholds records that name an internal zone or carry
a special-purpose address (also written into names and text), as the
exchange's policies read them. --filter FILE replaces it with a filter
written like one policy of the exchange's configuration (include, exclude,
transforms); --no-filter sends everything.

With --metrics it serves /metrics (observations, withheld, published,
the window's reduction, the spool's backlog and drops), /healthz and
/readyz (connected to the exchange).

With --nkey (or --creds) every batch is signed with that seed when it is
spooled (Cofswitch-Signature); a resend carries the same signature.`,
		flags: func(fs *flag.FlagSet) any {
			f := &sensorFlags{}
			fs.StringVar(&f.sensor, "sensor", "", "the sensor `id` to publish as (required)")
			fs.Var(&f.inputs, "input", "an input `KIND:SOURCE` (repeatable; see above)")
			fs.StringVar(&f.spoolDir, "spool", "", "spool `directory` (default cofswitch-sensor-<id>)")
			fs.Int64Var(&f.spoolMax, "spool-max-bytes", spool.DefaultMaxBytes, "most `bytes` the spool keeps; the oldest batches are dropped past it")
			fs.DurationVar(&f.window, "window", pipeline.DefaultWindow, "aggregation window (0: none)")
			fs.IntVar(&f.maxKeys, "max-keys", 0, "most distinct rrsets the window holds (default 100000)")
			fs.IntVar(&f.batch, "batch", publish.DefaultBatch, "records per batch")
			fs.StringVar(&f.compression, "compression", "zstd", "batch compression: zstd, s2 or none")
			fs.StringVar(&f.filter, "filter", "", "a filter `file` (a policy's include, exclude, transforms) instead of the default")
			fs.BoolVar(&f.noFilter, "no-filter", false, "withhold nothing at the sensor")
			fs.StringVar(&f.passivednsFields, "passivedns-fields", "", "passivedns's -f `letters`, when its log is not in the default layout")
			fs.BoolVar(&f.errorResponses, "error-responses", false, "logs: keep answers of responses whose rcode is not NOERROR")
			fs.BoolVar(&f.authority, "dnstap-authority", false, "dnstap: records of the authority section too")
			fs.BoolVar(&f.additional, "dnstap-additional", false, "dnstap: records of the additional section too")
			fs.BoolVar(&f.clientResp, "dnstap-client-responses", false, "dnstap: CLIENT_RESPONSE and FORWARDER_RESPONSE answers too")
			fs.BoolVar(&f.allowRemote, "dnstap-allow-remote", false, "dnstap-tcp: accept a listen address beyond loopback")
			fs.StringVar(&f.metrics, "metrics", "", "serve Prometheus metrics, /healthz and /readyz on this `address` (e.g. 127.0.0.1:9467); empty: off")
			fs.Int64Var(&f.memoryLimit, "memory-limit", 64<<20, "soft limit of the Go heap in `bytes` (the GC works harder near it; GOMEMLIMIT overrides; 0: none)")
			addNATSFlags(fs, &f.nats, defaultURL)
			addLogFlags(fs, &f.log)
			return f
		},
		run: func(ctx context.Context, io stdio, opts any, args []string) error {
			if len(args) > 0 {
				return usageErrorf("sensor takes no arguments: inputs are --input KIND:SOURCE")
			}
			return runSensor(ctx, io, opts.(*sensorFlags))
		},
	}
}

func (f *sensorFlags) check() (cof.Encoding, error) {
	if f.sensor == "" || len(f.inputs) == 0 {
		return "", usageErrorf("--sensor and at least one --input are required")
	}
	if err := routing.ValidateID("sensor", f.sensor, false); err != nil {
		return "", usageErrorf("--sensor: %v", err)
	}
	if f.filter != "" && f.noFilter {
		return "", usageErrorf("--filter and --no-filter exclude each other")
	}
	if f.compression == "none" {
		return cof.Identity, nil
	}
	enc, err := cof.ParseEncoding(f.compression)
	if err != nil {
		return "", usageErrorf("--compression: %v", err)
	}
	return enc, nil
}

func (f *sensorFlags) pipelineOptions() (pipeline.Options, error) {
	o := pipeline.Options{Inputs: f.inputs, Window: f.window, MaxKeys: f.maxKeys}
	if f.window == 0 {
		o.Window = -1
	}
	var err error
	switch {
	case f.noFilter:
	case f.filter != "":
		o.Filter, err = pipeline.LoadFilter(f.filter)
	default:
		o.Filter, err = pipeline.CompileFilter(pipeline.DefaultFilterSpec())
	}
	if err != nil {
		return o, &exitError{code: exitUsage, msg: err.Error()}
	}
	if f.passivednsFields != "" {
		o.Formats = append(o.Formats, logformat.WithFields(f.passivednsFields))
	}
	if f.errorResponses {
		o.Formats = append(o.Formats, logformat.WithErrorResponses())
	}
	if f.authority {
		o.Dnstap = append(o.Dnstap, dnstap.WithAuthority())
	}
	if f.additional {
		o.Dnstap = append(o.Dnstap, dnstap.WithAdditional())
	}
	if f.clientResp {
		o.Dnstap = append(o.Dnstap, dnstap.WithClientResponses())
	}
	if f.allowRemote {
		o.Dnstap = append(o.Dnstap, dnstap.AllowNonLoopback())
	}
	return o, nil
}

// openSpool opens the sensor's spool (by default a directory named for
// the sensor in the working directory) and returns it with its path.
func (f *sensorFlags) openSpool() (*spool.Spool, string, error) {
	dir := f.spoolDir
	if dir == "" {
		dir = "cofswitch-sensor-" + routing.SensorName(f.sensor)
	}
	sp, err := spool.Open(filepath.Clean(dir), spool.Options{MaxBytes: f.spoolMax, Owner: f.sensor})
	if err != nil {
		return nil, "", &exitError{code: exitUsage, msg: err.Error()}
	}
	return sp, dir, nil
}

// connect connects the sensor for good (it retries a first connection
// that fails). The publisher's handler records refusals in refusals;
// this one also logs what the server refused (an unknown seed, a
// subject not the sensor's), which the spool's "exchange out of reach"
// does not.
func (f *sensorFlags) connect(log *slog.Logger, refusals *publish.Refusals) (*nats.Conn, error) {
	extra := append(publish.ConnectOptions(f.sensor, refusals), nats.RetryOnFailedConnect(true),
		nats.ErrorHandler(func(nc *nats.Conn, sub *nats.Subscription, err error) {
			refusals.Handler(nc, sub, err)
			logNATSError(log, err, f.nats.creds != "")
		}),
		nats.ReconnectErrHandler(onceEach(func(err error) { logNATSError(log, err, f.nats.creds != "") })))
	return f.nats.connect("cofswitch-sensor", log, extra...)
}

func runSensor(ctx context.Context, std stdio, f *sensorFlags) error {
	enc, err := f.check()
	if err != nil {
		return err
	}
	log, err := f.log.logger(std)
	if err != nil {
		return err
	}
	if f.memoryLimit > 0 && os.Getenv("GOMEMLIMIT") == "" {
		// A sensor shares its host with the resolver: keep its heap small
		// rather than let it double between collections.
		debug.SetMemoryLimit(f.memoryLimit)
	}
	po, err := f.pipelineOptions()
	if err != nil {
		return err
	}
	sp, dir, err := f.openSpool()
	if err != nil {
		return err
	}
	defer sp.Close()
	po.StateDir, po.Log, po.Stdin = dir, log, std.in
	key, err := f.nats.signingKey()
	if err != nil {
		return err
	}
	refusals := &publish.Refusals{}
	nc, err := f.connect(log, refusals)
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	pub, err := publish.NewSpooled(nc, js, sp, publish.Options{Sensor: f.sensor, Batch: f.batch, Encoding: enc, Refusals: refusals, Sign: key}, log)
	if err != nil {
		return usageErrorf("%v", err)
	}
	p, err := pipeline.New(po, pub)
	if err != nil {
		return &exitError{code: exitUsage, msg: err.Error()}
	}
	if f.metrics != "" {
		m, err := serveSensorMetrics(f.metrics, log, nc, sp, pipeline.NewCollector(p, pub.Stats))
		if err != nil {
			return err
		}
		defer m.Close()
	}
	sendCtx, stopSending := context.WithCancel(context.WithoutCancel(ctx))
	defer stopSending()
	go pub.Run(sendCtx)
	log.Info("sensor running", "sensor", f.sensor, "inputs", f.inputs.String(), "spool", dir,
		"spooled", sp.Stats().Entries, "filter", filterName(f), "window", f.window)
	runErr := p.Run(ctx)
	// What was read is spooled; give the sender a moment to deliver it.
	closeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	closeErr := pub.Close(closeCtx)
	st, ps := p.Stats(), pub.Stats()
	log.Info("sensor stopped", "observations", st.Observations, "withheld", st.Withheld, "published", st.Published,
		"reduction", fmt.Sprintf("%.2f", st.Reduction()), "stored_batches", ps.Stored, "left_in_spool", ps.Backlog,
		"dropped_batches", ps.Dropped)
	if errors.Is(runErr, dnstap.ErrNotLoopback) {
		return usageErrorf("%v: --dnstap-allow-remote accepts it (dnstap has no authentication: let a firewall choose who connects)", runErr)
	}
	if runErr != nil && ctx.Err() == nil {
		return runErr
	}
	if closeErr != nil && ctx.Err() == nil {
		fmt.Fprintln(std.err, "sensor:", closeErr)
	}
	return nil
}

func filterName(f *sensorFlags) string {
	switch {
	case f.noFilter:
		return "none"
	case f.filter != "":
		return f.filter
	}
	return "default (" + policy.InternalZones + ", " + policy.SpecialPurpose + ")"
}

// serveSensorMetrics serves the sensor's /metrics, /healthz and /readyz
// (ready while connected to the exchange).
func serveSensorMetrics(addr string, log *slog.Logger, nc *nats.Conn, sp *spool.Spool, c *pipeline.Collector) (*ops.Server, error) {
	ready := func(context.Context) error {
		if !nc.IsConnected() {
			return fmt.Errorf("not connected to the exchange (%d batches spooled)", sp.Stats().Entries)
		}
		return nil
	}
	m, err := ops.Serve(addr, log, ready, c)
	if err != nil {
		return nil, &exitError{code: exitUsage, msg: "--metrics: " + err.Error()}
	}
	return m, nil
}

// logNATSError logs an asynchronous error of the sensor's connection, with
// what to do about a refused seed.
func logNATSError(log *slog.Logger, err error, creds bool) {
	if errors.Is(err, nats.ErrAuthorization) {
		log.Error("the exchange refuses this sensor's credentials: "+authHint(creds), "err", err)
		return
	}
	log.Error("NATS error", "err", err)
}

// onceEach calls f with an error unless the previous one had the same
// text: a connection that retries twice a second logs why it fails once,
// and again when the reason changes.
func onceEach(f func(error)) nats.ConnErrHandler {
	var mu sync.Mutex
	last := ""
	return func(_ *nats.Conn, err error) {
		if err == nil {
			return
		}
		mu.Lock()
		same := err.Error() == last
		last = err.Error()
		mu.Unlock()
		if !same {
			f(err)
		}
	}
}
