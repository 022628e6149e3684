package exchange

import (
	"fmt"
	"path/filepath"

	"github.com/cofswitch/cofswitch/batchsig"
	"github.com/cofswitch/cofswitch/config"
	"github.com/cofswitch/cofswitch/secretfile"
)

// SigningKeyPath is the file of the seed with which the switch signs its
// outputs: switch.signing_key, else the seed it connects with (nkey:
// nats.nkey or --nkey; cluster-init's switch.nk), else the switch's seed
// in the data directory (SwitchSeedFile: its identity on the embedded
// server, made at the first start). made tells whether the file is made
// when missing (only the last).
func SigningKeyPath(c config.Switch, nkey, dataDir string) (path string, made bool) {
	switch {
	case c.SigningKey != "":
		return c.SigningKey, false
	case nkey != "":
		return nkey, false
	}
	return filepath.Join(dataDir, SwitchSeedFile), true
}

// SigningKey is the switch's signer, of the seed at SigningKeyPath; the
// data directory's is made (mode 0600) when missing, and kept. The seed is
// never logged; its public key is what peers pin.
func SigningKey(c config.Switch, nkey, dataDir string) (*batchsig.Signer, error) {
	path, made := SigningKeyPath(c, nkey, dataDir)
	if made {
		kp, err := LoadOrCreateSwitchKey(path)
		if err != nil {
			return nil, err
		}
		s, err := batchsig.NewSigner(kp)
		if err != nil {
			return nil, fmt.Errorf("exchange: signing key %s: %w", path, err)
		}
		return s, nil
	}
	b, err := secretfile.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("exchange: signing key: %w", err)
	}
	s, err := batchsig.ParseSigner(b)
	if err != nil {
		return nil, fmt.Errorf("exchange: signing key %s: %w", path, err)
	}
	return s, nil
}
