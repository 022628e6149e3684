package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"

	"github.com/cofswitch/cofswitch/cof"
	"github.com/cofswitch/cofswitch/peers"
	"github.com/cofswitch/cofswitch/routing"
)

type publishFlags struct {
	sensor      string
	batch       int
	linger      time.Duration
	compression string
	maxPending  int
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
their acks. A batch that fails is retried twice with the same message id
(so the stream stores it once). The command waits for every ack and exits
1 if any batch was not stored. On a terminal it shows progress.`,
		flags: func(fs *flag.FlagSet) any {
			f := &publishFlags{}
			fs.StringVar(&f.sensor, "sensor", "", "the sensor `id` to publish as (required)")
			fs.IntVar(&f.batch, "batch", 500, "records per batch")
			fs.DurationVar(&f.linger, "linger", 200*time.Millisecond, "longest wait before a partial batch is sent")
			fs.StringVar(&f.compression, "compression", "zstd", "batch compression: zstd, s2 or none")
			fs.IntVar(&f.maxPending, "max-pending", 64, "most batches awaiting their acks")
			addNATSFlags(fs, &f.nats, defaultURL)
			return f
		},
		run: func(ctx context.Context, io stdio, opts any, args []string) error {
			return publish(ctx, io, opts.(*publishFlags), args)
		},
	}
}

// publisher batches lines and publishes them with bounded pending acks.
type publisher struct {
	js       jetstream.JetStream
	codec    *cof.Codec
	subject  string
	enc      cof.Encoding
	maxBody  int
	maxLines int
	runID    string
	body     []byte
	lines    int
	seq      int
	queue    []*pubItem
	maxQueue int
	records  int
	bytes    int64
	failed   int
	failedN  int
	progress *progress
	denied   *atomic.Value // the server's permissions violation, if any
}

type pubItem struct {
	msg      *nats.Msg
	fut      jetstream.PubAckFuture
	records  int
	attempts int
}

func publish(ctx context.Context, io stdio, f *publishFlags, args []string) error {
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
	if len(args) == 0 {
		args = []string{"-"}
	}
	// The sensor's own inbox prefix: its permissions allow no other. A
	// permissions violation ends the run at once rather than after every
	// batch has timed out.
	var denied atomic.Value
	nc, js, err := f.nats.connectJS("cofswitch-publish", nats.CustomInboxPrefix(peers.SensorInbox(f.sensor)),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			if errors.Is(err, nats.ErrPermissionViolation) {
				denied.CompareAndSwap(nil, err)
			}
		}))
	if err != nil {
		return err
	}
	defer nc.Close()
	codec, err := cof.NewCodec()
	if err != nil {
		return err
	}
	defer codec.Close()
	p := &publisher{
		js: js, codec: codec, subject: routing.InSubject(f.sensor), enc: enc, denied: &denied,
		maxBody: int(nc.MaxPayload()) - 64<<10, maxLines: f.batch, runID: nuid.Next(),
		maxQueue: f.maxPending, progress: newProgress(io.err),
	}
	// Whatever happens (a bad file, Ctrl-C), what was read is sent and
	// every ack awaited before the command reports.
	var inputErr error
	for _, name := range args {
		if inputErr = p.readInput(ctx, io, name, f.linger); inputErr != nil {
			break
		}
		p.flush() // a partial batch does not wait for the next input
	}
	p.flush()
	drainCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p.drain(drainCtx, 0)
	p.progress.done()
	summary := fmt.Sprintf("%d records in %d batches stored on %s", p.records, p.seq-p.failed, p.subject)
	if v := denied.Load(); v != nil {
		return &exitError{code: exitFailure, msg: fmt.Sprintf("the server refused: %v (are these sensor %s's credentials?); %s%s", v, f.sensor, summary, p.failures())}
	}
	switch {
	case inputErr != nil && ctx.Err() != nil:
		return &exitError{code: exitFailure, msg: "interrupted: " + summary + p.failures()}
	case inputErr != nil:
		return &exitError{code: exitUsage, msg: inputErr.Error() + " (" + summary + p.failures() + ")"}
	case p.failed > 0:
		return &exitError{code: exitFailure, msg: fmt.Sprintf("%d of %d batches (%d records) were not stored", p.failed, p.seq, p.failedN)}
	}
	if p.progress.on {
		fmt.Fprintln(io.err, "published "+summary)
	}
	return nil
}

// deniedSoon is closed within 100 ms of a permissions violation, so that
// waits on acks that will never come end early.
func (p *publisher) deniedSoon() <-chan struct{} {
	ch := make(chan struct{})
	go func() {
		for i := 0; i < 100 && p.denied.Load() == nil; i++ {
			time.Sleep(100 * time.Millisecond)
		}
		if p.denied.Load() != nil {
			close(ch)
		}
	}()
	return ch
}

func (p *publisher) failures() string {
	if p.failed == 0 {
		return ""
	}
	return fmt.Sprintf("; %d batches (%d records) not stored", p.failed, p.failedN)
}

// readInput streams one input into batches. A goroutine owns the input
// (opens, reads, closes it) and hands over lines, so that a quiet pipe
// still sees its partial batch sent after --linger, and an interrupt never
// races with the decompressor.
func (p *publisher) readInput(ctx context.Context, std stdio, name string, linger time.Duration) error {
	type item struct {
		line []byte
		err  error
	}
	items := make(chan item, 1024)
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		defer close(items)
		send := func(it item) bool {
			select {
			case items <- it:
				return true
			case <-stop:
				return false
			}
		}
		var src io.Reader = std.in
		if name != "-" {
			fh, err := os.Open(name)
			if err != nil {
				send(item{err: err})
				return
			}
			defer fh.Close()
			src = fh
		}
		dec, closeDec, err := cof.Decompressed(src)
		if err != nil {
			send(item{err: fmt.Errorf("%s: %w", name, err)})
			return
		}
		defer closeDec()
		br := bufio.NewReaderSize(dec, 1<<20)
		for n := 1; ; n++ {
			line, err := br.ReadBytes('\n')
			if len(line) > p.maxBody {
				send(item{err: fmt.Errorf("%s: line %d: %d bytes do not fit in a message", name, n, len(line))})
				return
			}
			if len(line) > 0 && !send(item{line: line}) {
				return
			}
			if err != nil {
				if !errors.Is(err, io.EOF) {
					send(item{err: fmt.Errorf("%s: %w", name, err)})
				}
				return
			}
		}
	}()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		select {
		case it, ok := <-items:
			switch {
			case !ok:
				return nil
			case it.err != nil:
				return it.err
			}
			p.add(it.line)
			if p.lines == 1 {
				timer.Reset(linger)
			}
		case <-timer.C:
			p.flush()
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (p *publisher) add(line []byte) {
	if len(line) > 0 && line[len(line)-1] != '\n' {
		line = append(line, '\n')
	}
	if p.lines > 0 && len(p.body)+len(line) > p.maxBody {
		p.flush()
	}
	p.body = append(p.body, line...)
	p.lines++
	if p.lines >= p.maxLines {
		p.flush()
	}
}

func (p *publisher) flush() {
	if p.lines == 0 {
		return
	}
	data, err := p.codec.Compress(nil, p.body, p.enc)
	if err != nil {
		p.failed++
		p.failedN += p.lines
		return
	}
	p.seq++
	m := nats.NewMsg(p.subject)
	m.Data = data
	m.Header.Set(jetstream.MsgIDHeader, p.runID+":"+strconv.Itoa(p.seq))
	if p.enc != cof.Identity {
		m.Header.Set("Content-Encoding", string(p.enc))
	}
	p.bytes += int64(len(p.body))
	item := &pubItem{msg: m, records: p.lines}
	p.body, p.lines = p.body[:0], 0
	p.drain(context.Background(), p.maxQueue-1)
	p.send(item)
}

func (p *publisher) send(item *pubItem) {
	item.attempts++
	fut, err := p.js.PublishMsgAsync(item.msg)
	if err != nil {
		item.fut = nil
	} else {
		item.fut = fut
	}
	p.queue = append(p.queue, item)
}

// drain waits for the oldest acks until at most keep remain pending.
func (p *publisher) drain(ctx context.Context, keep int) {
	for len(p.queue) > keep {
		item := p.queue[0]
		p.queue = p.queue[1:]
		var err error
		if v := p.denied.Load(); v != nil {
			err = v.(error)
		} else if item.fut == nil {
			err = errors.New("not sent")
		} else {
			select {
			case <-item.fut.Ok():
			case err = <-item.fut.Err():
			case <-time.After(10 * time.Second):
				err = context.DeadlineExceeded
			case <-p.deniedSoon():
				err = p.denied.Load().(error)
			case <-ctx.Done():
				err = ctx.Err()
			}
		}
		switch {
		case err == nil:
			p.records += item.records
			p.progress.update(p.records, p.bytes)
		case item.attempts < 3 && ctx.Err() == nil && p.denied.Load() == nil:
			time.Sleep(time.Duration(item.attempts) * 250 * time.Millisecond)
			p.send(item) // same message id: stored at most once
		default:
			p.failed++
			p.failedN += item.records
		}
	}
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
