package secretfile_test

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cofswitch/cofswitch/secretfile"
)

func writeSecret(t *testing.T, mode os.FileMode) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(path, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// Chmod, not WriteFile's mode: the umask would narrow that.
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestModes(t *testing.T) {
	for _, tt := range []struct {
		name string
		mode os.FileMode
		ok   bool
	}{
		{name: "owner only", mode: 0o600, ok: true},
		{name: "owner read only", mode: 0o400, ok: true},
		{name: "owner rwx", mode: 0o700, ok: true},
		{name: "group readable", mode: 0o640},
		{name: "world readable", mode: 0o644},
		{name: "group writable only", mode: 0o620},
		{name: "world executable only", mode: 0o601},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := writeSecret(t, tt.mode)
			data, err := secretfile.ReadFile(path)
			checkErr := secretfile.Check(path)
			if tt.ok {
				if err != nil || checkErr != nil || string(data) != "s3cret\n" {
					t.Fatalf("ReadFile = %q, %v; Check = %v", data, err, checkErr)
				}
				return
			}
			for _, err := range []error{err, checkErr} {
				if !errors.Is(err, secretfile.ErrLaxMode) {
					t.Fatalf("err = %v, want ErrLaxMode", err)
				}
				msg := err.Error()
				if !strings.Contains(msg, path) || !strings.Contains(msg, "chmod 600 "+path) || !strings.Contains(msg, modeText(tt.mode)) {
					t.Errorf("the error does not name the file, its mode and the fix: %v", err)
				}
				if strings.Contains(msg, "s3cret") {
					t.Errorf("the error shows the secret: %v", err)
				}
			}
		})
	}
}

func modeText(m os.FileMode) string { return fmt.Sprintf("%04o", m.Perm()) }

func TestMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "absent")
	if _, err := secretfile.ReadFile(path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("ReadFile: %v, want ErrNotExist", err)
	}
	if err := secretfile.Check(path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Check: %v, want ErrNotExist", err)
	}
}

// With COFSWITCH_ALLOW_LAX_SECRETS=1 a lax mode is a warning.
func TestAllowLax(t *testing.T) {
	t.Setenv(secretfile.AllowLaxEnv, "1")
	var logged bytes.Buffer
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&logged, nil)))
	t.Cleanup(func() { slog.SetDefault(prev) })

	path := writeSecret(t, 0o644)
	data, err := secretfile.ReadFile(path)
	if err != nil || string(data) != "s3cret\n" {
		t.Fatalf("ReadFile = %q, %v", data, err)
	}
	line := logged.String()
	if strings.Count(line, "\n") != 1 || !strings.Contains(line, "level=WARN") || !strings.Contains(line, path) ||
		!strings.Contains(line, "mode=0644") || !strings.Contains(line, "chmod 600") {
		t.Fatalf("want one warning naming the file, its mode and the fix; got %q", line)
	}

	t.Setenv(secretfile.AllowLaxEnv, "yes")
	if err := secretfile.Check(path); !errors.Is(err, secretfile.ErrLaxMode) {
		t.Fatalf("only 1 downgrades the refusal: %v", err)
	}
}
