// Package statuspage serves the exchange operator's status page: every
// sensor (last input, rate, dead letters and their last reasons), every
// peer (rate, backlog, last delivery, TLP and policy), the input backlog
// and the policy version, with sparklines of the last minutes and live
// updates over server-sent events. It renders with html/template and an
// inline script of a few lines: no build step, no external asset.
//
// A Page samples the exchange (its streams' state and the engine's
// counters) at a fixed period and keeps a short history; the same sample
// feeds the page, its JSON form and the warnings /readyz prints (a sensor
// silent, a peer whose backlog grows).
package statuspage

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/cofswitch/cofswitch/switch/exchange"
)

// Defaults of Options.
const (
	DefaultEvery       = 5 * time.Second
	DefaultWindow      = 15 * time.Minute
	DefaultSilentAfter = 15 * time.Minute
	DefaultBehindAfter = 5 * time.Minute
)

// Options tune a Page. Zero values take the defaults.
type Options struct {
	// Every is the sampling period (and the live update's).
	Every time.Duration
	// Window is the span the sparklines show.
	Window time.Duration
	// SilentAfter flags a sensor that fed the exchange before and has
	// stored no input for that long.
	SilentAfter time.Duration
	// BehindAfter flags a peer whose consumers' pending messages have
	// grown over that span and are not zero.
	BehindAfter time.Duration
	// Logger receives sampling errors (at most one line a minute).
	Logger *slog.Logger
}

func (o *Options) defaults() {
	if o.Every <= 0 {
		o.Every = DefaultEvery
	}
	if o.Window <= 0 {
		o.Window = DefaultWindow
	}
	if o.SilentAfter <= 0 {
		o.SilentAfter = DefaultSilentAfter
	}
	if o.BehindAfter <= 0 {
		o.BehindAfter = DefaultBehindAfter
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// maxWatchers bounds the live pages open at once: each holds a goroutine
// and a connection.
const maxWatchers = 64

// Page is the status page of one exchange. Run samples it; the Page is an
// http.Handler serving "/" (the page), "/status.json" and "/events".
type Page struct {
	x   *exchange.Exchange
	o   Options
	mux *httpMux

	mu       sync.Mutex
	hist     history
	view     *View
	watchers map[chan *View]struct{}
	lastErr  time.Time
}

// New returns the Page of x; call Run to start sampling.
func New(x *exchange.Exchange, o Options) *Page {
	o.defaults()
	p := &Page{x: x, o: o, watchers: map[chan *View]struct{}{}}
	p.hist.keep = int(o.Window/o.Every) + 1
	p.mux = newMux(p)
	return p
}

// Run samples the exchange every Options.Every until ctx ends.
func (p *Page) Run(ctx context.Context) {
	t := time.NewTicker(p.o.Every)
	defer t.Stop()
	for {
		p.Sample(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Sample takes one sample now and sends the new view to the live pages.
func (p *Page) Sample(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, p.o.Every+10*time.Second)
	defer cancel()
	s, err := p.read(ctx)
	if err != nil {
		p.mu.Lock()
		if time.Since(p.lastErr) > time.Minute {
			p.lastErr = time.Now()
			p.o.Logger.Warn("status page: cannot read the exchange's state", "err", err)
		}
		p.mu.Unlock()
		return
	}
	p.mu.Lock()
	p.hist.add(s)
	v := p.build()
	p.view = v
	for w := range p.watchers {
		select {
		case w <- v:
		default: // a slow page skips a sample rather than hold the others
		}
	}
	p.mu.Unlock()
}

// View returns the last view (nil before the first sample).
func (p *Page) View() *View {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.view
}

// Warnings lists what an operator should look at now: silent sensors,
// peers falling behind, streams missing. /readyz prints them.
func (p *Page) Warnings() []string {
	v := p.View()
	if v == nil {
		return nil
	}
	return v.Warnings
}

func (p *Page) watch() (chan *View, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.watchers) >= maxWatchers {
		return nil, false
	}
	c := make(chan *View, 1)
	p.watchers[c] = struct{}{}
	return c, true
}

func (p *Page) unwatch(c chan *View) {
	p.mu.Lock()
	delete(p.watchers, c)
	p.mu.Unlock()
}
