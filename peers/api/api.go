// Package api serves a db.Store over the two query APIs passive DNS
// clients speak: DNSDB API v2 (dnsdbq's default, SAF framing, X-Api-Key)
// and the CIRCL style (/pdns/query, HTTP Basic, dribble pagination). Both
// answer application/x-ndjson with canonical COF: integer times and count,
// rdata arrays, rrtype strings. It imports cof and peers/db only.
package api

import (
	"crypto/subtle"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/cofswitch/cofswitch/peers/db"
)

// Server answers queries from a store.
type Server struct {
	Store db.Store
	// APIKeys are accepted in X-Api-Key (DNSDB clients).
	APIKeys []string
	// Users are accepted with HTTP Basic (CIRCL clients): user -> password.
	Users map[string]string
	Log   *slog.Logger
}

// Handler returns the HTTP handler of both APIs.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /dnsdb/v2/rate_limit", s.auth(s.rateLimit))
	mux.HandleFunc("GET /dnsdb/v2/{verb}/{kind}/{by}/", s.auth(s.dnsdb))
	mux.HandleFunc("GET /pdns/query/", s.auth(s.circl))
	return mux
}

// auth admits a request with a known API key or Basic credentials.
func (s *Server) auth(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if key := r.Header.Get("X-Api-Key"); key != "" {
			for _, k := range s.APIKeys {
				if subtle.ConstantTimeCompare([]byte(k), []byte(key)) == 1 {
					next(w, r)
					return
				}
			}
		}
		if user, pass, ok := r.BasicAuth(); ok {
			if want, known := s.Users[user]; known && subtle.ConstantTimeCompare([]byte(want), []byte(pass)) == 1 {
				next(w, r)
				return
			}
		}
		w.Header().Set("WWW-Authenticate", `Basic realm="cofswitch pdns"`)
		http.Error(w, "missing or wrong credentials (X-Api-Key, or HTTP Basic)", http.StatusUnauthorized)
	}
}

// rateLimit answers what dnsdbq -I asks: no quota here.
func (s *Server) rateLimit(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte(`{"rate":{"reset":"n/a","limit":"unlimited","remaining":"n/a"}}` + "\n"))
}

// pathParts splits what follows prefix in the escaped path and decodes
// each part: dnsdbq percent-encodes them (%2A for '*', %2C for ',').
func pathParts(r *http.Request, prefix string) ([]string, bool) {
	rest, ok := strings.CutPrefix(r.URL.EscapedPath(), prefix)
	if !ok {
		return nil, false
	}
	var out []string
	for _, p := range strings.Split(strings.Trim(rest, "/"), "/") {
		v, err := urlUnescape(p)
		if err != nil {
			return nil, false
		}
		out = append(out, v)
	}
	return out, true
}

func intParam(r *http.Request, name string) (int64, bool) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return 0, true
	}
	n, err := strconv.ParseInt(v, 10, 64)
	return n, err == nil && n >= 0
}
