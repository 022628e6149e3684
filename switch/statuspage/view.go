package statuspage

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/cofswitch/cofswitch/config"
	"github.com/cofswitch/cofswitch/policy"
	"github.com/cofswitch/cofswitch/switch/exchange"
)

// View is what the page shows, as of one sample. /status.json serves it.
type View struct {
	At            time.Time `json:"at"`
	PolicyVersion string    `json:"policy_version"`
	// NotReady says why the switch cannot switch ("": it can).
	NotReady string `json:"not_ready,omitempty"`
	// The input backlog: what waits in the sensors' streams.
	BacklogMessages uint64       `json:"input_backlog_messages"`
	BacklogBytes    uint64       `json:"input_backlog_bytes"`
	Held            uint64       `json:"held_messages"`
	Parked          uint64       `json:"parked_messages"`
	Sensors         []SensorView `json:"sensors"`
	Peers           []PeerView   `json:"peers"`
	// Warnings are what an operator should look at now.
	Warnings []string `json:"warnings"`
	// Window is the span of the series; Slots how many values it holds
	// when full.
	Window time.Duration `json:"-"`
	Slots  int           `json:"-"`
}

// States of a sensor or a peer.
const (
	StateOK      = "ok"
	StateNoInput = "no input yet" // a sensor that never fed the exchange
	StateSilent  = "silent"
	StateBehind  = "behind"
	StateError   = "error"
)

// SensorView is one sensor's line.
type SensorView struct {
	ID           string    `json:"id"`
	State        string    `json:"state"`
	LastInput    time.Time `json:"last_input,omitzero"`
	Rate         float64   `json:"records_per_second"`
	Backlog      uint64    `json:"backlog_messages"`
	BacklogBytes uint64    `json:"backlog_bytes"`
	DeadLetters  uint64    `json:"dead_letters"`
	Reasons      []string  `json:"last_reasons,omitempty"`
	Err          string    `json:"error,omitempty"`
	// Rates is records per second between samples, oldest first.
	Rates []float64 `json:"rates"`
}

// PeerView is one peer's line.
type PeerView struct {
	ID           string    `json:"id"`
	Organisation string    `json:"organisation,omitempty"`
	State        string    `json:"state"`
	TLP          []string  `json:"tlp"`
	Policies     []string  `json:"policies"`
	Rate         float64   `json:"records_per_second"`
	Pending      uint64    `json:"pending_messages"`
	AckPending   int       `json:"ack_pending_messages"`
	Stored       uint64    `json:"stored_messages"`
	StoredBytes  uint64    `json:"stored_bytes"`
	LastDelivery time.Time `json:"last_delivery,omitzero"`
	Err          string    `json:"error,omitempty"`
	Rates        []float64 `json:"rates"`
	// PendingSeries is the consumers' pending messages at each sample.
	PendingSeries []float64 `json:"pending_series"`
}

// build makes the view of the last sample; p.mu is held.
func (p *Page) build() *View {
	s := p.hist.last()
	v := &View{At: s.at, PolicyVersion: s.version, NotReady: s.ready, Held: s.status.Held, Parked: s.status.Parked,
		Window: p.o.Window, Slots: p.hist.keep - 1}
	for _, ss := range s.status.Sensors {
		sv := p.sensorView(s, ss)
		v.BacklogMessages += ss.BacklogMessages
		v.BacklogBytes += ss.BacklogBytes
		switch sv.State {
		case StateSilent:
			v.Warnings = append(v.Warnings, fmt.Sprintf("sensor %s is silent: last input %s ago",
				sv.ID, s.at.Sub(sv.LastInput).Round(time.Second)))
		case StateError:
			v.Warnings = append(v.Warnings, fmt.Sprintf("sensor %s: %s", sv.ID, sv.Err))
		}
		v.Sensors = append(v.Sensors, sv)
	}
	for _, ps := range s.status.Peers {
		pv, why := p.peerView(s, ps)
		if why != "" {
			v.Warnings = append(v.Warnings, fmt.Sprintf("peer %s %s", pv.ID, why))
		}
		v.Peers = append(v.Peers, pv)
	}
	return v
}

