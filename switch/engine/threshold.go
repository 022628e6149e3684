package engine

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cofswitch/cofswitch/cof"
	"github.com/cofswitch/cofswitch/policy"
	"github.com/cofswitch/cofswitch/routing"
)

// The k-sensor release threshold (policy.Threshold): an rrset reaches a
// peer whose policy has one only once enough distinct sensors (and
// organisations) have seen it within the window. What the switch knows of
// each rrset lives in one entry of the JetStream key-value bucket
// routing.SeenBucket, shared by every switch process and updated with
// compare-and-set: who saw it (keyed hashes of sensor and organisation,
// with when), the observations held for each output (already transformed
// by the peer's policy, merged), and the inputs already counted in, so
// that a batch redelivered after a crash adds nothing twice.
//
// When an observation makes an rrset reach a peer's threshold, the held
// observations are frozen in the entry (pending, with a generation) in the
// same write, published to the peer under a message id naming the rrset,
// the output and the generation, and cleared once stored: whoever touches
// the entry next (the redelivered batch, another process) publishes a
// pending release again under the same id, and the duplicate window drops
// the copy.

// Bounds of one entry.
const (
	maxHeldLines    = 256 // held observations per output (merged); more are counted and dropped
	maxInputRanges  = 32  // runs of input sequences remembered per input stream, per rrset
	maxInputStreams = 64  // input streams remembered per rrset
	thresholdJobs   = 16  // rrsets updated at once per batch
	thresholdWindow = 256 // entries written at once per batch, awaited before the next ones
	maxCASAttempts  = 50
	seenCacheSize   = 1 << 15 // rrsets; about 1.5 KiB each with their maps
)

// seenEntry is the value of one rrset in the bucket (JSON: the
// operator's to read with `nats kv get`).
type seenEntry struct {
	Sensors map[string]int64    `json:"s"`           // keyed hash of sensor_id -> last seen (Unix s)
	Orgs    map[string]int64    `json:"o,omitempty"` // keyed hash of organisation -> last seen
	Applied inputSet            `json:"a,omitempty"` // inputs counted in
	Gen     uint64              `json:"g,omitempty"` // releases frozen so far
	Out     map[string]*heldOut `json:"h,omitempty"` // outputKey -> what is held for it
}

// heldOut is what an rrset holds for one output (peer, TLP, hold).
type heldOut struct {
	Lines   []string `json:"l,omitempty"` // held observations, transformed, merged
	Pending []string `json:"p,omitempty"` // released at generation Gen, being delivered
	Gen     uint64   `json:"g,omitempty"`
	Passed  inputSet `json:"d,omitempty"` // inputs whose observations were delivered at once
}

// obs is one observation of a batch under a threshold policy, or a
// sighting alone (out nil): a record no threshold policy kept, which
// counts its sensor and organisation and goes nowhere.
type obs struct {
	key     [16]byte
	out     *outBody // nil: a sighting alone
	th      policy.Threshold
	line    []byte // transformed, NDJSON with its newline
	sensor  string // keyed hash of sensor_id
	org     string // keyed hash of the publishing sensor's organisation
	release time.Duration
}

// thrRelease is one frozen release to publish.
type thrRelease struct {
	key   [16]byte
	out   *outBody
	gen   uint64
	lines []string
}

// thresholds is the engine's side of the threshold: the bucket, the key
// of its hashes, a cache of what this process last wrote, and counters.
type thresholds struct {
	key []byte
	js  jetstream.JetStream // the bucket's writes: a budget of asynchronous publishes of their own

	mu    sync.Mutex
	kv    jetstream.KeyValue
	cache map[[16]byte]*cachedSeen
}

// cachedSeen is what this process last read or wrote of an rrset: enough
// to deliver a released rrset's observations without asking the bucket.
type cachedSeen struct {
	sensors, orgs map[string]int64
	holding       map[string]bool // outputs with held or pending observations
	val           []byte          // the entry as written, at revision rev
	rev           uint64
}

func newThresholds(secret []byte) *thresholds {
	if secret == nil {
		secret = make([]byte, 32)
		_, _ = rand.Read(secret)
	}
	return &thresholds{key: derive(secret, "cofswitch threshold v1"), cache: map[[16]byte]*cachedSeen{}}
}

