package batchsig

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nats-io/nkeys"
)

// TestLoadVerifierNeverPrintsASeed: a seed given where a public key is
// wanted (pasted, or the peer's own .nk file) is refused without being
// echoed in the error.
func TestLoadVerifierNeverPrintsASeed(t *testing.T) {
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	seed, _ := kp.Seed()
	file := filepath.Join(t.TempDir(), "peer.nk")
	if err := os.WriteFile(file, seed, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, arg := range []string{string(seed), file} {
		_, err := LoadVerifier(arg)
		if err == nil {
			t.Fatalf("%s accepted", arg)
		}
		if strings.Contains(err.Error(), string(seed[2:20])) {
			t.Errorf("the error prints the seed: %v", err)
		}
	}
}
