package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/time/rate"

	"github.com/cofswitch/cofswitch/routing"
)

// Feeder timings.
const (
	// feederRetryMax caps the backoff of a feeder whose stream or
	// consumer is missing.
	feederRetryMax = 30 * time.Second
	// setupTimeout bounds creating a consumer.
	setupTimeout = 10 * time.Second
	// fetchWait is how long one pull request stays open: an idle sensor
	// costs one request per fetchWait. Up to 10 s, the client asks for no
	// idle heartbeats, which a thousand idle sensors would pay for.
	fetchWait = 10 * time.Second
	// handBack delays a batch handed back by a halted feeder past the end
	// of its open pull request: the server would otherwise deliver it at
	// once to that request, which nobody reads any more, and it would wait
	// out the ack wait.
	handBack = fetchWait + time.Second
	// fetchAhead is how many batches one pull request brings at least,
	// and how many of the largest: a sensor with a backlog gets them at
	// once, a quiet one as they come, each handed to the workers as it
	// arrives, one at a time, each sensor taking its turn.
	fetchAhead = 4
	// fetchMost and fetchBudget: small batches come more to a request,
	// up to fetchMost or about fetchBudget bytes (from the largest batch
	// of the last request). One record per message, four a request cost
	// a pull request and its subscription, and read syscalls and
	// wake-ups, every four records: 64 cut the switch's CPU a message by
	// a third (bench, per-record phases). The count grows only while
	// requests are handed over quickly (sizing), so that what waits in
	// hand waits about as long as four did. There is no cap in bytes:
	// nats-server 2.15.2 answers a pull request with max_bytes on an R3
	// consumer with "409 Batch Completed" and none of its messages.
	fetchMost   = 64
	fetchBudget = 64 << 10
)

// fetchCount is how many batches the next pull request may ask for, from
// the size of the largest batch of the last request (0: none yet).
func fetchCount(largest int) int {
	if largest <= 0 {
		return fetchAhead
	}
	return min(max(fetchBudget/largest, fetchAhead), fetchMost)
}

// Input is one batch from a sensor's input stream.
type Input struct {
	Msg    jetstream.Msg
	Sensor string // the sensor whose stream it came from
	// Epoch is the stream's creation time in base 36: with the stream
	// sequence, it names the batch for good (a recreated stream restarts
	// its sequence).
	Epoch string

	done func()
}

// Done says the batch was handled (acked, naked or terminated): its
// sensor may have another one in hand. Every Input must be Done once.
func (in Input) Done() {
	if in.done != nil {
		in.done()
	}
}

// InputOptions set how Inputs pulls.
type InputOptions struct {
	Consumer      string // the durable consumer, shared by every process
	Description   string
	AckWait       time.Duration
	MaxAckPending int
	// MaxInFlight bounds the batches of one sensor handed over and not yet
	// Done (0: no bound), so that a sensor with a backlog cannot take
	// every worker: another sensor's batch finds one free.
	MaxInFlight int
	// Throttled, when set, is told how long a sensor's batch was held to
	// its rate quota.
	Throttled func(sensor string, d time.Duration)
	Log       *slog.Logger
}

// Inputs pulls the input stream of every registered sensor, each through
// the shared durable consumer, and hands the batches over one channel. A
// feeder (one per sensor) holds one batch at a time, and a channel's
// waiting senders are served first come, first served: each sensor with a
// backlog gets its turn, whatever another sends, and a sensor's backlog
// stays in its own stream. A sensor with a rate quota is pulled at that
// rate.
type Inputs struct {
	js jetstream.JetStream
	o  InputOptions
	c  chan Input

	mu      sync.Mutex
	feeders map[string]*feeder // by sensor id
	wg      sync.WaitGroup
	closed  bool
}

// NewInputs returns Inputs over js; Reconcile starts pulling.
func NewInputs(js jetstream.JetStream, o InputOptions) *Inputs {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return &Inputs{js: js, o: o, c: make(chan Input), feeders: map[string]*feeder{}}
}

// C is the channel of batches. It is closed by Stop.
func (in *Inputs) C() <-chan Input { return in.c }

// Len is the number of sensors pulled.
func (in *Inputs) Len() int {
	in.mu.Lock()
	defer in.mu.Unlock()
	return len(in.feeders)
}