func (t *thresholds) hash(s string) string {
	m := hmac.New(sha256.New, t.key)
	m.Write([]byte(s))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:9])
}

func (t *thresholds) rrsetKey(b []byte) [16]byte {
	m := hmac.New(sha256.New, t.key)
	m.Write(b)
	var k [16]byte
	copy(k[:], m.Sum(nil))
	return k
}

// bucket binds the bucket once; the exchange creates it.
func (t *thresholds) bucket(ctx context.Context, js jetstream.JetStream) (jetstream.KeyValue, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.kv != nil {
		return t.kv, nil
	}
	kv, err := js.KeyValue(ctx, routing.SeenBucket)
	if err != nil {
		return nil, fmt.Errorf("threshold bucket %s: %w", routing.SeenBucket, err)
	}
	t.kv = kv
	return kv, nil
}

func (t *thresholds) cached(k [16]byte) *cachedSeen {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.cache[k]
}

func (t *thresholds) remember(k [16]byte, e *seenEntry, val []byte, rev uint64) {
	c := &cachedSeen{sensors: e.Sensors, orgs: e.Orgs, holding: map[string]bool{}, val: val, rev: rev}
	for o, h := range e.Out {
		if len(h.Lines) > 0 || len(h.Pending) > 0 {
			c.holding[o] = true
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.cache) >= seenCacheSize {
		// An eighth goes, chosen as the map's iteration order falls:
		// the hot rrsets, written often, are soon back. A miss only
		// costs a read of the bucket.
		n := seenCacheSize / 8
		for k := range t.cache {
			delete(t.cache, k)
			if n--; n == 0 {
				break
			}
		}
	}
	t.cache[k] = c
}

// refreshEvery is how stale this process lets its own record of a
// sensor's sighting become before it writes it again: hot rrsets cost one
// write per sensor and interval, not one per observation.
func refreshEvery(window time.Duration) time.Duration {
	return min(max(window/16, time.Minute), time.Hour)
}

// fast says whether every observation of one rrset can be delivered at
// once from the cache: the threshold reached, nothing held or pending for
// its output, and the sensor's sighting recent.
func (c *cachedSeen) fast(os []obs, now int64) bool {
	for _, o := range os {
		t, ok := c.sensors[o.sensor]
		if !ok || now-t > int64(refreshEvery(o.th.Window)/time.Second) {
			return false
		}
		if o.out == nil {
			continue
		}
		if c.holding[o.outKey()] {
			return false
		}
		if !o.th.Reached(within(c.sensors, now, o.th.Window), within(c.orgs, now, o.th.Window)) {
			return false
		}
	}
	return true
}

func (o *obs) outKey() string { return outputKey(o.out.peer, o.out.tlp, o.out.hold) }

func within(m map[string]int64, now int64, window time.Duration) int {
	n, from := 0, now-int64(window/time.Second)
	for _, t := range m {
		if t >= from {
			n++
		}
	}
	return n
}

// thresholdResult is what the bucket said of a batch's observations.
type thresholdResult struct {
	pass     []*obs // delivered at once
	releases []thrRelease
	held     map[string]int // records newly held, by peer
	expired  int
	overflow int
	created  int // rrsets new to the bucket
}

// applyThresholds records the batch's observations in the bucket and
// says which are delivered now, which are held and which releases to
// publish. seq and in name the input, for idempotency.
func (w *worker) applyThresholds(ctx context.Context, in Input, seq uint64, attempt int, reg *registry) (thresholdResult, error) {
	res := thresholdResult{held: map[string]int{}}
	if len(w.thr) == 0 {
		return res, nil
	}
	t := w.e.thr
	now := time.Now().Unix()
	groups := map[[16]byte][]obs{}
	var order [][16]byte
	for _, o := range w.thr {
		if _, ok := groups[o.key]; !ok {
			order = append(order, o.key)
		}
		groups[o.key] = append(groups[o.key], o)
	}
	var slow [][16]byte
	for _, k := range order {
		// Only a first delivery may skip the bucket: an earlier attempt
		// may have held what the cache would now deliver.
		if c := t.cached(k); attempt == 1 && c != nil && c.fast(groups[k], now) {
			for i := range groups[k] {
				if groups[k][i].out != nil { // a sighting alone goes nowhere
					res.pass = append(res.pass, &groups[k][i])
				}
			}
			continue
		}
		slow = append(slow, k)
	}
	if len(slow) == 0 {
		return res, nil
	}
	kv, err := t.bucket(ctx, t.js)
	if err != nil {
		return res, err
	}
	inID := inputRef{stream: t.hash("in:" + in.Sensor + ":" + in.Epoch), seq: seq}
	var lost [][16]byte
	for from := 0; from < len(slow); from += thresholdWindow {
		l, err := t.writeAll(ctx, t.js, slow[from:min(from+thresholdWindow, len(slow))], groups, inID, now, reg.maxWindow, &res)
		if err != nil {
			return res, err
		}
		lost = append(lost, l...)
	}
	slow = lost
	var mu sync.Mutex
	var errs []error
	sem := make(chan struct{}, thresholdJobs)
	var wg sync.WaitGroup
	for _, k := range slow {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			r, err := t.update(ctx, kv, k, groups[k], inID, now, reg.maxWindow)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			res.add(r)
		})
	}
	wg.Wait()
	return res, errors.Join(errs...)
}

