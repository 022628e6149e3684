package db

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"sync/atomic"

	"github.com/cofswitch/cofswitch/cof"
)

// Store keeps rrsets. Both implementations apply the same merge rules and
// answer the same queries.
type Store interface {
	// Apply merges the records of the batch at sequence seq of stream,
	// exactly once: a sequence already applied is skipped (a redelivery),
	// and the sequence is recorded with the merge. Sequence 0 (an import)
	// is always applied.
	Apply(ctx context.Context, stream string, seq uint64, recs []*cof.Record) (applied bool, err error)
	// Applied returns the sequence of stream up to which every batch is
	// applied.
	Applied(ctx context.Context, stream string) (uint64, error)
	// AdvanceApplied records that every sequence up to floor is done (the
	// consumer's ack floor, which also passes messages the stream lost).
	AdvanceApplied(ctx context.Context, stream string, floor uint64) error
	// Lookup answers a query.
	Lookup(ctx context.Context, q Query) ([]*RRset, error)
	Close() error
}

// Query selects rrsets. Exactly one of Name, RData and IP ranges is set.
// Names are matched in canonical form (lower case, no trailing dot, as
// cof gives rrname), whatever the spelling of the query.
type Query struct {
	// Name is an owner name: exact, "*.example.com" (every name strictly
	// below example.com) or "www.example.*" (every name under the prefix).
	Name string
	// RData is an rdata value (see ParseRDataQuery): an address (A and
	// AAAA data holding it); a name, with the same wildcards as Name,
	// matched against the names inside rdata (CNAME, NS, PTR, the
	// exchanger of MX, the target of SRV and SVCB...); and, when it is
	// no wildcard, any rdata value stored verbatim (a TXT string, a whole
	// "10 mx.example.com."), those after the name matches.
	RData string
	// IPFrom and IPTo bound an address range (a CIDR is its first and
	// last address), matched against A and AAAA data.
	IPFrom, IPTo netip.Addr

	Type      cof.Type // 0: any
	Bailiwick string   // "": any

	// Time fences, in seconds; 0 means unset.
	TimeFirstBefore, TimeFirstAfter int64
	TimeLastBefore, TimeLastAfter   int64

	// Offset skips that many matches; Limit 0 is DefaultLimit. The order
	// is each store's own, stable while the store does not change.
	Offset, Limit int
}

// DefaultLimit bounds an answer when the query gives no limit.
const DefaultLimit = 10000

// ErrBadQuery reports a query that selects nothing answerable.
var ErrBadQuery = errors.New("pdnsdb: bad query")

// WithExamineBudget bounds the index entries that every lookup made with
// the returned context examines together (the disk store's MaxExamined
// bounds each one alone): a query API gives each request one budget,
// whatever number of lookups the request makes.
func WithExamineBudget(ctx context.Context, n int64) context.Context {
	b := &atomic.Int64{}
	b.Store(n)
	return context.WithValue(ctx, budgetKey{}, b)
}

type budgetKey struct{}

// examineBudget returns the budget of ctx, if it has one.
func examineBudget(ctx context.Context) *atomic.Int64 {
	b, _ := ctx.Value(budgetKey{}).(*atomic.Int64)
	return b
}

// MaxExamined is the default of the index entries one lookup of the disk
// store may examine (DiskOptions.MaxExamined): a wildcard over a large zone with a filter that keeps few of
// its rrsets (a rare type, a narrow time fence) would otherwise walk the
// whole zone for one answer. Past it the lookup fails with ErrBadQuery,
// saying so. A lookup examining this many takes 0.5 to 3.5 s on the
// project's 2-core machine (names walk faster than addresses).
const MaxExamined = 1_000_000

// match applies the filters that every store applies after its index scan.
func (q *Query) match(s *RRset) bool {
	switch {
	case q.Type != 0 && s.RRType != q.Type,
		q.Bailiwick != "" && s.Bailiwick != q.Bailiwick,
		q.TimeFirstBefore != 0 && s.TimeFirst >= q.TimeFirstBefore,
		q.TimeFirstAfter != 0 && s.TimeFirst <= q.TimeFirstAfter,
		q.TimeLastBefore != 0 && s.TimeLast >= q.TimeLastBefore,
		q.TimeLastAfter != 0 && s.TimeLast <= q.TimeLastAfter:
		return false
	}
	return true
}

// wildcard splits a name query into its kind and the literal part.
func wildcard(name string) (kind byte, literal string) {
	switch {
	case strings.HasPrefix(name, "*."):
		return 'L', name[2:]
	case strings.HasSuffix(name, ".*"):
		return 'R', name[:len(name)-2]
	}
	return 0, name
}
