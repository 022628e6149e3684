package api

import (
	"crypto/subtle"
	"fmt"
	"math"
	"net/http"
	"net/netip"
	"strconv"
	"time"
)

// auth admits a request with a known API key or Basic credentials, from a
// client address that has not failed too often, within the rate of the
// key or user (spend: rate_limit itself spends nothing).
func (s *Server) auth(next func(http.ResponseWriter, *http.Request, *identity), spend bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		key := r.Header.Get("X-Api-Key")
		user, pass, basic := r.BasicAuth()
		if key == "" && !basic {
			unauthorized(w, "missing credentials: send X-Api-Key, or HTTP Basic")
			return
		}
		now := s.now()
		client := clientAddr(r.RemoteAddr)
		// A client that failed too often is refused before its credentials
		// are checked: otherwise a right guess would still show.
		if wait := s.guard.admit(client, now); wait > 0 {
			tooMany(w, wait, "too many failed logins from your address")
			return
		}
		who, method := s.authenticate(key, user, pass, basic, now)
		if who == nil {
			logged := ""
			if _, known := s.users[user]; known && method == "basic" {
				logged = user // an unknown name may be a password typed in the wrong field
			}
			s.guard.failed(client, method, logged, now)
			unauthorized(w, "wrong credentials (X-Api-Key, or HTTP Basic)")
			return
		}
		if spend {
			if wait := who.spend(now); wait > 0 {
				s.log.Debug("rate limited", "who", who.name, "client", client, "retry_after", wait)
				tooMany(w, wait, "rate limit exceeded for "+who.name+" (see /dnsdb/v2/rate_limit)")
				return
			}
		}
		next(w, r, who)
	}
}

// authenticate returns who the credentials name, or nil and the method
// that failed ("api-key" or "basic"). Every key is compared, in constant
// time; an unknown user costs a bcrypt comparison like a known one.
func (s *Server) authenticate(key, user, pass string, basic bool, now time.Time) (*identity, string) {
	if key != "" {
		var found *identity
		for _, k := range s.keys {
			if subtle.ConstantTimeCompare(k.secret, []byte(key)) == 1 && found == nil {
				found = k.who
			}
		}
		if found != nil {
			return found, ""
		}
		if !basic {
			return nil, "api-key"
		}
	}
	acct, known := s.users[user]
	switch {
	case !known:
		if s.dummy != nil {
			s.dummy.check(pass)
		}
		return nil, "basic"
	case acct.pw.Plaintext():
		if acct.pw.check(pass) {
			return acct.who, ""
		}
		// A failure costs what an unknown user's does (a bcrypt check
		// when the file has a hash), so that timing does not tell a
		// plaintext user from a name that is no user.
		if s.dummy != nil {
			s.dummy.check(pass)
		}
	case s.verified.has(user, pass, now):
		return acct.who, ""
	case acct.pw.check(pass):
		s.verified.add(user, pass, now)
		return acct.who, ""
	}
	return nil, "basic"
}

// clientAddr is the address failed logins are counted by: the IPv4
// address, or the /64 of an IPv6 one (a host commonly has a whole /64).
func clientAddr(remote string) string {
	ap, err := netip.ParseAddrPort(remote)
	if err != nil {
		return remote
	}
	a := ap.Addr().Unmap().WithZone("")
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}

func unauthorized(w http.ResponseWriter, msg string) {
	w.Header().Set("WWW-Authenticate", `Basic realm="cofswitch pdns"`)
	http.Error(w, msg, http.StatusUnauthorized)
}

// tooMany answers 429 with Retry-After in whole seconds, rounded up.
func tooMany(w http.ResponseWriter, wait time.Duration, msg string) {
	secs := int64(math.Ceil(wait.Seconds()))
	if secs < 1 {
		secs = 1
	}
	w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
	http.Error(w, fmt.Sprintf("%s: retry in %d s", msg, secs), http.StatusTooManyRequests)
}
