package accounts

import (
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"sync"

	"github.com/nats-io/nkeys"

	"github.com/cofswitch/cofswitch/secretfile"
)

// Operator is the root of trust of an exchange in operator mode: the
// operator's key signs every account's JWT, and every account's key is
// derived from the operator's seed (HMAC-SHA256 under it, of the account's
// name), so that the one seed file is the whole of what must be kept and
// backed up, and every switch process and 'cofswitch nats-config' that
// holds it renders the same accounts. Whoever holds it can sign any
// account: keep it like the exchange's own secret.
type Operator struct {
	kp   nkeys.KeyPair
	pub  string
	root []byte // the raw seed, the key of the derivation

	mu   sync.Mutex
	acts map[string]string // activation tokens signed, by account, subject and local name
}

// NewOperator makes an operator with a fresh key.
func NewOperator() (*Operator, error) {
	kp, err := nkeys.CreateOperator()
	if err != nil {
		return nil, err
	}
	seed, _ := kp.Seed()
	return operatorFromSeed(seed)
}

func operatorFromSeed(seed []byte) (*Operator, error) {
	prefix, raw, err := nkeys.DecodeSeed(seed)
	if err != nil || prefix != nkeys.PrefixByteOperator {
		return nil, errors.New("not an operator nkey seed (SO...)")
	}
	kp, err := nkeys.FromSeed(seed)
	if err != nil {
		return nil, errors.New("not an operator nkey seed (SO...)")
	}
	pub, _ := kp.PublicKey()
	return &Operator{kp: kp, pub: pub, root: raw}, nil
}

// LoadOperator reads an operator's seed file. A file others than its
// owner may read is refused (see package secretfile); the error never
// shows the file's content.
func LoadOperator(path string) (*Operator, error) {
	seed, err := secretfile.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("accounts: operator seed: %w", err)
	}
	o, err := operatorFromSeed([]byte(strings.TrimSpace(string(seed))))
	if err != nil {
		return nil, fmt.Errorf("accounts: %s: %w", path, err)
	}
	return o, nil
}

// LoadOrCreateOperator reads the operator's seed at path, or makes one and
// writes it there (mode 0600, never over an existing file).
func LoadOrCreateOperator(path string) (*Operator, error) {
	o, err := LoadOperator(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return o, err
	}
	if o, err = NewOperator(); err != nil {
		return nil, err
	}
	seed, _ := o.kp.Seed()
	fh, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("accounts: writing the operator's seed: %w", err)
	}
	if _, err := fh.Write(append(seed, '\n')); err != nil {
		fh.Close()
		return nil, fmt.Errorf("accounts: writing the operator's seed: %w", err)
	}
	if err := fh.Close(); err != nil {
		return nil, fmt.Errorf("accounts: writing the operator's seed: %w", err)
	}
	return o, nil
}

// PublicKey is the operator's public key (O...).
func (o *Operator) PublicKey() string { return o.pub }

// Seed is the operator's seed, for writing it elsewhere (cluster-init).
func (o *Operator) Seed() ([]byte, error) { return o.kp.Seed() }

// accountKey derives the key of the account named name.
func (o *Operator) accountKey(name string) nkeys.KeyPair {
	m := hmac.New(sha256.New, o.root)
	m.Write([]byte("cofswitch operator-mode account v1\x00"))
	m.Write([]byte(name))
	kp, err := nkeys.FromRawSeed(nkeys.PrefixByteAccount, m.Sum(nil))
	if err != nil {
		panic("accounts: deriving an account key: " + err.Error()) // 32 bytes always make a seed
	}
	return kp
}

// AccountKey is the public key of the account named name (SystemAccount,
// ExchangeAccount, SensorAccount(...), PeerAccount(...)).
func (o *Operator) AccountKey(name string) string {
	pub, _ := o.accountKey(name).PublicKey()
	return pub
}
