package api

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/cofswitch/cofswitch/cof"
	"github.com/cofswitch/cofswitch/peers/db"
)

const (
	// cursorSpan separates the parts of a CIRCL cursor: phase*cursorSpan
	// + the offset within the phase. It exceeds MaxOffset plus a page.
	cursorSpan = 1_000_000_000
	// maxFilterTypes bounds dribble-filter-rrtype: each type is a lookup
	// of its own.
	maxFilterTypes = 16
	// minChunk is the least a CIRCL page asks the store for at once.
	minChunk = 1000
)

// circl serves GET /pdns/query/<name-or-ip>: records whose rrname is the
// name or whose rdata is the name or address. Headers, as CIRCL's server
// reads them: dribble-filter-rrtype (types, comma-separated),
// dribble-paginate-count (page size, at most DefaultLimit) and
// dribble-paginate-cursor (where to resume); the answer's x-dribble-cursor
// says where the next page starts, and is absent on the last page.
//
// The matches are the concatenation of phases, each one store lookup: the
// name's rrsets, then those whose rdata names it (or holds the address);
// per type when types are given. A cursor is a phase and an offset within
// it, so a page costs one walk to its offset (at most MaxOffset), never a
// collection of every match before it.
func (s *Server) circl(w http.ResponseWriter, r *http.Request, _ *identity) {
	parts, ok := pathParts(r, "/pdns/query/")
	if ok && len(parts) == 2 && isPrefixLen(parts[1]) {
		parts = []string{parts[0] + "/" + parts[1]} // a CIDR as PyPDNS sends it, unescaped
	}
	if !ok || len(parts) != 1 || parts[0] == "" {
		http.Error(w, "want /pdns/query/<name, address, CIDR or range>", http.StatusBadRequest)
		return
	}
	value := strings.TrimSuffix(strings.ToLower(parts[0]), ".")
	types, err := circlTypes(r.Header.Get("dribble-filter-rrtype"))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	count, at, err := circlPaging(r, s.maxResults)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	phases := circlPhases(value, types)
	if at.phase >= len(phases) {
		http.Error(w, "dribble-paginate-cursor: not a cursor this server gave", http.StatusBadRequest)
		return
	}
	ctx, cancel := s.queryContext(r)
	defer cancel()
	page, next, more, err := s.circlPage(ctx, phases, at, count)
	if err != nil {
		status, msg := s.lookupFailed(err)
		http.Error(w, msg, status)
		return
	}
	if len(page) == 0 {
		notFound(w)
	}
	if more {
		w.Header().Set("x-dribble-cursor", strconv.Itoa(next.phase*cursorSpan+next.offset))
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	bw := s.answer(w)
	defer bw.Flush()
	var line []byte
	for _, set := range page {
		line = circlLine(line[:0], set)
		bw.Write(line)
	}
}

// circlLine writes an rrset as CIRCL clients read it: COF, with the rrtype
// as a number when it has no plain mnemonic (TYPEnnn, or one with a
// hyphen such as NSAP-PTR). PyPDNS maps a string rrtype through
// dnspython's names and fails on any other; the COF draft sends unknown
// types as numbers.
func circlLine(dst []byte, set *db.RRset) []byte {
	start := len(dst)
	dst = set.Record().AppendLine(dst)
	name := set.RRType.String()
	if !strings.HasPrefix(name, "TYPE") && !strings.Contains(name, "-") {
		return dst
	}
	// The first `,"rrtype":"` is the field: inside a JSON string a quote
	// is escaped.
	field := []byte(`,"rrtype":"` + name + `"`)
	i := bytes.Index(dst[start:], field)
	if i < 0 {
		return dst
	}
	i += start
	num := strconv.AppendUint([]byte(`,"rrtype":`), uint64(set.RRType), 10)
	return slices.Concat(dst[:i], num, dst[i+len(field):])
}

// isPrefixLen reports whether s is a prefix length (0 to 128).
func isPrefixLen(s string) bool {
	n, err := strconv.Atoi(s)
	return err == nil && n >= 0 && n <= 128 && strconv.Itoa(n) == s
}

// circlPos is a position in the matches: a phase, an offset within it.
type circlPos struct{ phase, offset int }

// circlPhase is one lookup of a CIRCL query; dup tells an rrset an
// earlier phase of the same type already gave.
type circlPhase struct {
	q   db.Query
	dup func(*db.RRset) bool
}

func circlTypes(header string) ([]cof.Type, error) {
	var types []cof.Type
	if header == "" {
		return nil, nil
	}
	for _, t := range strings.Split(header, ",") {
		typ, ok := cof.ParseType(strings.TrimSpace(t))
		if !ok {
			return nil, fmt.Errorf("dribble-filter-rrtype: unknown type %q", t)
		}
		if !slices.Contains(types, typ) {
			types = append(types, typ)
		}
	}
	if len(types) > maxFilterTypes {
		return nil, fmt.Errorf("dribble-filter-rrtype: more than %d types", maxFilterTypes)
	}
	return types, nil
}

// circlPaging reads the page size (at most maxResults) and the cursor.
func circlPaging(r *http.Request, maxResults int) (int, circlPos, error) {
	count := maxResults
	if v := r.Header.Get("dribble-paginate-count"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			return 0, circlPos{}, fmt.Errorf("dribble-paginate-count: want a positive number")
		}
		count = min(n, maxResults)
	}
	var at circlPos
	if v := r.Header.Get("dribble-paginate-cursor"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return 0, circlPos{}, fmt.Errorf("dribble-paginate-cursor: not a cursor this server gave")
		}
		at = circlPos{int(n / cursorSpan), int(n % cursorSpan)}
		if at.offset > MaxOffset {
			return 0, circlPos{}, fmt.Errorf("dribble-paginate-cursor: %d is past this server's maximum offset of %d: narrow the query with dribble-filter-rrtype", n, MaxOffset)
		}
	}
	return count, at, nil
}

