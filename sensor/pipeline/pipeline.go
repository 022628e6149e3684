// Package pipeline is what 'cofswitch sensor' runs at a sensor site:
// inputs (dnstap from resolvers, the logs of passivedns, Suricata, Zeek
// and others, COF files) turned into COF records, filtered before
// anything leaves the site (the policy package's filters: internal zones
// and special-purpose addresses by default), aggregated over a window,
// and published through an on-disk spool.
//
// Positions in followed logs are saved only once the records of the lines
// before them are in the spool, so that a restart neither loses nor
// repeats lines (but for the lines of one window read again after a crash
// between the spool's write and the positions' save).
package pipeline

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cofswitch/cofswitch/cof"
	"github.com/cofswitch/cofswitch/policy"
	"github.com/cofswitch/cofswitch/sensor/aggregate"
	"github.com/cofswitch/cofswitch/sensor/dnstap"
	"github.com/cofswitch/cofswitch/sensor/follow"
	"github.com/cofswitch/cofswitch/sensor/logformat"
)

// DefaultWindow is the aggregation window.
const DefaultWindow = 60 * time.Second

// Publisher takes COF lines: a *publish.Spooled.
type Publisher interface {
	Add(line []byte) error
	Flush() error
}

// Options configure a Pipeline.
type Options struct {
	Inputs []Input
	// Filter withholds records before they leave the site (nil: none).
	Filter policy.Policy
	// Window aggregates identical observations (0: DefaultWindow; < 0:
	// none, records are published as they come, flushed every second).
	Window time.Duration
	// MaxKeys bounds the aggregation window's distinct rrsets.
	MaxKeys int
	// StateDir keeps the positions of followed logs (positions.json).
	StateDir string
	// Formats are options for the log parsers (passivedns fields...).
	Formats []logformat.Option
	// Dnstap are options for the dnstap inputs and conversion; their
	// counts go to DnstapStats (made by New when nil).
	Dnstap      []dnstap.Option
	DnstapStats *dnstap.Stats
	// Stdin is what an input "-" reads (nil: os.Stdin).
	Stdin io.Reader
	Log   *slog.Logger
}

// Stats count a pipeline's work.
type Stats struct {
	Observations, Withheld, Published int64
	// LineErrors are log lines no parser could read.
	LineErrors int64
}

// Reduction is observations kept per published record: what the
// aggregation window saved (1: nothing).
func (s Stats) Reduction() float64 {
	if s.Published == 0 {
		return 0
	}
	return float64(s.Observations-s.Withheld) / float64(s.Published)
}

// Pipeline runs the inputs into a publisher.
type Pipeline struct {
	o   Options
	pub Publisher
	log *slog.Logger

	obs chan batch
	agg *aggregate.Aggregator
	// out holds the lines of the records to publish at the next flush;
	// a flush hands them, with the positions they cover, to the spooling
	// worker, so that reading never waits for the disk.
	out  []byte
	jobs chan job
	// workErr is the spooling worker's first error: the loop stops on it.
	workErr atomic.Pointer[error]
	saved   map[string]follow.Position
	// positions are those of the lines whose records were handled, by
	// path; saved once those records are spooled.
	positions map[string]follow.Position

	observations, withheld, published, lineErrors atomic.Int64
}

// job is one flush for the spooling worker: lines, and the positions of
// the log lines they came from, saved once the lines are spooled.
type job struct {
	lines     []byte
	positions []follow.Position
}

// batch is what an input hands the pipeline: the records of one line or
// one dnstap message, and for a followed log the position after it.
type batch struct {
	recs []cof.Record
	pos  *follow.Position
}

// New checks the inputs and makes a pipeline publishing to pub.
func New(o Options, pub Publisher) (*Pipeline, error) {
	if len(o.Inputs) == 0 {
		return nil, fmt.Errorf("%w: no input", ErrBadInput)
	}
	if o.Window == 0 {
		o.Window = DefaultWindow
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.DnstapStats == nil {
		o.DnstapStats = &dnstap.Stats{}
	}
	o.Dnstap = append(o.Dnstap[:len(o.Dnstap):len(o.Dnstap)], dnstap.WithStats(o.DnstapStats), dnstap.WithLogger(o.Log))
	p := &Pipeline{o: o, pub: pub, log: o.Log, obs: make(chan batch, 1024), positions: map[string]follow.Position{},
		jobs: make(chan job, 1)}
	if o.Window > 0 {
		opts := []aggregate.Option{aggregate.WithWindow(o.Window)}
		if o.MaxKeys > 0 {
			opts = append(opts, aggregate.WithMaxKeys(o.MaxKeys))
		}
		agg, err := aggregate.New(p.publish, opts...)
		if err != nil {
			return nil, err
		}
		p.agg = agg
	}
	saved, err := follow.LoadPositions(p.positionsFile())
	if err != nil {
		return nil, err
	}
	p.saved = saved
	p.o.Inputs = slices.Clone(o.Inputs)
	for i, in := range p.o.Inputs {
		k, ok := lookupKind(in.Kind)
		if !ok {
			return nil, fmt.Errorf("%w: %s", ErrBadInput, in)
		}
		if k.dnstap {
			continue
		}
		if _, err := logformat.ByName(in.Kind, o.Formats...); err != nil {
			return nil, fmt.Errorf("input %s: %w", in, err)
		}
		if in.Source != "-" {
			// Positions are kept by absolute path, so that a sensor
			// started from another directory resumes the same logs.
			abs, err := filepath.Abs(in.Source)
			if err != nil {
				return nil, fmt.Errorf("input %s: %w", in, err)
			}
			p.o.Inputs[i].Source = abs
		}
	}
	return p, nil
}

func (p *Pipeline) positionsFile() string {
	if p.o.StateDir == "" {
		return ""
	}
	return filepath.Join(p.o.StateDir, "positions.json")
}

// Stats returns the counters.
func (p *Pipeline) Stats() Stats {
	return Stats{Observations: p.observations.Load(), Withheld: p.withheld.Load(),
		Published: p.published.Load(), LineErrors: p.lineErrors.Load()}
}

// Run reads every input until ctx ends (or every input ended: files read
// once, standard input closed), publishing as it goes; what the window
// holds is published before it returns.
func (p *Pipeline) Run(ctx context.Context) error {
	ictx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, len(p.o.Inputs))
	for _, in := range p.o.Inputs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := p.runInput(ictx, in); err != nil && !errors.Is(err, context.Canceled) {
				errs <- fmt.Errorf("input %s: %w", in, err)
			}
		}()
	}
	inputsDone := make(chan struct{})
	go func() { wg.Wait(); close(inputsDone) }()
	workerDone := make(chan struct{})
	go func() { p.spoolJobs(); close(workerDone) }()
	err := p.loop(ctx, inputsDone, errs)
	cancel()
	wg.Wait()
	close(p.jobs)
	<-workerDone
	if werr := p.workErr.Load(); werr != nil && err == nil {
		err = *werr
	}
	close(errs)
	for e := range errs {
		err = errors.Join(err, e)
	}
	return err
}

