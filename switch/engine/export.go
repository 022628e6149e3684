package engine

import (
	"bytes"
	"cmp"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cofswitch/cofswitch/cof"
	"github.com/cofswitch/cofswitch/policy"
	"github.com/cofswitch/cofswitch/routing"
)

// This file exports the engine's switching of one batch, its message ids
// and its output headers to what re-switches archived input
// (switch/backfill), so that a backfill decides exactly as the engine
// does, with the same code.

// Evaluator switches batches as a worker does, without the bus: it
// decodes, validates, binds sensor_id, routes and applies the policies of
// one registry. It is not safe for concurrent use.
type Evaluator struct {
	e   *Engine
	w   *worker
	reg *registry

	// For policies with a k-sensor threshold: the bucket the switch keeps
	// the sightings in, read only, and what it said of each rrset.
	seen     jetstream.KeyValue
	released map[[16]byte]*seenEntry
}

// NewEvaluator returns an Evaluator for the routing table and policies.
func NewEvaluator(table *routing.Table, pols *policy.Set) (*Evaluator, error) {
	if table == nil || pols == nil {
		return nil, fmt.Errorf("%w: nil routing table or policy set", ErrInvalidOption)
	}
	codec, err := cof.NewCodec()
	if err != nil {
		return nil, err
	}
	// The thresholds' key is random until UseThresholds gives the
	// switch's: without it no rrset is found released, and every record
	// under a threshold is held back.
	e := &Engine{codec: codec, thr: newThresholds(nil)}
	return &Evaluator{e: e, w: e.newWorker(), reg: newRegistry(table, pols)}, nil
}

// UseThresholds lets the Evaluator deliver the records of policies with
// a k-sensor threshold whose rrset the switch has found released: it reads
// the bucket kv (routing.SeenBucket) under the switch's secret, and never
// writes it. Without it, such records are held back (Evaluation.Held).
func (v *Evaluator) UseThresholds(secret []byte, kv jetstream.KeyValue) {
	v.e.thr, v.seen, v.released = newThresholds(secret), kv, map[[16]byte]*seenEntry{}
}

// ErrUnknownSensor reports an archived batch of a sensor the registry no
// longer has: a backfill delivers nothing of it.
var ErrUnknownSensor = errors.New("engine: sensor not registered")

// Close releases the codec.
func (v *Evaluator) Close() { v.e.codec.Close() }

// Output is what one batch gives one peer under one TLP label and one
// holding time, as the engine would publish it before cutting chunks.
type Output struct {
	TLP      string        // the Cofswitch-TLP header, "" for none
	Hold     time.Duration // the policy's coarsen_time bucket when it holds; 0: at once
	Versions string        // the Cofswitch-Policy-Version header
	Body     []byte        // NDJSON, valid until the next Evaluate
	Records  int
}

// Evaluation is what became of one batch for one peer.
type Evaluation struct {
	Outputs  []Output // sorted by TLP, then hold
	Records  int      // valid records in the batch
	Invalid  int      // lines the switch dead-letters
	Filtered int      // records of the peer's routes its policies withheld
	// Held counts the records of policies with a threshold whose rrset
	// the switch has not found released: a backfill delivers none of them
	// (they stay held where the switch holds them, not for this peer).
	Held int
}

// Evaluate switches one batch of sensor (data as stored, with its
// Content-Encoding header's value enc) and returns the peer's outputs.
func (v *Evaluator) Evaluate(ctx context.Context, sensor string, seq uint64, data []byte, enc, peer string) (Evaluation, error) {
	if _, ok := v.reg.table.Sensor(sensor); !ok {
		// A sensor removed since (its organisation left, or it sent
		// poison): the switch would take nothing of it now.
		return Evaluation{}, fmt.Errorf("%w: %q", ErrUnknownSensor, sensor)
	}
	e, err := cof.ParseEncoding(enc)
	if err == nil {
		err = v.w.br.Reset(data, e)
	}
	if err != nil {
		return Evaluation{}, err
	}
	in := v.w.route(sensor, seq, v.reg)
	ev := Evaluation{Records: in.records, Invalid: in.invalid}
	for _, o := range v.w.thr {
		if o.out == nil || o.out.peer != peer {
			continue // a sighting alone, or another peer's
		}
		released, err := v.isReleased(ctx, o)
		if err != nil {
			return Evaluation{}, err
		}
		if !released {
			ev.Held++
			continue
		}
		o.out.b = append(o.out.b, o.line...)
	}
	if c := v.w.counts[peer]; c != nil {
		ev.Filtered = c.filtered
	}
	for _, b := range v.w.bodies {
		if b.peer != peer || len(b.b) == 0 {
			continue
		}
		ev.Outputs = append(ev.Outputs, Output{TLP: b.tlp, Hold: b.hold, Versions: joinVersions(b.versions),
			Body: b.b, Records: bytes.Count(b.b, []byte{'\n'})})
	}
	slices.SortFunc(ev.Outputs, func(a, b Output) int {
		return cmp.Or(cmp.Compare(a.TLP, b.TLP), cmp.Compare(a.Hold, b.Hold))
	})
	v.w.trim()
	return ev, nil
}

