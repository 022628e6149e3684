// Package secretfile reads the files that hold secrets (nkey seeds,
// .creds files, pseudonymisation keys, the database's API keys and
// passwords) and refuses a file that its group or other users may use:
// another local account that can read a seed is that identity, and one
// that can read a policy key can undo the pseudonyms it protects.
//
// An operator who keeps secrets where the mode alone does not tell (a
// directory only root can enter, a mode kept by configuration management)
// can set COFSWITCH_ALLOW_LAX_SECRETS=1: a lax mode is then logged as a
// warning (slog's default logger) instead of refused.
//
// It imports nothing of cofswitch, so that every side (the policy
// compiler, the bus, the peer tools) can use it.
package secretfile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"runtime"
)

// AllowLaxEnv names the environment variable that, set to "1", turns the
// refusal of a lax mode into a warning.
const AllowLaxEnv = "COFSWITCH_ALLOW_LAX_SECRETS"

// laxBits are the permission bits a secret file must not have: any access
// by its group or by others.
const laxBits fs.FileMode = 0o077

// ErrLaxMode reports a secret file whose mode lets others than its owner
// read it (or write or run it).
var ErrLaxMode = errors.New("secretfile: others than the owner may read the file")

// Check returns an error wrapping ErrLaxMode when the file at path has any
// group or other permission bit; the error names the file, its mode and the
// fix. A missing or unreadable file is an error too.
func Check(path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("secretfile: %w", err)
	}
	return judge(path, st.Mode())
}

// ReadFile reads a secret file, checking the mode of the file it opened
// (so that the file cannot be swapped between the check and the read).
func ReadFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("secretfile: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("secretfile: %w", err)
	}
	if err := judge(path, st.Mode()); err != nil {
		return nil, err
	}
	data, err := io.ReadAll(f)
	if err != nil {
		return nil, fmt.Errorf("secretfile: %s: %w", path, err)
	}
	return data, nil
}

// judge refuses a lax mode, or warns of it when AllowLaxEnv is set. File
// modes mean nothing on Windows.
func judge(path string, mode fs.FileMode) error {
	perm := mode.Perm()
	if perm&laxBits == 0 || runtime.GOOS == "windows" {
		return nil
	}
	fix := "chmod 600 " + path
	if os.Getenv(AllowLaxEnv) == "1" {
		slog.Warn("secret file readable by others than its owner, accepted because "+AllowLaxEnv+"=1",
			"file", path, "mode", fmt.Sprintf("%04o", perm), "fix", fix)
		return nil
	}
	return fmt.Errorf("%w: %s has mode %04o; fix it with: %s (or set %s=1 to accept it with a warning)",
		ErrLaxMode, path, perm, fix, AllowLaxEnv)
}
