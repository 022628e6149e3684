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
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
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

	obs     chan batch
	agg     *aggregate.Aggregator
	emitErr error // the first publishing error of the aggregator's emit
	saved   map[string]follow.Position
	// positions are those of the lines whose records were handled, by
	// path; saved once those records are spooled.
	positions map[string]follow.Position

	observations, withheld, published, lineErrors atomic.Int64
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
	p := &Pipeline{o: o, pub: pub, log: o.Log, obs: make(chan batch, 1024), positions: map[string]follow.Position{}}
	if o.Window > 0 {
		opts := []aggregate.Option{aggregate.WithWindow(o.Window)}
		if o.MaxKeys > 0 {
			opts = append(opts, aggregate.WithMaxKeys(o.MaxKeys))
		}
		agg, err := aggregate.New(func(r *cof.Record) {
			if err := p.publish(r); err != nil && p.emitErr == nil {
				p.emitErr = err
			}
		}, opts...)
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
	for _, in := range o.Inputs {
		if _, ok := lookupKind(in.Kind); !ok {
			return nil, fmt.Errorf("%w: %s", ErrBadInput, in)
		}
		if k, _ := lookupKind(in.Kind); !k.dnstap {
			if _, err := logformat.ByName(in.Kind, o.Formats...); err != nil {
				return nil, fmt.Errorf("input %s: %w", in, err)
			}
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
	err := p.loop(ctx, inputsDone, errs)
	cancel()
	wg.Wait()
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
			if p.emitErr != nil { // a full window emitted early, and spooling failed
				return p.emitErr
			}
			continue
		}
		if err := p.publish(r); err != nil {
			return err
		}
	}
	if b.pos != nil {
		p.positions[b.pos.Path] = *b.pos
	}
	return nil
}

func (p *Pipeline) publish(r *cof.Record) error {
	p.published.Add(1)
	return p.pub.Add(r.AppendLine(nil))
}

// flush publishes what the window holds, spools it, then saves the
// positions of the lines it came from. The whole window is flushed each
// time (a tumbling window): a position is saved only once every record of
// the lines before it is spooled.
func (p *Pipeline) flush() error {
	if p.agg != nil {
		p.agg.FlushAll()
	}
	err := p.emitErr
	if err == nil {
		err = p.pub.Flush()
	}
	if err != nil {
		return fmt.Errorf("sensor: spooling: %w", err)
	}
	if f := p.positionsFile(); f != "" && len(p.positions) > 0 {
		list := make([]follow.Position, 0, len(p.positions))
		for _, pos := range p.positions {
			list = append(list, pos)
		}
		if err := follow.SavePositions(f, list); err != nil {
			p.log.Warn("cannot save the logs' positions: a restart would read them again", "err", err)
		}
	}
	return nil
}

// send hands a batch to the loop, or drops it when ctx ended.
func (p *Pipeline) send(ctx context.Context, b batch) {
	select {
	case p.obs <- b:
	case <-ctx.Done():
	}
}