func (p *Page) sensorView(s *sample, ss exchange.SensorStatus) SensorView {
	id := ss.ID
	sv := SensorView{ID: id, LastInput: ss.LastInput, Backlog: ss.BacklogMessages, BacklogBytes: ss.BacklogBytes,
		DeadLetters: ss.DeadLetters, Reasons: s.reasons[id], Err: ss.Err,
		Rates: p.hist.rates(func(s *sample) uint64 { return s.sensorRecords[id] })}
	if n := len(sv.Rates); n > 0 {
		sv.Rate = sv.Rates[n-1]
	}
	sv.State = SensorState(ss, s.at, p.o.SilentAfter)
	return sv
}

// SensorState is a sensor's state at now: error (its stream cannot be
// read), no input yet, silent (nothing stored for silentAfter) or ok.
func SensorState(ss exchange.SensorStatus, now time.Time, silentAfter time.Duration) string {
	switch {
	case ss.Err != "":
		return StateError
	case ss.LastInput.IsZero():
		return StateNoInput
	case now.Sub(ss.LastInput) > silentAfter:
		return StateSilent
	}
	return StateOK
}

// peerView makes a peer's line and says what is wrong with it, if
// anything.
func (p *Page) peerView(s *sample, ps exchange.PeerStatus) (PeerView, string) {
	id := ps.ID
	pv := PeerView{ID: id, Pending: pending(ps), Stored: ps.Messages, StoredBytes: ps.Bytes,
		LastDelivery: ps.LastDelivery, Err: ps.Err, State: StateOK,
		Rates: p.hist.rates(func(s *sample) uint64 { return s.delivered[id] })}
	for _, c := range ps.Consumers {
		pv.AckPending += c.AckPending
	}
	pv.Organisation, pv.TLP, pv.Policies = Subscriptions(s.cfg, id)
	if n := len(pv.Rates); n > 0 {
		pv.Rate = pv.Rates[n-1]
	}
	pv.PendingSeries = p.hist.series(func(s *sample) (uint64, bool) {
		for _, q := range s.status.Peers {
			if q.ID == id && q.Err == "" {
				return pending(q), true
			}
		}
		return 0, false
	})
	if ps.Err != "" {
		pv.State = StateError
		return pv, ps.Err
	}
	if then, ok := p.behind(id, pv.Pending); ok {
		pv.State = StateBehind
		return pv, fmt.Sprintf("is falling behind: %d messages pending, up from %d %s ago",
			pv.Pending, then, p.o.BehindAfter)
	}
	return pv, ""
}

// behind says whether a peer's pending messages grew over BehindAfter and
// never emptied meanwhile, and how many it had then.
func (p *Page) behind(peer string, now uint64) (uint64, bool) {
	if now == 0 {
		return 0, false
	}
	cut := p.hist.last().at.Add(-p.o.BehindAfter)
	start := -1
	for i, s := range p.hist.samples {
		if !s.at.After(cut) {
			start = i
		}
	}
	if start < 0 {
		return 0, false // not watched for long enough
	}
	var then uint64
	for i, s := range p.hist.samples[start:] {
		n, ok := peerPending(s, peer)
		if !ok || n == 0 {
			return 0, false
		}
		if i == 0 {
			then = n
		}
	}
	return then, now > then
}

func peerPending(s *sample, peer string) (uint64, bool) {
	for _, q := range s.status.Peers {
		if q.ID == peer {
			return pending(q), q.Err == ""
		}
	}
	return 0, false
}

// Subscriptions names a peer's organisation and the TLP labels ("none"
// for unlabelled) and policies of its subscriptions.
func Subscriptions(cfg *config.Config, peer string) (org string, tlps, policies []string) {
	for _, p := range cfg.Peers {
		if p.ID != peer {
			continue
		}
		for _, sub := range p.Subscriptions {
			name := sub.Policy
			if name == "" {
				name = config.PassPolicy
			}
			tlp := sub.TLP
			if spec, ok := cfg.Policies[name]; ok && tlp == "" {
				tlp = spec.TLP
			}
			if t, err := policy.ParseTLP(tlp); err == nil && t != "" {
				tlp = t.Header()
			}
			if tlp == "" {
				tlp = "none"
			} else {
				tlp = strings.ToUpper(tlp)
			}
			policies = appendNew(policies, name)
			tlps = appendNew(tlps, tlp)
		}
		return p.Organisation, tlps, policies
	}
	return "", nil, nil
}

func appendNew(s []string, v string) []string {
	if slices.Contains(s, v) {
		return s
	}
	return append(s, v)
}
