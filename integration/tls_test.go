package integration

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// certs writes a CA, a server certificate for 127.0.0.1 and a client
// certificate, all made now, to dir.
func certs(t *testing.T, dir string) (ca, srvCert, srvKey, cliCert, cliKey string) {
	t.Helper()
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	key := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	caKey := key()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	leaf := func(name string, serial int64, usage x509.ExtKeyUsage) (string, string) {
		k := key()
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			ExtKeyUsage: []x509.ExtKeyUsage{usage}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &k.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		kder, _ := x509.MarshalECPrivateKey(k)
		return write(name+".pem", "CERTIFICATE", der), write(name+"-key.pem", "EC PRIVATE KEY", kder)
	}
	ca = write("ca.pem", "CERTIFICATE", caDER)
	srvCert, srvKey = leaf("server", 2, x509.ExtKeyUsageServerAuth)
	cliCert, cliKey = leaf("client", 3, x509.ExtKeyUsageClientAuth)
	return
}

// TestMutualTLS: the embedded server with server_tls and a CA admits only
// clients that verify it and present a certificate the CA signed (and,
// with nkeys, their identity on top).
func TestMutualTLS(t *testing.T) {
	dir := t.TempDir()
	ca, sc, sk, cc, ck := certs(t, dir)
	seed, pub := makeCreds(t, dir, "sensor", "s1")
	listen := freeAddr(t)
	cfg := writeFile(t, "c.yaml", fmt.Sprintf(`nats:
  listen: %s
  server_tls: {cert: %s, key: %s, ca: %s}
sensors:
  - {id: s1, organisation: org-a, nkey: %s}
peers:
  - {id: p1, organisation: org-b, subscriptions: [{sensors: ["*"], policy: pass, tlp: CLEAR}]}
`, listen, sc, sk, ca, pub))
	sw := start(t, "serve", "--config", cfg, "--data", filepath.Join(dir, "data"))
	waitFor(t, "switch ready", 15*time.Second, func() bool { return contains(sw.output(), "exchange ready") })
	url := "tls://" + listen
	body := []byte(`{"rrname":"a.example","rrtype":"A","rdata":"192.0.2.1","time_first":1,"time_last":2}` + "\n")
	base := []string{"publish", "--sensor", "s1", "--nkey", seed, "--nats-url", url}

	if _, stderr, code := run(t, body, append(base, "--tls-ca", ca, "--tls-cert", cc, "--tls-key", ck)...); code != 0 {
		t.Fatalf("with CA, client certificate and nkey: exit %d: %s", code, stderr)
	}
	for name, extra := range map[string][]string{
		"no client certificate":          {"--tls-ca", ca},
		"server not verified":            {"--tls-cert", cc, "--tls-key", ck},
		"plain connection":               nil,
		"server's cert as a client cert": {"--tls-ca", ca, "--tls-cert", sc, "--tls-key", sk},
	} {
		if _, stderr, code := run(t, body, append(base, extra...)...); code == 0 {
			t.Errorf("%s: connected (stderr %q)", name, stderr)
		}
	}
	if _, _, code := run(t, body, "publish", "--sensor", "s1", "--nats-url", url, "--tls-ca", ca, "--tls-cert", cc, "--tls-key", ck); code == 0 {
		t.Error("a valid certificate without the nkey was admitted")
	}
	if !contains(sw.output(), "mtls=true") {
		t.Error("the log does not say mutual TLS is on")
	}
}
