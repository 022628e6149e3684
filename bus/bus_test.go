package bus_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cofswitch/cofswitch/bus"
	"github.com/cofswitch/cofswitch/secretfile"
)

func TestStartServerErrors(t *testing.T) {
	if _, err := bus.StartServer(bus.ServerConfig{Listen: "no-port", StoreDir: t.TempDir()}); err == nil {
		t.Error("listen address without port accepted")
	}
	if _, err := bus.StartServer(bus.ServerConfig{Listen: "127.0.0.1:http", StoreDir: t.TempDir()}); err == nil {
		t.Error("non-numeric port accepted")
	}
}

func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"nats://alice:s3cret@h:4222":             "nats://[redacted]@h:4222",
		"alice:s3cret@h:4222,nats://tok@h2:4222": "[redacted]@h:4222,nats://[redacted]@h2:4222",
		"nats://h:4222":                          "nats://h:4222",
		"tls://u:p@a:1,tls://b:2":                "tls://[redacted]@a:1,tls://b:2",
	} {
		if got := bus.Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestConnectErrorsRedactSecrets(t *testing.T) {
	_, err := bus.Connect("nats://alice:s3cret@127.0.0.1:1", "t", nil, nil)
	if err == nil {
		t.Fatal("connected to nothing")
	}
	if strings.Contains(err.Error(), "s3cret") {
		t.Errorf("error leaks the password: %v", err)
	}
	c := &bus.Auth{NKey: "/nonexistent/seed"}
	if _, err := bus.Connect("nats://127.0.0.1:1", "t", c, nil); err == nil || !strings.Contains(err.Error(), "nkey") {
		t.Errorf("missing nkey seed file: %v", err)
	}
}

// A seed or credentials file that others may read is refused before
// anything is sent.
func TestConnectRefusesLaxSecrets(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []*bus.Auth{{NKey: filepath.Join(dir, "seed.nk")}, {Creds: filepath.Join(dir, "user.creds")}} {
		path := c.NKey + c.Creds
		if err := os.WriteFile(path, []byte("SUNOTAREALSEED\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, 0o640); err != nil {
			t.Fatal(err)
		}
		_, err := bus.Connect("nats://127.0.0.1:1", "t", c, nil)
		if !errors.Is(err, secretfile.ErrLaxMode) || !strings.Contains(err.Error(), path) {
			t.Errorf("%s with mode 0640: %v, want ErrLaxMode naming it", path, err)
		}
	}
}