// Reconcile pulls exactly the sensors given: it starts a feeder for each
// new one, stops those of sensors no longer given (their input stays in
// their streams) and applies rate quotas.
func (in *Inputs) Reconcile(sensors []routing.Sensor) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.closed {
		return
	}
	want := map[string]routing.Sensor{}
	for _, s := range sensors {
		want[s.ID] = s
	}
	for id, f := range in.feeders {
		if _, ok := want[id]; !ok {
			f.halt()
			delete(in.feeders, id)
			in.o.Log.Info("sensor removed: its input is no longer switched (it stays in its stream)", "sensor", id)
		}
	}
	for id, s := range want {
		if f, ok := in.feeders[id]; ok {
			f.setRate(s.Rate)
			continue
		}
		f := &feeder{in: in, sensor: id, stream: routing.InStream(id), stop: make(chan struct{}), rated: make(chan struct{}, 1)}
		if in.o.MaxInFlight > 0 {
			f.inFlight = make(chan struct{}, in.o.MaxInFlight)
		}
		f.ctx, f.cancel = context.WithCancel(context.Background())
		f.setRate(s.Rate)
		in.feeders[id] = f
		in.wg.Add(1)
		go f.run()
	}
}

// Stop stops every feeder (a batch one holds is handed back to the
// server), waits for them, and closes C.
func (in *Inputs) Stop() {
	in.mu.Lock()
	if in.closed {
		in.mu.Unlock()
		return
	}
	in.closed = true
	for _, f := range in.feeders {
		f.halt()
	}
	in.mu.Unlock()
	in.wg.Wait()
	close(in.c)
}

// feeder pulls one sensor's input stream.
type feeder struct {
	in     *Inputs
	sensor string
	stream string

	// ctx ends when the feeder is halted: it cancels a pull in progress.
	ctx    context.Context
	cancel context.CancelFunc

	mu      sync.Mutex
	limiter *rate.Limiter // nil: no quota
	stop    chan struct{}
	stopped bool
	// rated wakes a batch held to the quota when the quota changes.
	rated chan struct{}
	// inFlight holds a token per batch handed over and not yet Done.
	inFlight chan struct{}
}

// setRate sets the sensor's quota in bytes a second (0: none). The burst
// holds the largest message, so that any batch can pass.
func (f *feeder) setRate(bytesPerSecond int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	select {
	case f.rated <- struct{}{}:
	default:
	}
	switch {
	case bytesPerSecond <= 0:
		f.limiter = nil
	case f.limiter == nil:
		f.limiter = rate.NewLimiter(rate.Limit(bytesPerSecond), maxBurst(bytesPerSecond))
	default:
		f.limiter.SetLimit(rate.Limit(bytesPerSecond))
		f.limiter.SetBurst(maxBurst(bytesPerSecond))
	}
}

// maxBurst lets the largest message through a quota below its size.
func maxBurst(bytesPerSecond int64) int {
	return int(max(bytesPerSecond, 1<<20+64<<10))
}

// limited reports whether the sensor has a rate quota.
func (f *feeder) limited() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.limiter != nil
}

// halt stops the feeder: it pulls no more, and hands back a batch it holds.
func (f *feeder) halt() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.stopped {
		return
	}
	f.stopped = true
	close(f.stop)
	f.cancel()
}

// run binds the consumer and feeds until halted, binding again (with
// backoff) when the stream or the consumer is missing or vanishes.
func (f *feeder) run() {
	defer f.in.wg.Done()
	log := f.in.o.Log
	backoff, failing := time.Second, false
	for {
		cons, epoch, err := f.bind()
		if err == nil {
			if failing {
				log.Info("pulling a sensor's input again", "sensor", f.sensor)
			}
			backoff, failing = time.Second, false
			err = f.feed(cons, epoch)
			if err == nil {
				return // halted
			}
		}
		if !failing {
			log.Warn("cannot pull a sensor's input; retrying", "sensor", f.sensor, "stream", f.stream, "err", err)
		}
		failing = true
		select {
		case <-f.stop:
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, feederRetryMax)
	}
}

// bind creates or updates the durable consumer on the sensor's stream.
func (f *feeder) bind() (jetstream.Consumer, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	stream, err := f.in.js.Stream(ctx, f.stream)
	if err != nil {
		return nil, "", fmt.Errorf("engine: stream %s: %w", f.stream, err)
	}
	epoch := strconv.FormatInt(stream.CachedInfo().Created.UnixNano(), 36)
	o := f.in.o
	cons, err := stream.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{
		Durable:       o.Consumer,
		Description:   o.Description,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       o.AckWait,
		MaxAckPending: o.MaxAckPending,
		MaxDeliver:    -1, // attempts are bounded by the engine, which terminates
		// The consumer's state (delivered, acked) lives in memory: on a
		// work queue an acked batch leaves the stream, so after a server
		// restart a new state delivers exactly what was not acked, and
		// the outputs' message ids drop what was already delivered. On
		// disk, every consumer wrote its state file up to ten times a
		// second: with a thousand sensors that was a core's worth of
		// file writes.
		MemoryStorage: true,
	})
	if err != nil {
		return nil, "", fmt.Errorf("engine: consumer %s on %s: %w", o.Consumer, f.stream, err)
	}
	return cons, epoch, nil
}