// writeAll writes, in one pipelined round, the entries of the batch's
// rrsets: those this process does not know are created (most of a
// batch's are new: the long tail one sensor sees), those it wrote last
// are updated from what it wrote, both conditional on the revision. A
// write costs one message where a read and a compare-and-set cost two
// round trips. It returns the rrsets whose write lost a race, to update
// the slow way.
func (t *thresholds) writeAll(ctx context.Context, js jetstream.JetStream, keys [][16]byte, groups map[[16]byte][]obs, inID inputRef, now int64, maxWindow time.Duration, res *thresholdResult) ([][16]byte, error) {
	type attempt struct {
		k       [16]byte
		e       seenEntry
		r       thresholdResult
		val     []byte
		created bool
		fut     jetstream.PubAckFuture
	}
	var tries []*attempt
	var rest [][16]byte
	for _, k := range keys {
		a := &attempt{k: k}
		var rev uint64 // 0: create, only if absent
		if c := t.cached(k); c != nil {
			if err := json.Unmarshal(c.val, &a.e); err != nil {
				rest = append(rest, k)
				continue
			}
			rev = c.rev
		}
		a.r = a.e.apply(groups[k], inID, now, maxWindow)
		b, err := a.e.encode(&a.r)
		if err != nil {
			return nil, err
		}
		a.val, a.created = b, rev == 0
		m := nats.NewMsg("$KV." + routing.SeenBucket + "." + hex.EncodeToString(k[:]))
		m.Data = b
		m.Header.Set(jetstream.ExpectedLastSubjSeqHeader, strconv.FormatUint(rev, 10))
		if a.fut, err = js.PublishMsgAsync(m, jetstream.WithRetryAttempts(0)); err != nil {
			return nil, fmt.Errorf("threshold: writing rrset: %w", err)
		}
		tries = append(tries, a)
	}
	var errs []error
	for _, a := range tries {
		select {
		case ack := <-a.fut.Ok():
			if a.created {
				a.r.created++
			}
			t.remember(a.k, &a.e, a.val, ack.Sequence)
			res.add(a.r)
		case err := <-a.fut.Err():
			if !isWrongSequence(err) {
				errs = append(errs, fmt.Errorf("threshold: writing rrset: %w", err))
				continue
			}
			rest = append(rest, a.k) // another process wrote it: read, compare and set
		case <-ctx.Done():
			return nil, fmt.Errorf("threshold: writing rrsets: %w", ctx.Err())
		}
	}
	return rest, errors.Join(errs...)
}

// add counts r into res.
func (res *thresholdResult) add(r thresholdResult) {
	res.pass = append(res.pass, r.pass...)
	res.releases = append(res.releases, r.releases...)
	for p, n := range r.held {
		res.held[p] += n
	}
	res.expired += r.expired
	res.overflow += r.overflow
	res.created += r.created
}

// update applies one rrset's observations to its entry with
// compare-and-set, trying again when another process wrote in between.
func (t *thresholds) update(ctx context.Context, kv jetstream.KeyValue, k [16]byte, os []obs, inID inputRef, now int64, maxWindow time.Duration) (thresholdResult, error) {
	var r thresholdResult
	created, err := t.modify(ctx, kv, k, true, func(e *seenEntry) ([]byte, error) {
		r = e.apply(os, inID, now, maxWindow)
		return e.encode(&r)
	})
	if created {
		r.created++
	}
	return r, err
}

