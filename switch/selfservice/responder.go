package selfservice

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"golang.org/x/time/rate"

	"github.com/cofswitch/cofswitch/config"
	"github.com/cofswitch/cofswitch/routing"
)

// requestTimeout bounds the bucket operations of one request.
const requestTimeout = 5 * time.Second

// Each change (set or clear) makes every switch process compile and swap
// its registry: a peer may make writeBurst changes at once, then one every
// writeEvery, per switch process that answers it.
const (
	writeBurst = 10
	writeEvery = 6 * time.Second
)

// Every request costs a read of the bucket and is answered in turn, one
// at a time for every peer: a peer may make askBurst requests at once,
// then one every askEvery, per switch process; those beyond are refused
// at once, without reading the request or the bucket, so that one peer's
// flood cannot hold up another's requests.
const (
	askBurst = 20
	askEvery = 100 * time.Millisecond
)

// Responder answers the peers' requests on cof.ctl.peer.* (see Request),
// checking each selection against the file's configuration in force.
type Responder struct {
	store *Store
	file  func() *config.Config
	log   *slog.Logger
	sub   *nats.Subscription

	mu     sync.Mutex
	limits map[string]*rate.Limiter // per peer, of its changes
	asks   map[string]*rate.Limiter // per peer, of its requests
}

// Serve answers requests on nc, in the queue group of every switch
// process, until Stop. file returns the file's configuration in force
// (not one with selections merged: the ceilings and the cross-organisation
// rule are the file's).
func Serve(nc *nats.Conn, store *Store, file func() *config.Config, log *slog.Logger) (*Responder, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := &Responder{store: store, file: file, log: log, limits: map[string]*rate.Limiter{}, asks: map[string]*rate.Limiter{}}
	sub, err := nc.QueueSubscribe(routing.ControlPrefix+"*", QueueGroup, r.handle)
	if err != nil {
		return nil, fmt.Errorf("selfservice: subscribe %s*: %w", routing.ControlPrefix, err)
	}
	r.sub = sub
	return r, nc.Flush()
}

// Stop stops answering; requests in hand are answered.
func (r *Responder) Stop() { _ = r.sub.Drain() }

// handle answers one request. The peer is the subject's: only the peer's
// own account can publish there.
func (r *Responder) handle(m *nats.Msg) {
	peer, err := routing.ControlledPeer(m.Subject)
	if err != nil || m.Reply == "" {
		return // not a request of a peer: nothing to answer
	}
	if !r.allowAsk(peer) {
		rep := Reply{Code: CodeTooMany, Peer: peer,
			Error: fmt.Sprintf("more than %d requests at once, or one every %v: try again later", askBurst, askEvery)}
		if data, err := json.Marshal(rep); err == nil {
			_ = m.Respond(data)
		}
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	rep := r.answer(ctx, peer, m.Data)
	data, err := json.Marshal(rep)
	if err != nil {
		data = []byte(`{"ok":false,"code":"unavailable","error":"selfservice: encoding the reply"}`)
	}
	if err := m.Respond(data); err != nil {
		r.log.Warn("self-service reply not sent", "peer", peer, "err", err)
	}
}

// answer runs one request of peer.
func (r *Responder) answer(ctx context.Context, peer string, data []byte) Reply {
	file := r.file()
	if len(data) > MaxRequestBytes {
		return r.refuse(ctx, file, peer, CodeBadRequest, fmt.Sprintf("request of %d bytes, at most %d", len(data), MaxRequestBytes))
	}
	var req Request
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return r.refuse(ctx, file, peer, CodeBadRequest, "malformed request: "+err.Error())
	}
	if dec.More() {
		return r.refuse(ctx, file, peer, CodeBadRequest, "malformed request: more than one JSON value")
	}
	if _, ok := file.PeerByID(peer); !ok {
		return Reply{Code: CodeNoCeiling, Error: fmt.Sprintf("peer %q is not configured", peer), Peer: peer}
	}
	if (req.Op == OpSet || req.Op == OpClear) && !r.allow(peer) {
		return r.refuse(ctx, file, peer, CodeTooMany, fmt.Sprintf("more than %d changes at once, or one every %v: try again later", writeBurst, writeEvery))
	}
	switch req.Op {
	case OpGet:
		return r.describe(ctx, file, peer)
	case OpSet:
		return r.set(ctx, file, peer, req)
	case OpClear:
		return r.clear(ctx, file, peer, req)
	}
	return r.refuse(ctx, file, peer, CodeBadRequest, fmt.Sprintf("unknown op %q (get, set or clear)", req.Op))
}

