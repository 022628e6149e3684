package api

import (
	"bufio"
	"net/http"
	"strconv"
	"strings"

	"github.com/cofswitch/cofswitch/cof"
	"github.com/cofswitch/cofswitch/peers/db"
)

// circl serves GET /pdns/query/<name-or-ip>: records whose rrname is the
// name or whose rdata is the name or address. Headers, as CIRCL's server
// reads them: dribble-filter-rrtype (types, comma-separated),
// dribble-paginate-count (page size) and dribble-paginate-cursor (where
// to resume); the answer's x-dribble-cursor says where the next page
// starts, and is absent on the last page.
func (s *Server) circl(w http.ResponseWriter, r *http.Request) {
	parts, ok := pathParts(r, "/pdns/query/")
	if !ok || len(parts) != 1 || parts[0] == "" {
		http.Error(w, "want /pdns/query/<name or address>", http.StatusBadRequest)
		return
	}
	value := strings.TrimSuffix(strings.ToLower(parts[0]), ".")
	var types []cof.Type
	if f := r.Header.Get("dribble-filter-rrtype"); f != "" {
		for _, t := range strings.Split(f, ",") {
			typ, ok := cof.ParseType(strings.TrimSpace(t))
			if !ok {
				http.Error(w, "dribble-filter-rrtype: unknown type "+strconv.Quote(t), http.StatusBadRequest)
				return
			}
			types = append(types, typ)
		}
	}
	count, cursor := DefaultLimit, 0
	if v := r.Header.Get("dribble-paginate-count"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			http.Error(w, "dribble-paginate-count: want a positive number", http.StatusBadRequest)
			return
		}
		count = min(n, DefaultLimit)
	}
	if v := r.Header.Get("dribble-paginate-cursor"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			http.Error(w, "dribble-paginate-cursor: not a cursor this server gave", http.StatusBadRequest)
			return
		}
		cursor = n
	}
	// Every match, in a stable order: the name's rrsets, then the rrsets
	// whose rdata names it (or holds the address). Besides one address,
	// a prefix and a range are taken in the DNSDB forms, because dnsdbq
	// in CIRCL mode sends "-i 192.0.2.0/24" as "192.0.2.0,24".
	var queries []db.Query
	if from, to, err := parseIPQuery(value); err == nil {
		queries = []db.Query{{IPFrom: from, IPTo: to}}
	} else {
		queries = []db.Query{{Name: value}, {RData: value + "."}, {RData: value}}
	}
	var all []*db.RRset
	seen := map[string]bool{}
	for _, q := range queries {
		q.Limit = cursor + count + 1
		sets, err := s.Store.Lookup(r.Context(), q)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		for _, set := range sets {
			k := set.Key()
			if seen[k] || (len(types) > 0 && !hasType(types, set.RRType)) {
				continue
			}
			seen[k] = true
			all = append(all, set)
		}
	}
	page := all[min(cursor, len(all)):]
	if len(page) > count {
		page = page[:count]
		w.Header().Set("x-dribble-cursor", strconv.Itoa(cursor+count))
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	bw := bufio.NewWriter(w)
	defer bw.Flush()
	var line []byte
	for _, set := range page {
		line = set.Record().AppendLine(line[:0])
		bw.Write(line)
	}
}

func hasType(types []cof.Type, t cof.Type) bool {
	for _, x := range types {
		if x == t {
			return true
		}
	}
	return false
}