// feed pulls batches and hands them over, until halted (nil) or pulling
// fails. One pull request at a time asks for a few batches (sizing.next:
// more when they are small and handed over quickly) and stays open up
// to fetchWait; each batch is handed over as it arrives. A sensor's
// backlog thus stays in its stream, where the ack wait does not run, but
// for the few batches of the request in hand.
func (f *feeder) feed(cons jetstream.Consumer, epoch string) error {
	var z sizing
	for {
		if f.ctx.Err() != nil {
			return nil
		}
		count := z.next(f.limited())
		start := time.Now()
		ctx, cancel := context.WithTimeout(f.ctx, fetchWait)
		batch, err := cons.Fetch(count, jetstream.FetchContext(ctx))
		if err == nil {
			n, largest := 0, 0
			for msg := range batch.Messages() {
				n, largest = n+1, max(largest, len(msg.Data()))
				if !f.hand(Input{Msg: msg, Sensor: f.sensor, Epoch: epoch}) {
					// Halted: hand back what the request still brings.
					cancel()
					for rest := range batch.Messages() {
						_ = rest.NakWithDelay(handBack)
					}
					return nil
				}
			}
			err = batch.Error()
			z.done(count, n, largest, time.Since(start), f.ackWait())
		}
		cancel()
		switch {
		case f.ctx.Err() != nil:
			return nil
		case err == nil, Recoverable(err), errors.Is(err, nats.ErrTimeout), errors.Is(err, context.DeadlineExceeded):
			// The request ended (full, or its time was up): pull again.
		default:
			return err
		}
	}
}

// ackWait is the input consumers' ack wait.
func (f *feeder) ackWait() time.Duration {
	if d := f.in.o.AckWait; d > 0 {
		return d
	}
	return DefaultAckWait
}

// sizing is how one feeder sizes its pull requests.
type sizing struct {
	largest int // payload bytes of the largest batch of the last request (0: none yet)
	// paced is how many batches the pace of hand-over allows. The
	// batches of a request wait in the feeder for their turn, their ack
	// wait running with no keep-alive: paced doubles while a full request
	// is handed over in a sixteenth of the ack wait, and falls back to
	// fetchAhead when one takes more than an eighth, so that a slow turn
	// (many sensors, busy workers) holds four, as before.
	paced int
}

// next is the next request's count. A sensor under a rate quota
// (limited) gets fetchAhead: its batches wait for the quota in hand.
func (z *sizing) next(limited bool) int {
	if limited {
		return fetchAhead
	}
	return min(fetchCount(z.largest), max(z.paced, fetchAhead))
}

// done records a request that asked for count and brought n batches, the
// largest of largest bytes, handed over (or ended) after took.
func (z *sizing) done(count, n, largest int, took, ackWait time.Duration) {
	if n == 0 {
		return
	}
	z.largest = largest
	switch {
	case took > ackWait/8:
		z.paced = fetchAhead
	case n >= count && took < ackWait/16:
		z.paced = min(2*max(z.paced, fetchAhead), fetchMost)
	}
}

// hand waits for the sensor's quota, then for a worker. It reports false,
// handing the batch back to the server, when the feeder is halted.
func (f *feeder) hand(in Input) bool {
	if f.wait(len(in.Msg.Data())) && f.acquire() {
		if f.inFlight != nil {
			in.done = f.release
		}
		select {
		case f.in.c <- in:
			return true
		case <-f.stop:
			f.release()
		}
	}
	_ = in.Msg.NakWithDelay(handBack) // another process, or the next start, takes it
	return false
}

// acquire waits until the sensor has fewer than MaxInFlight batches in
// hand; false when the feeder is halted meanwhile.
func (f *feeder) acquire() bool {
	if f.inFlight == nil {
		return true
	}
	select {
	case f.inFlight <- struct{}{}:
		return true
	case <-f.stop:
		return false
	}
}

func (f *feeder) release() {
	if f.inFlight != nil {
		<-f.inFlight
	}
}

// wait holds a batch of n bytes to the sensor's quota, looking again
// when the quota changes. It reports false when the feeder was halted
// meanwhile.
func (f *feeder) wait(n int) bool {
	for {
		f.mu.Lock()
		lim := f.limiter
		f.mu.Unlock()
		if lim == nil {
			return true
		}
		r := lim.ReserveN(time.Now(), min(n, lim.Burst()))
		d := r.Delay()
		if !r.OK() || d <= 0 {
			return true
		}
		start := time.Now()
		timer := time.NewTimer(d)
		select {
		case <-timer.C:
			f.throttled(time.Since(start))
			return true
		case <-f.rated:
			timer.Stop()
			r.Cancel()
			f.throttled(time.Since(start))
		case <-f.stop:
			timer.Stop()
			r.Cancel()
			return false
		}
	}
}

func (f *feeder) throttled(d time.Duration) {
	if t := f.in.o.Throttled; t != nil {
		t(f.sensor, d)
	}
}
