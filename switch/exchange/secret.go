package exchange

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/cofswitch/cofswitch/secretfile"
	"github.com/cofswitch/cofswitch/switch/engine"
)

// SecretFile is the default name of the switch's secret in the data
// directory (see config.Switch.SecretFile).
const SecretFile = "switch.secret"

// LoadOrCreateSecret reads the switch's secret (hexadecimal, at least
// engine.MinSecretLen bytes) at path, or makes 32 random bytes and writes
// them there, mode 0600, when no file exists. A file others than its owner
// may read is refused (see package secretfile); so is one that does not
// hold a long enough key.
func LoadOrCreateSecret(path string) ([]byte, error) {
	b, err := secretfile.ReadFile(path)
	if err == nil {
		key, err := hex.DecodeString(strings.TrimSpace(string(b)))
		if err != nil || len(key) < engine.MinSecretLen {
			return nil, fmt.Errorf("exchange: switch secret %s: want at least %d bytes in hexadecimal (openssl rand -hex 32)", path, engine.MinSecretLen)
		}
		return key, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("exchange: switch secret: %w", err)
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("exchange: switch secret: %w", err)
	}
	// Written aside, then linked into place: two processes starting at
	// once never see a half-written file, and the second keeps the first's.
	f, err := os.CreateTemp(filepath.Dir(path), ".switch-secret-*")
	if err != nil {
		return nil, fmt.Errorf("exchange: writing the switch secret: %w", err)
	}
	defer os.Remove(f.Name())
	_, err = f.WriteString(hex.EncodeToString(key) + "\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Link(f.Name(), path)
	}
	if errors.Is(err, fs.ErrExist) {
		return LoadOrCreateSecret(path)
	}
	if err != nil {
		return nil, fmt.Errorf("exchange: writing the switch secret: %w", err)
	}
	return key, nil
}