// loop handles what the inputs hand over and flushes the window. An input
// that fails (a socket it cannot listen on, a file it cannot read) ends
// the run at once: a sensor must not go on quietly without one of its
// inputs.
func (p *Pipeline) loop(ctx context.Context, inputsDone <-chan struct{}, errs <-chan error) error {
	every := p.o.Window
	if every < 0 {
		every = time.Second
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	var scratch policy.Scratch
	for {
		select {
		case b := <-p.obs:
			if err := p.handle(&scratch, b); err != nil {
				return err
			}
		case <-tick.C:
			if err := p.flush(); err != nil {
				return err
			}
			if werr := p.workErr.Load(); werr != nil {
				return *werr
			}
		case <-inputsDone:
			return p.drain(&scratch)
		case err := <-errs:
			return errors.Join(err, p.drain(&scratch))
		case <-ctx.Done():
			// What the inputs handed over is published too: a dnstap
			// message or a line of standard input is not read again.
			return p.drain(&scratch)
		}
	}
}

// drain handles what the inputs handed over and not yet handled, then
// flushes the window.
func (p *Pipeline) drain(scratch *policy.Scratch) error {
	for {
		select {
		case b := <-p.obs:
			if err := p.handle(scratch, b); err != nil {
				return err
			}
		default:
			return p.flush()
		}
	}
}

func (p *Pipeline) handle(scratch *policy.Scratch, b batch) error {
	for i := range b.recs {
		r := &b.recs[i]
		p.observations.Add(1)
		if p.o.Filter != nil {
			out, ok := p.o.Filter.ApplyTo(scratch, r)
			if !ok {
				p.withheld.Add(1)
				continue
			}
			r = out
		}
		if p.agg != nil {
			p.agg.Add(r, time.Now())
			continue
		}
		p.publish(r)
	}
	if b.pos != nil {
		p.positions[b.pos.Path] = *b.pos
	}
	return nil
}

// handOffBytes is how many bytes of lines wait for the spooling worker at
// most: records emitted early by a full window, or a large flush, go in
// pieces rather than pile up until the next tick.
const handOffBytes = 1 << 20

// publish queues a record's line for the spooling worker.
func (p *Pipeline) publish(r *cof.Record) {
	p.published.Add(1)
	p.out = r.AppendLine(p.out)
	if len(p.out) >= handOffBytes {
		p.jobs <- job{lines: p.out} // no positions: those wait for a whole flush
		p.out = nil
	}
}

// flush hands what the window holds, with the positions of the lines it
// came from, to the spooling worker. The whole window is flushed each
// time (a tumbling window): a position is saved only once every record
// of the lines before it is spooled. It waits only when the worker is
// still busy with the previous flush (bounded memory).
func (p *Pipeline) flush() error {
	if p.agg != nil {
		p.agg.FlushAll()
	}
	if len(p.out) == 0 && len(p.positions) == 0 {
		return nil
	}
	j := job{lines: p.out}
	for _, pos := range p.positions {
		j.positions = append(j.positions, pos)
	}
	p.out = nil
	p.jobs <- j
	return nil
}

// spoolJobs spools each flush's lines, then saves its positions, until
// the jobs end; after an error it only drains them.
func (p *Pipeline) spoolJobs() {
	for j := range p.jobs {
		if p.workErr.Load() != nil {
			continue
		}
		err := p.spool(j.lines)
		if err != nil {
			err = fmt.Errorf("sensor: spooling: %w", err)
			p.workErr.Store(&err)
			continue
		}
		if f := p.positionsFile(); f != "" && len(j.positions) > 0 {
			if err := follow.SavePositions(f, j.positions); err != nil {
				p.log.Warn("cannot save the logs' positions: a restart would read them again", "err", err)
			}
		}
	}
}

func (p *Pipeline) spool(lines []byte) error {
	for len(lines) > 0 {
		i := bytes.IndexByte(lines, '\n')
		if err := p.pub.Add(lines[:i+1]); err != nil {
			return err
		}
		lines = lines[i+1:]
	}
	return p.pub.Flush()
}

// send hands a batch to the loop, or drops it when ctx ended.
func (p *Pipeline) send(ctx context.Context, b batch) {
	select {
	case p.obs <- b:
	case <-ctx.Done():
	}
}
