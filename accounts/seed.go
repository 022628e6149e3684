package accounts

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/nats-io/nkeys"

	"github.com/cofswitch/cofswitch/secretfile"
)

// ErrSeedExists reports a seed file that would be overwritten without
// being asked to.
var ErrSeedExists = errors.New("accounts: seed file exists")

// NewUserSeed makes a new nkey user identity, writes its seed to path
// (mode 0600, created afresh: with replace, an existing file is removed
// first, so that neither a symlink nor a lax mode carries over) and
// returns the public key to put in the configuration.
func NewUserSeed(path string, replace bool) (string, error) {
	kp, err := nkeys.CreateUser()
	if err != nil {
		return "", err
	}
	seed, _ := kp.Seed()
	pub, _ := kp.PublicKey()
	if replace {
		if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
			return "", fmt.Errorf("accounts: %w", err)
		}
	}
	fh, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return "", fmt.Errorf("%w: %s", ErrSeedExists, path)
	}
	if err != nil {
		return "", fmt.Errorf("accounts: %w", err)
	}
	if _, err := fh.Write(append(seed, '\n')); err != nil {
		fh.Close()
		return "", fmt.Errorf("accounts: %w", err)
	}
	if err := fh.Close(); err != nil {
		return "", fmt.Errorf("accounts: %w", err)
	}
	return pub, nil
}

// PublicKeyOfSeedFile reads an nkey seed file and returns its public key.
// A seed file others than its owner may read is refused (see package
// secretfile). The error never shows the file's content.
func PublicKeyOfSeedFile(path string) (string, error) {
	seed, err := secretfile.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("accounts: %w", err)
	}
	kp, err := nkeys.FromSeed([]byte(strings.TrimSpace(string(seed))))
	if err != nil {
		return "", fmt.Errorf("accounts: %s: not an nkey seed", path)
	}
	return kp.PublicKey()
}
