package exchange

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/cofswitch/cofswitch/routing"
)

// Health watches what an operator alerts on beside the engine's counters:
// how full each sensor's input stream is against its limits (a full input
// refuses the sensor's publishes), and whether the exchange is Ready. It
// is checked every interval (serve: 30 s, with the evictions) and read at
// each scrape, so a scrape never waits on the bus.
type Health struct {
	x   *Exchange
	log *slog.Logger

	mu      sync.Mutex
	checked bool
	ready   error
	inputs  map[string]inputUse // sensor id -> its input stream at the last check
}

// inputUse is a sensor's input stream against its limits; a limit of 0 or
// less is none.
type inputUse struct {
	bytes, msgs       uint64
	maxBytes, maxMsgs int64
}

// NewHealth returns the health watch of x.
func NewHealth(x *Exchange) *Health {
	return &Health{x: x, log: x.log, inputs: map[string]inputUse{}}
}

// Run checks at once, then every interval until ctx ends.
func (h *Health) Run(ctx context.Context, every time.Duration) {
	runEvery(ctx, every, h.log, "health check", h.Check)
}

// Check reads the input streams of the configuration in force (one paged
// listing, whatever the number of sensors) and the readiness once. The
// readiness is recorded whatever the listing's error.
func (h *Health) Check(ctx context.Context) error {
	ready := h.x.Ready(ctx)
	cfg := h.x.cfg.Load()
	sensors := make(map[string]string, len(cfg.Sensors)) // stream name -> sensor id
	for _, s := range cfg.Sensors {
		sensors[routing.InStream(s.ID)] = s.ID
	}
	inputs := map[string]inputUse{}
	list := h.x.js.ListStreams(ctx, jetstream.WithStreamListSubject(routing.InPrefix+">"))
	for info := range list.Info() {
		id, ok := sensors[info.Config.Name]
		if !ok {
			continue // a removed sensor's stream, kept but not watched
		}
		inputs[id] = inputUse{bytes: info.State.Bytes, msgs: info.State.Msgs, maxBytes: info.Config.MaxBytes, maxMsgs: info.Config.MaxMsgs}
	}
	err := list.Err()
	if errors.Is(err, jetstream.ErrEndOfData) {
		err = nil
	}
	h.mu.Lock()
	was, wasChecked := h.ready, h.checked
	h.checked, h.ready = true, ready
	if err == nil {
		h.inputs = inputs
	}
	h.mu.Unlock()
	switch {
	case ready != nil && (was == nil || !wasChecked):
		h.log.Warn("exchange not ready", "err", ready)
	case ready == nil && was != nil && wasChecked:
		h.log.Info("exchange ready again")
	}
	return err
}

var (
	readyDesc = prometheus.NewDesc("cofswitch_switch_ready",
		"1 when the exchange was ready at the last check (every 30 s: connected, JetStream answering, every stream present; /readyz says why not), 0 otherwise.", nil, nil)
	inputBytesDesc = prometheus.NewDesc("cofswitch_input_stream_bytes",
		"Bytes stored in the sensor's input stream (COF_IN_<sensor>) at the last check: batches not switched yet.", []string{"sensor"}, nil)
	inputMaxBytesDesc = prometheus.NewDesc("cofswitch_input_stream_max_bytes",
		"The input stream's max_bytes (absent when unlimited): past it the sensor's publishes are refused (discard new) or its oldest batches lost (discard old).", []string{"sensor"}, nil)
	inputMsgsDesc = prometheus.NewDesc("cofswitch_input_stream_messages",
		"Batches stored in the sensor's input stream at the last check.", []string{"sensor"}, nil)
	inputMaxMsgsDesc = prometheus.NewDesc("cofswitch_input_stream_max_messages",
		"The input stream's max_msgs (absent when unlimited).", []string{"sensor"}, nil)
)

// Describe sends the descriptors.
func (h *Health) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{readyDesc, inputBytesDesc, inputMaxBytesDesc, inputMsgsDesc, inputMaxMsgsDesc} {
		ch <- d
	}
}

// Collect sends the state of the last check (nothing before the first).
func (h *Health) Collect(ch chan<- prometheus.Metric) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.checked {
		return
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	ready := 0.0
	if h.ready == nil {
		ready = 1
	}
	gauge(readyDesc, ready)
	for sensor, u := range h.inputs {
		gauge(inputBytesDesc, float64(u.bytes), sensor)
		gauge(inputMsgsDesc, float64(u.msgs), sensor)
		if u.maxBytes > 0 {
			gauge(inputMaxBytesDesc, float64(u.maxBytes), sensor)
		}
		if u.maxMsgs > 0 {
			gauge(inputMaxMsgsDesc, float64(u.maxMsgs), sensor)
		}
	}
}

// runEvery runs check at once, then every interval until ctx ends; one
// check may take at most the interval. Errors are logged at debug level
// (what they mean for the operator is in the metrics and the warnings).
func runEvery(ctx context.Context, every time.Duration, log *slog.Logger, what string, check func(context.Context) error) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		cctx, cancel := context.WithTimeout(ctx, every)
		err := check(cctx)
		cancel()
		if err != nil && ctx.Err() == nil {
			log.Debug(what, "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