// circlPhases lists the lookups of a value: one for an address, a prefix
// or a range (in the DNSDB forms too, because dnsdbq in CIRCL mode sends
// "-i 192.0.2.0/24" as "192.0.2.0,24"); else the owner name, then the
// rdata naming it (canonical names inside rdata, or the value stored
// verbatim), less the rrsets the first phase gave. Wildcards ("*.zone",
// "prefix.*") apply to both. Per type, when types are given.
func circlPhases(value string, types []cof.Type) []circlPhase {
	var kinds []circlPhase
	if from, to, err := parseIPQuery(value); err == nil {
		kinds = []circlPhase{{q: db.Query{IPFrom: from, IPTo: to}}}
	} else {
		kinds = []circlPhase{{q: db.Query{Name: value}}}
		if kind, lit, ok := db.ParseNameQuery(value); ok {
			named := func(s *db.RRset) bool { return db.NameMatch(kind, lit, s.RRName) }
			kinds = append(kinds, circlPhase{q: db.Query{RData: value}, dup: named})
		} else {
			kinds = append(kinds, circlPhase{q: db.Query{RData: value}})
		}
	}
	if len(types) == 0 {
		return kinds
	}
	var out []circlPhase
	for _, k := range kinds {
		for _, t := range types {
			p := k
			p.q.Type = t
			out = append(out, p)
		}
	}
	return out
}

// circlPage collects up to count rrsets from position at, in chunks of at
// least minChunk, and says where the next page starts if there is one.
// A walk that passes MaxOffset within a phase stops there: its cursor is
// then refused, so the client learns the query is too broad.
func (s *Server) circlPage(ctx context.Context, phases []circlPhase, at circlPos, count int) ([]*db.RRset, circlPos, bool, error) {
	chunk := max(count+1, minChunk)
	var page []*db.RRset
	for ph := at.phase; ph < len(phases); ph++ {
		off := 0
		if ph == at.phase {
			off = at.offset
		}
		for {
			q := phases[ph].q
			q.Offset, q.Limit = off, chunk
			sets, err := s.store.Lookup(ctx, q)
			if err != nil {
				return nil, circlPos{}, false, err
			}
			for i, set := range sets {
				if d := phases[ph].dup; d != nil && d(set) {
					continue
				}
				if len(page) == count {
					return page, circlPos{ph, off + i}, true, nil
				}
				page = append(page, set)
			}
			if len(sets) < chunk {
				break
			}
			if off += len(sets); off > MaxOffset {
				return page, circlPos{ph, off}, true, nil
			}
		}
	}
	return page, circlPos{}, false, nil
}
