package bench

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/cofswitch/cofswitch/routing"
	"github.com/cofswitch/cofswitch/switch/engine"
)

// arrival is one output message as stored in a peer stream.
type arrival struct {
	input inputKey
	at    int64 // unix ns: stored in the peer stream
}

// inputKey names an input batch: its sensor and its sequence in the
// sensor's input stream.
type inputKey struct {
	sensor string
	seq    uint64
}

// observer follows one peer stream, headers only, and notes when each
// output was stored (the server's own timestamp) and for which input. It
// costs a message per output, which is why the per-record baseline runs
// without one.
type observer struct {
	stream string
	cc     jetstream.ConsumeContext
	last   atomic.Uint64 // the last stream sequence seen
	mu     sync.Mutex
	got    []arrival
	bad    int // outputs without a readable input sequence
}

// observe follows a peer's stream. The switch's outputs name their input
// in a trace header sealed under the switch's secret (traces opens it);
// the raw forwarder's, in clear.
func observe(ctx context.Context, js jetstream.JetStream, peer string, traces *engine.TraceOpener) (*observer, error) {
	o := &observer{stream: routing.PeerStream(peer)}
	cons, err := js.OrderedConsumer(ctx, o.stream, jetstream.OrderedConsumerConfig{HeadersOnly: true})
	if err != nil {
		return nil, fmt.Errorf("bench: observing %s: %w", o.stream, err)
	}
	o.cc, err = cons.Consume(func(msg jetstream.Msg) {
		meta, err := msg.Metadata()
		if err != nil {
			return
		}
		var sensor string
		var seq uint64
		if tr := msg.Headers().Get(engine.HeaderTrace); tr != "" {
			sensor, seq, err = traces.Open(tr)
		} else {
			sensor = msg.Headers().Get(engine.HeaderSensor)
			seq, err = strconv.ParseUint(msg.Headers().Get(engine.HeaderInputSeq), 10, 64)
		}
		o.mu.Lock()
		if err != nil || sensor == "" {
			o.bad++
		} else {
			o.got = append(o.got, arrival{input: inputKey{sensor, seq}, at: meta.Timestamp.UnixNano()})
		}
		o.mu.Unlock()
		o.last.Store(meta.Sequence.Stream)
	})
	if err != nil {
		return nil, fmt.Errorf("bench: observing %s: %w", o.stream, err)
	}
	return o, nil
}

// catchUp waits until the observer has seen the stream's last message.
func (o *observer) catchUp(ctx context.Context, js jetstream.JetStream) error {
	s, err := js.Stream(ctx, o.stream)
	if err != nil {
		return err
	}
	for {
		info, err := s.Info(ctx)
		if err != nil {
			return err
		}
		if o.last.Load() >= info.State.LastSeq {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("bench: observer of %s behind: %d of %d", o.stream, o.last.Load(), info.State.LastSeq)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func (o *observer) stop() { o.cc.Stop() }

// waitPulling waits until each of procs processes under test pulls from
// every sensor's input stream (the shared consumer holds a pull request
// from each), so that the timed window starts with all of them at work:
// a child says it is ready once its engine has started, before its
// feeders have bound the consumer, and on a cluster a new consumer may
// not answer at once (a feeder then tries again a second later). It
// gives up after timeout.
func waitPulling(ctx context.Context, js jetstream.JetStream, sensors []string, procs int, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for _, id := range sensors {
		for {
			// A consumer without a leader yet leaves a request unanswered:
			// each gets a second.
			cctx, cancelInfo := context.WithTimeout(ctx, time.Second)
			c, err := js.Consumer(cctx, routing.InStream(id), engine.DefaultConsumer)
			cancelInfo()
			if err == nil && c.CachedInfo().NumWaiting >= procs {
				break
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("bench: the consumer on %s has fewer than %d pull requests waiting after %v", routing.InStream(id), procs, timeout)
			case <-time.After(10 * time.Millisecond):
			}
		}
	}
	return nil
}
