package api

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cofswitch/cofswitch/secretfile"
)

func TestLoadCredentials(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	keys := write("keys", "# analysts\nk1\n\n  k2  \n")
	users := write("users", "alice:pw1\n# bob:old\nbob:pw:with:colons\n")
	badUsers := write("bad", "alice\n")
	lax := func(name, text string) string {
		p := write(name, text)
		if err := os.Chmod(p, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, tt := range []struct {
		name              string
		keysFile, users   string
		env               string
		wantKeys          []string
		wantUsers         map[string]string
		wantErr           error
		wantErrContaining string
	}{
		{name: "files and environment", keysFile: keys, users: users, env: "e1,e2",
			wantKeys: []string{"e1", "e2", "k1", "k2"}, wantUsers: map[string]string{"alice": "pw1", "bob": "pw:with:colons"}},
		{name: "environment only", env: "e1", wantKeys: []string{"e1"}, wantUsers: map[string]string{}},
		{name: "nothing at all", wantErr: ErrNoCredentials},
		{name: "comments only", keysFile: write("empty", "# none\n"), wantErr: ErrNoCredentials},
		{name: "a user line without password", users: badUsers, wantErrContaining: "not user:password"},
		{name: "a missing file", keysFile: filepath.Join(dir, "nope"), wantErrContaining: "nope"},
		{name: "a keys file others may read", keysFile: lax("lax-keys", "k1\n"), wantErr: secretfile.ErrLaxMode},
		{name: "a users file others may read", users: lax("lax-users", "alice:pw1\n"), wantErrContaining: "chmod 600"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			k, u, err := LoadCredentials(tt.keysFile, tt.users, tt.env)
			switch {
			case tt.wantErr != nil:
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			case tt.wantErrContaining != "":
				if err == nil || !strings.Contains(err.Error(), tt.wantErrContaining) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErrContaining)
				}
				if strings.Contains(err.Error(), "pw1") {
					t.Fatalf("the error shows a password: %v", err)
				}
				return
			case err != nil:
				t.Fatal(err)
			}
			if strings.Join(k, ",") != strings.Join(tt.wantKeys, ",") || len(u) != len(tt.wantUsers) {
				t.Fatalf("keys %q users %v, want %q %v", k, u, tt.wantKeys, tt.wantUsers)
			}
			for name, pw := range tt.wantUsers {
				if u[name] != pw {
					t.Errorf("user %s: %q, want %q", name, u[name], pw)
				}
			}
		})
	}
}
