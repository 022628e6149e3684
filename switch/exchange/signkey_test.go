package exchange_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/nats-io/nkeys"

	"github.com/cofswitch/cofswitch/config"
	"github.com/cofswitch/cofswitch/switch/exchange"
)

// TestSigningKeyPersists: the exchange signs with a key made at its first
// start in the data directory (mode 0600) and the same after a restart;
// a configured seed (nats.nkey, switch.signing_key) is used instead.
func TestSigningKeyPersists(t *testing.T) {
	dir := t.TempDir()
	cfg := writeConfig(t, filepath.Join(t.TempDir(), "c.yaml"), twoPeers)
	var keys []string
	for range 2 {
		x, err := exchange.Start(t.Context(), cfg, exchange.Options{NATS: cfg.NATS, DataDir: dir})
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, x.Engine().SigningKey())
		x.Stop()
	}
	if keys[0] == "" || keys[0] != keys[1] {
		t.Fatalf("signing keys across a restart: %q", keys)
	}
	st, err := os.Stat(filepath.Join(dir, exchange.SwitchSeedFile))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("seed file %v, %v: want mode 0600", st, err)
	}
	// What 'cofswitch config signing-key' prints is what serve signs with.
	s, err := exchange.SigningKey(cfg.Switch, "", dir)
	if err != nil || s.PublicKey() != keys[0] {
		t.Fatalf("SigningKey = %v, %v; want %s", s, err, keys[0])
	}
	// A configured seed wins: switch.signing_key, then the nkey.
	seedFile := func() (string, string) {
		kp, _ := nkeys.CreateUser()
		seed, _ := kp.Seed()
		pub, _ := kp.PublicKey()
		path := filepath.Join(t.TempDir(), "seed.nk")
		if err := os.WriteFile(path, seed, 0o600); err != nil {
			t.Fatal(err)
		}
		return path, pub
	}
	nkeyPath, nkeyPub := seedFile()
	signPath, signPub := seedFile()
	for _, tt := range []struct {
		name string
		sw   config.Switch
		nkey string
		want string
	}{
		{name: "nats.nkey", nkey: nkeyPath, want: nkeyPub},
		{name: "switch.signing_key", sw: config.Switch{SigningKey: signPath}, nkey: nkeyPath, want: signPub},
	} {
		s, err := exchange.SigningKey(tt.sw, tt.nkey, dir)
		if err != nil || s.PublicKey() != tt.want {
			t.Errorf("%s: %v, %v; want %s", tt.name, s, err, tt.want)
		}
	}
	// A missing configured seed is an error, never a new key.
	if _, err := exchange.SigningKey(config.Switch{SigningKey: filepath.Join(dir, "missing")}, "", dir); err == nil {
		t.Error("a missing signing_key file was accepted")
	}
}
