package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/cofswitch/cofswitch/cof"
	"github.com/cofswitch/cofswitch/routing"
	"github.com/cofswitch/cofswitch/sensor/publish"
)

type publishFlags struct {
	sensor      string
	batch       int
	linger      time.Duration
	compression string
	maxPending  int
	timeout     time.Duration
	retryFor    time.Duration
	nats        natsFlags
}

func publishCommand() *command {
	return &command{
		name:    "publish",
		args:    "[FILE...|-]",
		summary: "publish COF files into the exchange as a sensor",
		doc: `Read COF lines from each FILE (plain, gzip or zstd; standard input when FILE
is - or absent) and publish them as batches on cof.in.<sensor>, as a sensor
does. Lines are sent as they are: the switch validates them and dead-letters
what is invalid. A batch is sent when it holds --batch lines, when it
would pass the server's message size, or --linger after its first line.

Publishing is asynchronous with at most --max-pending batches awaiting
their acks. Each batch's message id is the hash of its lines, judged in
the sensor's own input stream: a batch that fails is retried twice under
the same id, and a file published again within the duplicate window is
stored once; such batches are reported apart ("N batches were already
stored"), never counted as new. The command waits for every ack and exits
1 if any batch was not stored. On a terminal it shows progress.

A line too long for a message (about 1 MB) is skipped, never sent, and
listed as FILE:LINE with its size; the lines after it are sent and the
command exits 1. SIGINT (or --timeout) stops reading at once, waits at most
1.5 s for the acks in flight and reports what was stored, what was not and
where to resume (FILE:LINE); publishing the file again is safe too, as
batches already stored are recognised.

With --nkey (or --creds) every batch is signed with that seed, the
sensor's own (Cofswitch-Signature): the exchange verifies it against the
sensor's registered nkey, and with require_signature refuses what is not
signed.`,
		flags: func(fs *flag.FlagSet) any {
			f := &publishFlags{}
			fs.StringVar(&f.sensor, "sensor", "", "the sensor `id` to publish as (required)")
			fs.IntVar(&f.batch, "batch", 500, "records per batch")
			fs.DurationVar(&f.linger, "linger", 200*time.Millisecond, "longest wait before a partial batch is sent")
			fs.StringVar(&f.compression, "compression", "zstd", "batch compression: zstd, s2 or none")
			fs.IntVar(&f.maxPending, "max-pending", 64, "most batches awaiting their acks")
			fs.DurationVar(&f.timeout, "timeout", 0, "give up after this long, reporting what was stored (0: no limit)")
			fs.DurationVar(&f.retryFor, "retry-for", publish.DefaultRetryFor, "how long a batch is sent again while the servers do not answer (a cluster electing a stream's leader after a server died)")
			addNATSFlags(fs, &f.nats, defaultURL)
			return f
		},
		run: func(ctx context.Context, io stdio, opts any, args []string) error {
			return runPublish(ctx, io, opts.(*publishFlags), args)
		},
	}
}

func runPublish(ctx context.Context, std stdio, f *publishFlags, args []string) error {
	if f.sensor == "" {
		return usageErrorf("--sensor is required")
	}
	if err := routing.ValidateID("sensor", f.sensor, false); err != nil {
		return usageErrorf("--sensor: %v", err)
	}
	enc, err := cof.ParseEncoding(f.compression)
	if f.compression == "none" {
		enc, err = cof.Identity, nil
	}
	if err != nil {
		return usageErrorf("--compression: %v", err)
	}
	if f.batch < 1 || f.batch > cof.DefaultMaxRecords {
		return usageErrorf("--batch %d: want 1..%d", f.batch, cof.DefaultMaxRecords)
	}
	if f.maxPending < 1 {
		return usageErrorf("--max-pending must be positive")
	}
	if f.retryFor < 0 { // 0 (gen --publish, which has no such flag): the default
		return usageErrorf("--retry-for must not be negative")
	}
	if f.timeout < 0 {
		return usageErrorf("--timeout must not be negative")
	}
	if f.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, f.timeout)
		defer cancel()
	}
	if len(args) == 0 {
		args = []string{"-"}
	}
	// A permissions violation ends the run at once rather than after every
	// batch has timed out.
	refusals := &publish.Refusals{}
	key, err := f.nats.signingKey()
	if err != nil {
		return err
	}
	nc, js, err := f.nats.connectJS("cofswitch-publish", publish.ConnectOptions(f.sensor, refusals)...)
	if err != nil {
		return err
	}
	defer nc.Close()
	prog := newProgress(std.err)
	p, err := publish.New(nc, js, publish.Options{
		Sensor: f.sensor, Batch: f.batch, Linger: f.linger, Encoding: enc, MaxPending: f.maxPending,
		Refusals: refusals, Stored: prog.update, Sign: key, RetryFor: f.retryFor,
	})
	if err != nil {
		return usageErrorf("%v", err)
	}
	// Whatever happens (a bad file, Ctrl-C), what was read is sent and
	// every ack awaited before the command reports.
	var inputErr error
	for _, name := range args {
		if inputErr = p.ReadFrom(ctx, name, openInputFile(name, std.in)); inputErr != nil {
			break
		}
		p.Flush() // a partial batch does not wait for the next input
	}
	// Interrupted, the acks in flight get 2 s; otherwise every ack is
	// awaited (each batch has its own timeout and retries): a batch sent
	// again for --retry-for (a cluster electing a stream's leader) is
	// awaited as long, and its last send's own timeout beyond.
	retryFor := f.retryFor
	if retryFor == 0 {
		retryFor = publish.DefaultRetryFor
	}
	drain := retryFor + 30*time.Second
	if ctx.Err() != nil {
		drain = 1500 * time.Millisecond // within 2 s of the interrupt, with the report
	}
	drainCtx, cancel := context.WithTimeout(context.Background(), drain)
	defer cancel()
	// An interrupt (or --timeout) while the acks are awaited shortens the
	// wait the same way.
	stop := context.AfterFunc(ctx, func() { time.AfterFunc(1500*time.Millisecond, cancel) })
	defer stop()
	res := p.Close(drainCtx)
	prog.done()
	return publishOutcome(std, f.sensor, res, inputErr, ctx.Err() != nil)
}

