package api

import (
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/cofswitch/cofswitch/peers/db/dbtest"
)

// hashOf makes a bcrypt hash as htpasswd -B writes it ($2y$), at the
// lowest cost to keep the tests fast.
func hashOf(t *testing.T, pw string) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return "$2y$" + strings.TrimPrefix(string(h), "$2a$")
}

func TestLoadCredentials(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	bobHash := hashOf(t, "bobs-secret")
	keys := write("keys", "# analysts\nk1\n\n  k2  \n")
	users := write("users", "alice:pw1\n# bob:old\nbob:"+bobHash+"\ncarol:pw:with:colons\n")
	for _, tt := range []struct {
		name              string
		keysFile, users   string
		env               string
		wantKeys          []string
		wantUsers         map[string]string // user -> a password that checks
		wantPlain         []string
		wantErr           error
		wantErrContaining []string
	}{
		{name: "files and environment", keysFile: keys, users: users, env: "e1,e2",
			wantKeys:  []string{"e1", "e2", "k1", "k2"},
			wantUsers: map[string]string{"alice": "pw1", "bob": "bobs-secret", "carol": "pw:with:colons"},
			wantPlain: []string{"alice", "carol"}},
		{name: "environment only", env: "e1", wantKeys: []string{"e1"}},
		{name: "$2a$ and $2b$ hashes", users: write("ab", "a:"+strings.Replace(bobHash, "$2y$", "$2a$", 1)+"\nb:"+strings.Replace(bobHash, "$2y$", "$2b$", 1)+"\n"),
			wantUsers: map[string]string{"a": "bobs-secret", "b": "bobs-secret"}},
		{name: "nothing at all", wantErr: ErrNoCredentials},
		{name: "comments only", keysFile: write("empty", "# none\n"), wantErr: ErrNoCredentials},
		{name: "a user line without password", users: write("bad", "alice:pw1\nalice\n"), wantErrContaining: []string{"bad:2:", "not user:password"}},
		{name: "apr1 (htpasswd -m)", users: write("apr1", "# x\nalice:$apr1$8zVpL0Qk$2d6SgS4y7Ck7n9z8m3m0a/\n"),
			wantErr: ErrPasswordFormat, wantErrContaining: []string{"apr1:2:", `user "alice"`, "apr1 (MD5", "htpasswd -B"}},
		{name: "SHA-1 (htpasswd -s)", users: write("sha", "alice:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=\n"),
			wantErr: ErrPasswordFormat, wantErrContaining: []string{"sha:1:", "{SHA}"}},
		{name: "SHA-512-crypt", users: write("crypt", "alice:$6$salt$abc\n"), wantErr: ErrPasswordFormat, wantErrContaining: []string{"SHA-512-crypt"}},
		{name: "a broken bcrypt hash", users: write("broken", "alice:$2y$05$tooshort\n"), wantErr: ErrPasswordFormat, wantErrContaining: []string{"broken:1:", "bcrypt hash"}},
		{name: "a missing file", keysFile: filepath.Join(dir, "nope"), wantErrContaining: []string{"nope"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, err := LoadCredentials(tt.keysFile, tt.users, tt.env)
			if tt.wantErr != nil || tt.wantErrContaining != nil {
				if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				for _, want := range tt.wantErrContaining {
					if err == nil || !strings.Contains(err.Error(), want) {
						t.Fatalf("err = %v, want one containing %q", err, want)
					}
				}
				if err != nil && (strings.Contains(err.Error(), "pw1") || strings.Contains(err.Error(), "W6ph5")) {
					t.Fatalf("the error shows a password or hash: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(c.Keys, ",") != strings.Join(tt.wantKeys, ",") || len(c.Users) != len(tt.wantUsers) {
				t.Fatalf("keys %q, %d users, want %q, %d", c.Keys, len(c.Users), tt.wantKeys, len(tt.wantUsers))
			}
			var plain []string
			for name, pw := range tt.wantUsers {
				if !c.Users[name].check(pw) || c.Users[name].check(pw+"x") {
					t.Errorf("user %s: the password does not check, or a wrong one does", name)
				}
				if c.Users[name].Plaintext() {
					plain = append(plain, name)
				}
			}
			if len(plain) != len(tt.wantPlain) {
				t.Errorf("plaintext users %v, want %v", plain, tt.wantPlain)
			}
		})
	}
}

// TestBcryptUsers logs in with HTTP Basic (as curl -u does) against a
// bcrypt hash made here; a successful check is remembered, a failed one
// is not; a plaintext user is warned about by name, never by password.
func TestBcryptUsers(t *testing.T) {
	store := dbtest.New(t)
	log := &syncBuffer{}
	creds := Credentials{
		Users:     map[string]Password{"carol": PlainPassword("plain-secret")},
		UsersFile: "/etc/cofswitch/users",
	}
	var err error
	if creds.Users["bob"], err = PasswordHash(hashOf(t, "bobs-secret")); err != nil {
		t.Fatal(err)
	}
	s, err := New(store, creds, WithLogger(log.logger()))
	if err != nil {
		t.Fatal(err)
	}
	srv := serveHTTP(t, s)
	if out := log.String(); !strings.Contains(out, "PLAINTEXT PASSWORD") || !strings.Contains(out, "user=carol") ||
		!strings.Contains(out, "htpasswd -B /etc/cofswitch/users carol") || strings.Contains(out, "plain-secret") || strings.Contains(out, "bob") {
		t.Errorf("plaintext warning: %s", out)
	}
	tests := []struct {
		name, user, pass string
		want             int
		cached           bool
	}{
		{name: "bcrypt, right", user: "bob", pass: "bobs-secret", want: http.StatusOK, cached: true},
		{name: "bcrypt, again (from the cache)", user: "bob", pass: "bobs-secret", want: http.StatusOK, cached: true},
		{name: "bcrypt, wrong", user: "bob", pass: "bobs-secreT", want: http.StatusUnauthorized},
		{name: "plaintext, right", user: "carol", pass: "plain-secret", want: http.StatusOK},
		{name: "plaintext, wrong", user: "carol", pass: "nope", want: http.StatusUnauthorized},
		{name: "unknown user", user: "mallory", pass: "bobs-secret", want: http.StatusUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, srv.URL+"/pdns/query/www.example.com", nil)
			req.SetBasicAuth(tt.user, tt.pass)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Errorf("status %d, want %d", resp.StatusCode, tt.want)
			}
			if got := s.verified.has(tt.user, tt.pass, s.now()); got != tt.cached {
				t.Errorf("remembered: %v, want %v", got, tt.cached)
			}
		})
	}
}

// TestVerifyCacheBounded: the cache never holds more than its bound.
func TestVerifyCacheBounded(t *testing.T) {
	c := newVerifyCache(DefaultVerifiedTTL, 8)
	now := testEpoch
	for i := range 100 {
		c.add("u", strings.Repeat("x", i), now)
	}
	if len(c.seen) > 8 || !c.has("u", strings.Repeat("x", 99), now) {
		t.Errorf("%d entries (bound 8), last one remembered: %v", len(c.seen), c.has("u", strings.Repeat("x", 99), now))
	}
	if c.has("u", strings.Repeat("x", 99), now.Add(DefaultVerifiedTTL)) {
		t.Error("an entry outlived its TTL")
	}
}
