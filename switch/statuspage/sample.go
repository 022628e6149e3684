package statuspage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/cofswitch/cofswitch/config"
	"github.com/cofswitch/cofswitch/routing"
	"github.com/cofswitch/cofswitch/switch/exchange"
)

// sample is the exchange's state at one moment.
type sample struct {
	at      time.Time
	cfg     *config.Config
	status  *exchange.Status
	ready   string // why not ready; "" when ready
	version string
	// Counters of the engine at that moment: valid records by sensor,
	// records stored by peer.
	sensorRecords, delivered map[string]uint64
	// reasons are the last dead letters' reasons by sensor.
	reasons map[string][]string
}

// pending is what the peer's consumers have not been sent yet, summed.
func pending(ps exchange.PeerStatus) uint64 {
	var n uint64
	for _, c := range ps.Consumers {
		n += c.Pending
	}
	return n
}

func (p *Page) read(ctx context.Context) (*sample, error) {
	cfg := p.x.Config()
	st, err := exchange.ReadStatus(ctx, p.x.JetStream(), cfg)
	if err != nil {
		return nil, err
	}
	snap := p.x.Engine().Stats()
	// The peers' labels and policies as the engine runs them: their own
	// subscriptions where they chose them.
	running := p.x.Running()
	if running == nil {
		running = cfg
	}
	s := &sample{at: time.Now(), cfg: running, status: st, version: p.x.Engine().PolicyVersion(),
		sensorRecords: snap.SensorRecords, delivered: snap.Delivered}
	if err := p.x.Ready(ctx); err != nil {
		s.ready = err.Error()
	}
	s.reasons = p.reasons(ctx, st)
	return s, nil
}

// maxReasons is how many of a sensor's last dead-letter reasons the page
// shows.
const maxReasons = 3

// reasons reads the last dead-letter message of each sensor whose count
// changed since the previous sample, and keeps the others'.
func (p *Page) reasons(ctx context.Context, st *exchange.Status) map[string][]string {
	p.mu.Lock()
	prev := p.hist.last()
	p.mu.Unlock()
	out := map[string][]string{}
	for _, s := range st.Sensors {
		if s.DeadLetters == 0 {
			continue
		}
		if prev != nil && deadLetters(prev.status, s.ID) == s.DeadLetters {
			if r, ok := prev.reasons[s.ID]; ok {
				out[s.ID] = r
				continue
			}
		}
		out[s.ID] = LastReasons(ctx, p.x.JetStream(), s.ID)
	}
	return out
}

// LastReasons reads why the last dead letters of a sensor were rejected:
// the error of a batch rejected whole, else the line, kind and error of
// the last entries of its last dead-letter message (at most 3).
func LastReasons(ctx context.Context, js jetstream.JetStream, sensor string) []string {
	dlq, err := js.Stream(ctx, routing.DLQStream)
	if err != nil {
		return []string{"cannot read: " + err.Error()}
	}
	m, err := dlq.GetLastMsgForSubject(ctx, routing.DLQSubject(sensor))
	switch {
	case errors.Is(err, jetstream.ErrMsgNotFound):
		return nil
	case err != nil:
		return []string{"cannot read: " + err.Error()}
	}
	return lastReasons(m)
}

func deadLetters(st *exchange.Status, sensor string) uint64 {
	for _, s := range st.Sensors {
		if s.ID == sensor {
			return s.DeadLetters
		}
	}
	return 0
}

// maxReason bounds one reason's length on the page.
const maxReason = 160

// lastReasons reads the reasons of one dead-letter message: the error of
// a batch rejected whole, else the kind and error of its last entries.
func lastReasons(m *jetstream.RawStreamMsg) []string {
	if kind := m.Header.Get("Cofswitch-Error-Kind"); kind != "" {
		return []string{clip(kind + ": " + m.Header.Get("Cofswitch-Error"))}
	}
	lines := strings.Split(strings.TrimSpace(string(m.Data)), "\n")
	var out []string
	for i := len(lines) - 1; i >= 0 && len(out) < maxReasons; i-- {
		var e struct {
			Line  int    `json:"line"`
			Kind  string `json:"kind"`
			Error string `json:"error"`
		}
		if json.Unmarshal([]byte(lines[i]), &e) != nil || e.Error == "" {
			continue
		}
		out = append(out, clip(fmt.Sprintf("line %d %s: %s", e.Line, e.Kind, e.Error)))
	}
	return out
}

func clip(s string) string {
	if len(s) <= maxReason {
		return s
	}
	return strings.ToValidUTF8(s[:maxReason], "") + "…"
}

// history keeps the last samples, oldest first.
type history struct {
	keep    int
	samples []*sample
}

func (h *history) add(s *sample) {
	h.samples = append(h.samples, s)
	if len(h.samples) > h.keep {
		h.samples = append(h.samples[:0], h.samples[len(h.samples)-h.keep:]...)
	}
}

func (h *history) last() *sample {
	if len(h.samples) == 0 {
		return nil
	}
	return h.samples[len(h.samples)-1]
}

// rates is the per-second increase of a counter between samples, one value
// per pair of samples (a counter that went back, a restarted engine,
// counts from zero).
func (h *history) rates(counter func(*sample) uint64) []float64 {
	var out []float64
	for i := 1; i < len(h.samples); i++ {
		a, b := h.samples[i-1], h.samples[i]
		dt := b.at.Sub(a.at).Seconds()
		if dt <= 0 {
			continue
		}
		va, vb := counter(a), counter(b)
		if vb < va {
			va = 0
		}
		out = append(out, float64(vb-va)/dt)
	}
	return out
}

// series is a gauge's value at each sample.
func (h *history) series(gauge func(*sample) (uint64, bool)) []float64 {
	var out []float64
	for _, s := range h.samples {
		if v, ok := gauge(s); ok {
			out = append(out, float64(v))
		}
	}
	return out
}
