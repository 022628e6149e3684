package feed

import (
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cofswitch/cofswitch/batchsig"
)

// refusedLogEvery bounds the log of refused batches: the first at once,
// then one line a minute with the count of those not logged.
const refusedLogEvery = time.Minute

// Refusal reasons (label reason of the metric).
const (
	ReasonUnsigned     = "unsigned"      // no exchange signature
	ReasonBadSignature = "bad_signature" // a signature that does not verify
)

// Guard checks the batches of a peer's feed against the exchange's public
// key(s) (batchsig.Verifier): a batch without a signature, or whose
// signature does not verify (forged, altered in transit, signed by
// another key), is refused. A refusal is counted and logged (at most once a
// minute, with the count of the others); what the caller does with the
// batch is its own (sink and db terminate it: it stays in the stream
// until its max_age, unapplied, and is never delivered again to that
// consumer). A nil *Guard passes everything: without --exchange-key a
// peer works as before.
//
// It is a prometheus.Collector of
// cofswitch_<subsystem>_unverified_batches_total{reason}.
type Guard struct {
	v    *batchsig.Verifier
	log  *slog.Logger
	desc *prometheus.Desc

	unsigned, bad atomic.Uint64

	mu         sync.Mutex
	lastLog    time.Time
	suppressed int
}

// NewGuard makes a guard of v; subsystem names its metric (sink, db);
// log may be nil.
func NewGuard(v *batchsig.Verifier, subsystem string, log *slog.Logger) *Guard {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Guard{v: v, log: log, desc: prometheus.NewDesc(prometheus.BuildFQName("cofswitch", subsystem, "unverified_batches_total"),
		"Batches of the feed refused because the exchange's signature was missing (unsigned) or did not verify (bad_signature): not applied, terminated.",
		[]string{"reason"}, nil)}
}

// Check verifies one delivery (its subject, headers and payload as
// stored); seq is its stream sequence, for the log. It returns nil when
// the batch may be applied, or the error (wrapping batchsig.ErrUnsigned or
// batchsig.ErrBadSignature) after counting and logging it.
func (g *Guard) Check(subject string, h map[string][]string, data []byte, seq uint64) error {
	if g == nil {
		return nil
	}
	err := g.v.VerifyMsg(subject, h, data)
	if err == nil {
		return nil
	}
	reason := ReasonBadSignature
	if errors.Is(err, batchsig.ErrUnsigned) {
		reason = ReasonUnsigned
		g.unsigned.Add(1)
	} else {
		g.bad.Add(1)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if time.Since(g.lastLog) < refusedLogEvery {
		g.suppressed++
		return err
	}
	g.log.Error("batch refused: not signed by the exchange's key; not applied, terminated (it stays in the stream until its max_age)",
		"subject", subject, "seq", seq, "reason", reason, "err", err, "refused_since_last_log", g.suppressed)
	g.lastLog, g.suppressed = time.Now(), 0
	return err
}

// Refused counts the batches refused, by reason.
func (g *Guard) Refused() (unsigned, bad uint64) {
	if g == nil {
		return 0, 0
	}
	return g.unsigned.Load(), g.bad.Load()
}

// Describe sends the descriptor.
func (g *Guard) Describe(ch chan<- *prometheus.Desc) { ch <- g.desc }

// Collect sends the counts.
func (g *Guard) Collect(ch chan<- prometheus.Metric) {
	u, b := g.Refused()
	ch <- prometheus.MustNewConstMetric(g.desc, prometheus.CounterValue, float64(u), ReasonUnsigned)
	ch <- prometheus.MustNewConstMetric(g.desc, prometheus.CounterValue, float64(b), ReasonBadSignature)
}