// openInputFile opens name, or reads in for "-".
func openInputFile(name string, in io.Reader) func() (io.ReadCloser, error) {
	if name == "-" {
		return func() (io.ReadCloser, error) { return io.NopCloser(in), nil }
	}
	return func() (io.ReadCloser, error) { return os.Open(name) }
}

// publishOutcome maps a publisher's result to the exit code and message.
func publishOutcome(std stdio, sensor string, res publish.Result, inputErr error, interrupted bool) error {
	summary := fmt.Sprintf("%d records in %d batches stored on %s", res.Records, res.Batches-res.Failed-res.Duplicates, res.Subject)
	if res.Duplicates > 0 {
		// Only this sensor's own batches can be duplicates: its input
		// stream is its own.
		summary += fmt.Sprintf("; %d batches (%d records) were already stored", res.Duplicates, res.DuplicateRecords)
	}
	failures := ""
	if res.Failed > 0 {
		failures = fmt.Sprintf("; %d of %d batches (%d records) were not stored", res.Failed, res.Batches, res.FailedRecords)
		if res.LastError != nil {
			failures += fmt.Sprintf(" (the last: %v)", res.LastError)
		}
	}
	if res.SkippedLines > 0 {
		failures += fmt.Sprintf("; %d lines too long for a message skipped (%s)", res.SkippedLines, skippedWords(res))
	}
	if r := res.Resume.String(); r != "" {
		failures += "; resume from " + r
	}
	switch {
	case res.Refused != nil:
		return &exitError{code: exitFailure, msg: fmt.Sprintf("the server refused: %v (are these sensor %s's credentials?); %s%s", res.Refused, sensor, summary, failures)}
	case interrupted:
		return &exitError{code: exitFailure, msg: "interrupted: " + summary + failures}
	case inputErr != nil:
		return &exitError{code: exitUsage, msg: inputErr.Error() + " (" + summary + failures + ")"}
	case res.Failed > 0 || res.SkippedLines > 0:
		return &exitError{code: exitFailure, msg: summary + failures}
	}
	// Always, terminal or not: a script's log should say what was sent.
	fmt.Fprintln(std.err, "published "+summary)
	return nil
}

// skippedWords lists the skipped lines as FILE:LINE (N bytes).
func skippedWords(res publish.Result) string {
	var parts []string
	for _, s := range res.Skipped {
		parts = append(parts, fmt.Sprintf("%s, %d bytes", s.Position, s.Bytes))
	}
	if res.SkippedLines > len(res.Skipped) {
		parts = append(parts, fmt.Sprintf("and %d more", res.SkippedLines-len(res.Skipped)))
	}
	return strings.Join(parts, "; ")
}

// progress shows records, rate and bytes on a terminal, at most 4 times a
// second, and nothing when stderr is not a terminal.
type progress struct {
	w     io.Writer
	on    bool
	start time.Time
	last  time.Time
}

func newProgress(w io.Writer) *progress {
	return &progress{w: w, on: isTerminal(w), start: time.Now()}
}

func (p *progress) update(records int, bytes int64) {
	if !p.on || time.Since(p.last) < 250*time.Millisecond {
		return
	}
	p.last = time.Now()
	secs := time.Since(p.start).Seconds()
	fmt.Fprintf(p.w, "\r%d records  %.0f records/s  %.1f MB  ", records, float64(records)/secs, float64(bytes)/1e6)
}

func (p *progress) done() {
	if p.on && !p.last.IsZero() {
		fmt.Fprintln(p.w)
	}
}
