package api

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/cofswitch/cofswitch/secretfile"
)

// ErrNoCredentials reports a query server given no API key and no user:
// the database does not answer anonymous queries.
var ErrNoCredentials = errors.New("api: no API key and no user")

// ErrPasswordFormat reports a users file line whose password is in a form
// the server does not take: a hash scheme other than bcrypt, or a bcrypt
// hash that does not parse.
var ErrPasswordFormat = errors.New("api: password format")

// Credentials are what the server accepts: API keys (X-Api-Key) and users
// (HTTP Basic).
type Credentials struct {
	Keys  []string
	Users map[string]Password
	// UsersFile names the file the users came from, for the warning about
	// plaintext passwords.
	UsersFile string
}

// Password checks one user's password: a bcrypt hash (htpasswd -B), or
// the plaintext itself, which is accepted but warned about.
type Password struct {
	hash  []byte
	plain string
}

// PlainPassword returns a password stored as its plaintext.
func PlainPassword(p string) Password { return Password{plain: p} }

// PasswordHash returns a password stored as a bcrypt hash ($2y$, $2a$ or
// $2b$, as htpasswd -B and bcrypt libraries write them).
func PasswordHash(h string) (Password, error) {
	if !isBcrypt(h) {
		return Password{}, fmt.Errorf("%w: not a bcrypt hash ($2y$, $2a$ or $2b$)", ErrPasswordFormat)
	}
	// bcrypt.Cost parses the whole hash: cost, salt and digest lengths.
	if _, err := bcrypt.Cost([]byte(h)); err != nil {
		return Password{}, fmt.Errorf("%w: bcrypt hash: %v", ErrPasswordFormat, err)
	}
	return Password{hash: []byte(h)}, nil
}

// Plaintext reports whether the password is stored as its plaintext.
func (p Password) Plaintext() bool { return p.hash == nil }

// check compares a candidate: constant time for a plaintext, bcrypt for a
// hash (about 50-100 ms at the default cost; verifyCache spares repeats).
func (p Password) check(candidate string) bool {
	if p.hash == nil {
		return subtle.ConstantTimeCompare([]byte(p.plain), []byte(candidate)) == 1
	}
	return bcrypt.CompareHashAndPassword(p.hash, []byte(candidate)) == nil
}

func isBcrypt(h string) bool {
	return strings.HasPrefix(h, "$2y$") || strings.HasPrefix(h, "$2a$") || strings.HasPrefix(h, "$2b$")
}

// refusedSchemes are the other hash forms htpasswd and crypt(3) write.
// Taking one as a plaintext password would lock its user out silently.
var refusedSchemes = []struct{ prefix, name string }{
	{"$apr1$", "apr1 (MD5, htpasswd -m)"},
	{"{SHA}", "{SHA} (SHA-1, htpasswd -s)"},
	{"$1$", "MD5-crypt"},
	{"$5$", "SHA-256-crypt"},
	{"$6$", "SHA-512-crypt"},
	{"$2", "bcrypt variant"}, // $2x$ and the like; $2y$, $2a$, $2b$ pass before
}

// parsePassword reads the part of a users file line after "user:".
func parsePassword(v string) (Password, error) {
	if isBcrypt(v) {
		return PasswordHash(v)
	}
	for _, s := range refusedSchemes {
		if strings.HasPrefix(v, s.prefix) {
			return Password{}, fmt.Errorf("%w: %s hashes are not accepted", ErrPasswordFormat, s.name)
		}
	}
	return PlainPassword(v), nil
}

// LoadCredentials reads API keys, one per line, from keysFile and the
// comma-separated list envKeys, and users from usersFile in htpasswd
// format: user:HASH with a bcrypt hash (htpasswd -B), or user:password
// (accepted; New warns about it). Other hash schemes are refused with
// ErrPasswordFormat, naming the line. Either file may be "". Blank lines
// and # comments are skipped. Having neither keys nor users is
// ErrNoCredentials.
func LoadCredentials(keysFile, usersFile, envKeys string) (Credentials, error) {
	c := Credentials{Users: map[string]Password{}, UsersFile: usersFile}
	if envKeys != "" {
		c.Keys = append(c.Keys, strings.Split(envKeys, ",")...)
	}
	keys, err := readLines(keysFile)
	if err != nil {
		return Credentials{}, err
	}
	for _, l := range keys {
		c.Keys = append(c.Keys, l.text)
	}
	users, err := readLines(usersFile)
	if err != nil {
		return Credentials{}, err
	}
	for _, l := range users {
		user, pass, ok := strings.Cut(l.text, ":")
		if !ok || user == "" || pass == "" {
			return Credentials{}, fmt.Errorf("api: %s:%d: a line is not user:password or user:HASH", usersFile, l.n)
		}
		pw, err := parsePassword(pass)
		if err != nil {
			return Credentials{}, fmt.Errorf("api: %s:%d: user %q: %w (write a bcrypt hash: htpasswd -B %s %s)",
				usersFile, l.n, user, err, usersFile, user)
		}
		c.Users[user] = pw
	}
	if len(c.Keys) == 0 && len(c.Users) == 0 {
		return Credentials{}, ErrNoCredentials
	}
	return c, nil
}

type line struct {
	n    int
	text string
}

func readLines(path string) ([]line, error) {
	if path == "" {
		return nil, nil
	}
	data, err := secretfile.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("api: %w", err)
	}
	var out []line
	for i, l := range strings.Split(string(data), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			out = append(out, line{i + 1, l})
		}
	}
	return out, nil
}

// Defaults of the cache of successful password checks.
const (
	// DefaultVerifiedTTL is how long a successful bcrypt check is
	// remembered.
	DefaultVerifiedTTL = 10 * time.Minute
	// DefaultVerifiedMax bounds the remembered checks.
	DefaultVerifiedMax = 1024
)

// verifyCache remembers successful bcrypt checks, so that an authenticated
// client's requests do not each cost a bcrypt comparison. It holds an HMAC
// (under a key made at start) of user and password, never either; failed
// checks are not remembered.
type verifyCache struct {
	mu   sync.Mutex
	key  []byte
	ttl  time.Duration
	max  int
	seen map[[sha256.Size]byte]time.Time // -> expiry
}

func newVerifyCache(ttl time.Duration, max int) *verifyCache {
	key := make([]byte, 32)
	_, _ = rand.Read(key) // crypto/rand.Read never fails (Go 1.24+)
	return &verifyCache{key: key, ttl: ttl, max: max, seen: map[[sha256.Size]byte]time.Time{}}
}

func (c *verifyCache) sum(user, pass string) [sha256.Size]byte {
	m := hmac.New(sha256.New, c.key)
	fmt.Fprintf(m, "%d:%s", len(user), user)
	m.Write([]byte(pass))
	var out [sha256.Size]byte
	m.Sum(out[:0])
	return out
}

func (c *verifyCache) has(user, pass string, now time.Time) bool {
	k := c.sum(user, pass)
	c.mu.Lock()
	defer c.mu.Unlock()
	exp, ok := c.seen[k]
	return ok && now.Before(exp)
}

func (c *verifyCache) add(user, pass string, now time.Time) {
	k := c.sum(user, pass)
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.seen) >= c.max {
		for k, exp := range c.seen {
			if !now.Before(exp) {
				delete(c.seen, k)
			}
		}
		for k := range c.seen { // still full: drop any (map order is random)
			if len(c.seen) < c.max {
				break
			}
			delete(c.seen, k)
		}
	}
	c.seen[k] = now.Add(c.ttl)
}