// isReleased says whether the switch has found o's rrset released under
// o's threshold: seen by enough sensors and organisations within the
// window, as of now.
func (v *Evaluator) isReleased(ctx context.Context, o obs) (bool, error) {
	if v.seen == nil {
		return false, nil
	}
	e, ok := v.released[o.key]
	if !ok {
		got, err := v.seen.Get(ctx, hex.EncodeToString(o.key[:]))
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
		case err != nil:
			return false, fmt.Errorf("threshold bucket: %w", err)
		default:
			e = new(seenEntry)
			if err := json.Unmarshal(got.Value(), e); err != nil {
				return false, fmt.Errorf("threshold bucket: %w", err)
			}
		}
		if len(v.released) >= seenCacheSize {
			clear(v.released)
		}
		v.released[o.key] = e
	}
	if e == nil {
		return false, nil
	}
	now := time.Now().Unix()
	return o.th.Reached(within(e.Sensors, now, o.th.Window), within(e.Orgs, now, o.th.Window)), nil
}

func joinVersions(vs []string) string {
	var b []byte
	for i, s := range vs {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, s...)
	}
	return string(b)
}

// IDs makes the opaque message ids a peer sees from internal ids, under
// the switch's secret, as the engine's outputs get theirs.
type IDs struct{ s *secrets }

// NewIDs returns the ids of secret (at least MinSecretLen bytes).
func NewIDs(secret []byte) (*IDs, error) {
	s, err := newSecrets(secret)
	if err != nil {
		return nil, err
	}
	return &IDs{s}, nil
}

// MsgID is the Nats-Msg-Id of the output whose internal id is internal.
func (i *IDs) MsgID(internal string) string { return i.s.msgID(internal) }

// SetBatchHeaders writes on h what a peer may know of a batch, as the
// engine's outputs carry it: TLP label, encoding, records and the versions
// of the peer's own policies.
func SetBatchHeaders(h nats.Header, tlp string, enc cof.Encoding, records int, versions string) {
	setBatchHeaders(h, tlp, enc, records, versions)
}

// MaxOutputBytes is the largest output chunk the engine cuts for a server
// whose max payload is maxPayload (DefaultMaxOutputBytes unless the
// payload is smaller).
func MaxOutputBytes(maxPayload int64) int {
	return max(min(DefaultMaxOutputBytes, int(maxPayload)-outputHeadroom), 1024)
}

// SplitLines cuts an NDJSON body into chunks of at most max bytes at line
// ends, as the engine cuts its outputs.
func SplitLines(body []byte, max int) [][]byte { return splitLines(body, max) }

// ReleaseAt is the Unix second at which the bucket of size d holding t
// ends, when held outputs are released.
func ReleaseAt(t time.Time, d time.Duration) int64 { return releaseAt(t, d) }

// Merger merges held records as the releaser merges a page: identical
// rrsets (equal but for count and times) become one, counts summed and
// times widened, sorted by their merge key. A backfill delivers the held
// outputs of a bucket merged, so that a peer learns no more of them than
// a release tells (which records came in one input batch, how many
// repeats were behind an rrset).
type Merger struct {
	g  *mergeGroup
	br *cof.BatchReader
}

// NewMerger returns an empty Merger.
func (v *Evaluator) NewMerger() *Merger {
	return &Merger{g: &mergeGroup{recs: map[string]*cof.Record{}}, br: v.e.codec.NewBatchReader()}
}

// Add merges the records of an NDJSON body (an Output's).
func (m *Merger) Add(body []byte) error {
	if err := m.br.Reset(body, cof.Identity); err != nil {
		return err
	}
	for m.br.Next() {
		if rec := m.br.Record(); rec != nil {
			m.g.merge(rec)
		}
	}
	return nil
}

// Len is the records after merging.
func (m *Merger) Len() int { return len(m.g.recs) }

// Body is the merged records as NDJSON, sorted.
func (m *Merger) Body() []byte { return m.g.body() }
