package api

import (
	"bufio"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/cofswitch/cofswitch/cof"
	"github.com/cofswitch/cofswitch/peers/db"
)

var urlUnescape = url.PathUnescape

// Bounds of the work of one query.
const (
	// DefaultLimit is the default of the most results one answer holds
	// (WithMaxResults): what a DNSDB query without limit gets, as DNSDB
	// does, and the most any query gets (DNSDB limit, CIRCL
	// dribble-paginate-count): results_max in /dnsdb/v2/rate_limit.
	DefaultLimit = 10000
	// MaxOffset is the furthest a query may skip into its matches (DNSDB
	// offset, the position in a CIRCL cursor): offset_max in
	// /dnsdb/v2/rate_limit. Skipping costs a walk of the index, so
	// beyond this a query is refused (400) and must be narrowed with time
	// fences or an rrtype instead.
	MaxOffset = 100000
)

// dnsdb serves /dnsdb/v2/{lookup|summarize}/{rrset|rdata}/{name|ip}/...
// in SAF framing: a begin line, one {"obj":...} per result, then
// succeeded, limited (the limit was reached) or failed.
func (s *Server) dnsdb(w http.ResponseWriter, r *http.Request, _ *identity) {
	verb, kind, by := r.PathValue("verb"), r.PathValue("kind"), r.PathValue("by")
	parts, ok := pathParts(r, "/dnsdb/v2/"+verb+"/"+kind+"/"+by+"/")
	if !ok || len(parts) == 0 || parts[0] == "" || (verb != "lookup" && verb != "summarize") {
		safFail(w, http.StatusBadRequest, "bad path: want /dnsdb/v2/{lookup|summarize}/{rrset/name|rdata/name|rdata/ip}/VALUE[/TYPE[/BAILIWICK]]")
		return
	}
	if err := unsupported(r); err != nil {
		safFail(w, http.StatusBadRequest, err.Error())
		return
	}
	q, err := dnsdbQuery(kind, by, parts, r, s.now(), s.maxResults)
	if err != nil {
		status := http.StatusBadRequest
		if errors.As(err, new(errOffset)) {
			status = http.StatusRequestedRangeNotSatisfiable
		}
		safFail(w, status, err.Error())
		return
	}
	limit := q.Limit
	q.Limit++ // one more than asked tells "limited" from "succeeded"
	ctx, cancel := s.queryContext(r)
	defer cancel()
	sets, err := s.store.Lookup(ctx, q)
	if err != nil {
		status, msg := s.lookupFailed(err)
		safFail(w, status, msg)
		return
	}
	limited := len(sets) > limit
	if limited {
		sets = sets[:limit]
	}
	if len(sets) == 0 {
		notFound(w)
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	bw := s.answer(w)
	defer bw.Flush()
	bw.WriteString(`{"cond":"begin"}` + "\n")
	if verb == "summarize" {
		writeSummary(bw, sets)
	} else {
		var line []byte
		for _, set := range sets {
			line = append(line[:0], `{"obj":`...)
			line = set.Record().AppendJSON(line)
			line = append(line, "}\n"...)
			bw.Write(line)
		}
	}
	if limited {
		msg := fmt.Sprintf("Result limit reached: %d results; the next ones follow with offset=%d", limit, q.Offset+limit)
		if q.Offset+limit > MaxOffset {
			msg = fmt.Sprintf("Result limit reached: %d results; more match than offset_max (%d) lets a client page through: narrow the query with time fences or an rrtype", limit, MaxOffset)
		}
		bw.WriteString(`{"cond":"limited","msg":` + string(cof.AppendJSONString(nil, msg)) + "}\n")
		return
	}
	bw.WriteString(`{"cond":"succeeded"}` + "\n")
}

func writeSummary(bw *bufio.Writer, sets []*db.RRset) {
	var count, first, last int64
	for i, s := range sets {
		count += s.Count
		if i == 0 || s.TimeFirst < first {
			first = s.TimeFirst
		}
		last = max(last, s.TimeLast)
	}
	fmt.Fprintf(bw, `{"obj":{"count":%d,"num_results":%d`, count, len(sets))
	if len(sets) > 0 {
		fmt.Fprintf(bw, `,"time_first":%d,"time_last":%d`, first, last)
	}
	bw.WriteString("}}\n")
}

// dnsdbQuery builds a store query from the path and the parameters.
func dnsdbQuery(kind, by string, parts []string, r *http.Request, now time.Time, maxResults int) (db.Query, error) {
	var q db.Query
	value := parts[0]
	switch kind + "/" + by {
	case "rrset/name":
		q.Name = strings.TrimSuffix(strings.ToLower(value), ".")
		if len(parts) > 2 && parts[2] != "" {
			q.Bailiwick = strings.TrimSuffix(strings.ToLower(parts[2]), ".")
		}
	case "rdata/name":
		q.RData = value
	case "rdata/ip":
		from, to, err := parseIPQuery(value)
		if err != nil {
			return q, err
		}
		q.IPFrom, q.IPTo = from, to
	case "rrset/raw", "rdata/raw":
		return q, fmt.Errorf("%s/%s: raw (hex wire format) lookups are not supported: look up by name or address", kind, by)
	default:
		return q, fmt.Errorf("unknown lookup %s/%s: want rrset/name, rdata/name or rdata/ip", kind, by)
	}
	if len(parts) > 1 && parts[1] != "" && !strings.EqualFold(parts[1], "ANY") {
		t, ok := cof.ParseType(parts[1])
		if !ok {
			return q, fmt.Errorf("unknown rrtype %q", parts[1])
		}
		q.Type = t
	}
	fences := []struct {
		name string
		dst  *int64
	}{
		{"time_first_before", &q.TimeFirstBefore}, {"time_first_after", &q.TimeFirstAfter},
		{"time_last_before", &q.TimeLastBefore}, {"time_last_after", &q.TimeLastAfter},
	}
	for _, f := range fences {
		v, ok := fenceParam(r, f.name, now)
		if !ok {
			return q, fmt.Errorf("%s: want seconds since the epoch, or a negative number of seconds before now", f.name)
		}
		*f.dst = v
	}
	limit, ok := intParam(r, "limit")
	if !ok {
		return q, fmt.Errorf("limit: want a number")
	}
	offset, ok := intParam(r, "offset")
	if !ok {
		return q, fmt.Errorf("offset: want a number")
	}
	if offset > MaxOffset {
		return q, errOffset{fmt.Errorf("offset %d is beyond this server's maximum of %d (offset_max in /dnsdb/v2/rate_limit): narrow the query with time fences or an rrtype", offset, MaxOffset)}
	}
	q.Limit, q.Offset = int(limit), int(offset)
	if q.Limit <= 0 || q.Limit > maxResults {
		q.Limit = maxResults
	}
	return q, nil
}

// errOffset is an offset past offset_max: DNSDB answers it 416.
type errOffset struct{ error }

// unsupported refuses the DNSDB parameters whose other values this
// server cannot honour, rather than ignore them.
func unsupported(r *http.Request) error {
	v := r.URL.Query()
	switch strings.ToLower(v.Get("aggr")) {
	case "", "t", "true", "1":
	default:
		return fmt.Errorf("aggr=%s: unaggregated results are not supported: this database keeps aggregated rrsets only", v.Get("aggr"))
	}
	switch strings.ToLower(v.Get("humantime")) {
	case "", "f", "false", "0":
	default:
		return fmt.Errorf("humantime=%s is not supported: times are seconds since the epoch", v.Get("humantime"))
	}
	return nil
}

// fenceParam reads a time fence: seconds since the epoch, or a negative
// number of seconds before now (as DNSDB takes them). 0 is unset.
func fenceParam(r *http.Request, name string, now time.Time) (int64, bool) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return 0, true
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, false
	}
	if n < 0 {
		n = max(1, now.Unix()+n)
	}
	return n, true
}