// modify reads rrset k's entry, changes it with change and writes it back
// conditional on the revision read, again while other writers win the
// race. A missing entry is made when create says so (change gets an empty
// one), and left missing otherwise; change returning nil bytes writes
// nothing. It says whether it made the entry.
func (t *thresholds) modify(ctx context.Context, kv jetstream.KeyValue, k [16]byte, create bool, change func(e *seenEntry) ([]byte, error)) (bool, error) {
	name := hex.EncodeToString(k[:])
	for range maxCASAttempts {
		var e seenEntry
		var rev uint64
		switch got, err := kv.Get(ctx, name); {
		case errors.Is(err, jetstream.ErrKeyNotFound):
			if !create {
				return false, nil
			}
		case err != nil:
			return false, fmt.Errorf("threshold: reading rrset %s: %w", name, err)
		default:
			rev = got.Revision()
			if err := json.Unmarshal(got.Value(), &e); err != nil {
				return false, fmt.Errorf("threshold: rrset %s: %w", name, err)
			}
		}
		b, err := change(&e)
		if err != nil || b == nil {
			return false, err
		}
		var nrev uint64
		if rev == 0 {
			nrev, err = kv.Create(ctx, name, b)
		} else {
			nrev, err = kv.Update(ctx, name, b, rev)
		}
		if err == nil {
			t.remember(k, &e, b, nrev)
			return rev == 0, nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) && !isWrongSequence(err) {
			return false, fmt.Errorf("threshold: writing rrset %s: %w", name, err)
		}
	}
	return false, fmt.Errorf("threshold: rrset %s: %d writers in a row won the race", name, maxCASAttempts)
}

func isWrongSequence(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence
}

// clearReleases drops the pending observations of releases now stored,
// unless a later release replaced them.
func (w *worker) clearReleases(ctx context.Context, rels []thrRelease) error {
	if len(rels) == 0 {
		return nil
	}
	kv, err := w.e.thr.bucket(ctx, w.e.thr.js)
	if err != nil {
		return err
	}
	var errs []error
	for _, rel := range rels {
		if err := w.e.thr.clear(ctx, kv, rel); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (t *thresholds) clear(ctx context.Context, kv jetstream.KeyValue, rel thrRelease) error {
	k := outputKey(rel.out.peer, rel.out.tlp, rel.out.hold)
	_, err := t.modify(ctx, kv, rel.key, false, func(e *seenEntry) ([]byte, error) {
		h := e.Out[k]
		if h == nil || h.Gen != rel.gen || len(h.Pending) == 0 {
			return nil, nil // cleared already
		}
		h.Pending = nil
		return json.Marshal(e)
	})
	return err
}

// observe notes one kept record of a threshold policy's route: its line
// waits in the worker until the bucket says what becomes of it.
func (w *worker) observe(key [16]byte, t target, out *cof.Record) {
	from := len(w.thrLines)
	w.thrLines = out.AppendLine(w.thrLines)
	w.thr = append(w.thr, obs{key: key, out: t.out, th: t.th, sensor: w.thrSensor, org: w.thrOrg,
		line: w.thrLines[from:len(w.thrLines):len(w.thrLines)]})
}

// sight notes that the record in hand's sensor saw rrset key, where no
// threshold policy kept the record: it counts towards every threshold
// (window: the longest), is delivered nowhere, and is written off the
// batch's path (sightings.go).
func (w *worker) sight(key [16]byte, window time.Duration) {
	w.sights = append(w.sights, obs{key: key, th: policy.Threshold{Window: window}, sensor: w.thrSensor, org: w.thrOrg})
}

// thresholds settles the batch's observations under threshold policies:
// those of released rrsets join their outputs, the others are held in
// the bucket, and the releases they trigger wait in w.thrRes for publish.
func (w *worker) thresholds(ctx context.Context, in Input, seq uint64, attempt int, reg *registry) error {
	w.thrRes = thresholdResult{}
	if len(w.thr) == 0 {
		return nil
	}
	res, err := w.applyThresholds(ctx, in, seq, attempt, reg)
	if err != nil {
		return err
	}
	for _, o := range res.pass {
		o.out.b = append(o.out.b, o.line...)
	}
	w.thrRes = res
	return nil
}