func (r *Responder) set(ctx context.Context, file *config.Config, peer string, req Request) Reply {
	if err := file.CheckSelection(peer, toConfig(req.Subscriptions)); err != nil {
		code := CodeRefused
		if errors.Is(err, config.ErrNoCeiling) {
			code = CodeNoCeiling
		}
		r.log.Info("self-service subscriptions refused", "peer", peer, "reason", err)
		return r.refuse(ctx, file, peer, code, err.Error())
	}
	pe, _ := file.PeerByID(peer) // CheckSelection found it
	v, err := r.store.Set(ctx, peer, pe.Organisation, req.Subscriptions, req.ExpectVersion)
	if err != nil {
		return r.refuse(ctx, file, peer, writeCode(err), err.Error())
	}
	sensors, policies := summary(req.Subscriptions)
	r.log.Info("self-service subscriptions stored", "peer", peer, "version", v, "sensors", sensors, "policies", policies)
	return r.describe(ctx, file, peer)
}

func (r *Responder) clear(ctx context.Context, file *config.Config, peer string, req Request) Reply {
	if p, ok := file.PeerByID(peer); !ok || p.Ceiling == nil {
		return r.refuse(ctx, file, peer, CodeNoCeiling, fmt.Sprintf("peer %q has no ceiling: its subscriptions are the operator's to set", peer))
	}
	if err := r.store.Clear(ctx, peer, req.ExpectVersion); err != nil {
		return r.refuse(ctx, file, peer, writeCode(err), err.Error())
	}
	r.log.Info("self-service subscriptions cleared: the file's apply", "peer", peer)
	return r.describe(ctx, file, peer)
}

// describe is the reply that shows what is in force for peer.
func (r *Responder) describe(ctx context.Context, file *config.Config, peer string) Reply {
	rep := Reply{OK: true, Peer: peer, Source: SourceFile}
	p, ok := file.PeerByID(peer)
	if !ok {
		return Reply{Code: CodeNoCeiling, Error: fmt.Sprintf("peer %q is not configured", peer), Peer: peer}
	}
	rep.Subscriptions = fromConfig(p.Subscriptions)
	if p.Ceiling != nil {
		rep.Ceiling = &Ceiling{Sensors: p.Ceiling.Sensors, Policies: p.Ceiling.Policies}
	}
	st, ok, err := r.store.Get(ctx, peer)
	if err != nil {
		return Reply{Code: CodeUnavailable, Error: err.Error(), Peer: peer}
	}
	if !ok {
		return rep
	}
	rep.Version = st.Version
	_, applied := Effective(file, map[string]Stored{peer: st})
	if a := applied[peer]; a.Ignored == "" {
		rep.Source, rep.Subscriptions, rep.Dropped = SourceSelf, fromConfig(a.Subscriptions), a.Dropped
	}
	return rep
}

// refuse is a refusal with the selection in force.
func (r *Responder) refuse(ctx context.Context, file *config.Config, peer, code, msg string) Reply {
	rep := r.describe(ctx, file, peer)
	if rep.Error != "" {
		msg += "; " + rep.Error
	}
	rep.OK, rep.Code, rep.Error = false, code, msg
	return rep
}

// allow takes one of peer's changes from its budget. There is a limiter
// per configured peer that asked, kept (a removed peer's stays until the
// process ends).
func (r *Responder) allow(peer string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	l, ok := r.limits[peer]
	if !ok {
		l = rate.NewLimiter(rate.Every(writeEvery), writeBurst)
		r.limits[peer] = l
	}
	return l.Allow()
}

// allowAsk takes one of peer's requests from its budget. Only configured
// peers get a limiter (without authentication anyone may name any peer):
// the others are answered that they are not configured, without a read
// of the bucket. A limiter is kept, like those of the changes.
func (r *Responder) allowAsk(peer string) bool {
	r.mu.Lock()
	l, ok := r.asks[peer]
	r.mu.Unlock()
	if !ok {
		if _, known := r.file().PeerByID(peer); !known {
			return true
		}
		r.mu.Lock()
		if l, ok = r.asks[peer]; !ok {
			l = rate.NewLimiter(rate.Every(askEvery), askBurst)
			r.asks[peer] = l
		}
		r.mu.Unlock()
	}
	return l.Allow()
}

func writeCode(err error) string {
	if errors.Is(err, ErrConflict) {
		return CodeConflict
	}
	return CodeUnavailable
}

// summary lists the sensors and policies of a selection, for the log.
func summary(subs []Subscription) (sensors, policies string) {
	var s, p []string
	for _, sub := range subs {
		s = append(s, sub.Sensors...)
		p = append(p, sub.Policy)
	}
	return strings.Join(s, ","), strings.Join(p, ",")
}