// parseIPQuery reads "192.0.2.1", "192.0.2.0,24" (CIDR in DNSDB's comma
// form, or with '/') and "192.0.2.1-192.0.2.9".
func parseIPQuery(v string) (netip.Addr, netip.Addr, error) {
	if lo, hi, ok := strings.Cut(v, "-"); ok {
		a, err1 := netip.ParseAddr(lo)
		b, err2 := netip.ParseAddr(hi)
		if err1 != nil || err2 != nil || a.Is4() != b.Is4() || b.Less(a) {
			return netip.Addr{}, netip.Addr{}, fmt.Errorf("bad address range %q", v)
		}
		return a, b, nil
	}
	if strings.ContainsAny(v, ",/") {
		p, err := netip.ParsePrefix(strings.Replace(v, ",", "/", 1))
		if err != nil {
			return netip.Addr{}, netip.Addr{}, fmt.Errorf("bad prefix %q", v)
		}
		p = p.Masked()
		return p.Addr(), lastAddr(p), nil
	}
	a, err := netip.ParseAddr(v)
	if err != nil {
		return netip.Addr{}, netip.Addr{}, fmt.Errorf("bad address %q", v)
	}
	return a, a, nil
}

func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 1 << (7 - i%8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

func safFail(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(status)
	line := append([]byte(`{"cond":"failed","msg":`), cof.AppendJSONString(nil, msg)...)
	_, _ = w.Write(append(line, "}\n"...))
}
