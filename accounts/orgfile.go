package accounts

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nkeys"
)

// OrgFile is what an organisation needs, besides its signing key, to
// issue its own users in operator mode: the accounts of its sensors and
// peers. It holds no secret ('cofswitch nats-config --org' writes it;
// 'cofswitch creds --org' and 'cofswitch revoke' read it).
type OrgFile struct {
	Organisation string       `json:"organisation"`
	Operator     string       `json:"operator"` // the operator's JWT (nsc imports it)
	Accounts     []OrgAccount `json:"accounts"`
}

// OrgAccount is the account of one of an organisation's identities.
type OrgAccount struct {
	Kind    string `json:"kind"` // "sensor" or "peer"
	ID      string `json:"id"`
	Name    string `json:"name"`    // the account's name
	Account string `json:"account"` // its public key
	Inbox   string `json:"inbox"`   // the inbox prefix its users must use
	JWT     string `json:"jwt"`     // the account's JWT (nsc imports it)
}

// OrgFile returns the accounts of org's identities.
func (c *Claims) OrgFile(org string) OrgFile {
	f := OrgFile{Organisation: org, Operator: c.Operator, Accounts: []OrgAccount{}}
	for _, id := range c.Identities {
		if id.Organisation != org {
			continue
		}
		pub := c.Names[id.Account]
		f.Accounts = append(f.Accounts, OrgAccount{Kind: id.Kind, ID: id.ID, Name: id.Account, Account: pub, Inbox: id.Inbox, JWT: c.Accounts[pub]})
	}
	return f
}

// ReadOrgFile reads an organisation's file and checks that every account
// in it is signed by its operator.
func ReadOrgFile(path string) (OrgFile, error) {
	var f OrgFile
	b, err := os.ReadFile(path)
	if err != nil {
		return f, fmt.Errorf("accounts: %w", err)
	}
	if err := json.Unmarshal(b, &f); err != nil {
		return f, fmt.Errorf("accounts: %s: not an organisation's accounts file: %w", path, err)
	}
	oc, err := jwt.DecodeOperatorClaims(f.Operator)
	if err != nil {
		return f, fmt.Errorf("accounts: %s: the operator's JWT: %w", path, err)
	}
	for _, a := range f.Accounts {
		ac, err := jwt.DecodeAccountClaims(a.JWT)
		if err != nil || ac.Subject != a.Account || ac.Issuer != oc.Subject {
			return f, fmt.Errorf("accounts: %s: the account of %s %s is not the operator's", path, a.Kind, a.ID)
		}
	}
	return f, nil
}

// Find returns the account of an identity of the organisation.
func (f OrgFile) Find(kind, id string) (OrgAccount, bool) {
	for _, a := range f.Accounts {
		if a.Kind == kind && a.ID == id {
			return a, true
		}
	}
	return OrgAccount{}, false
}

// ByAccount returns the identity whose account's public key is pub.
func (f OrgFile) ByAccount(pub string) (OrgAccount, bool) {
	for _, a := range f.Accounts {
		if a.Account == pub {
			return a, true
		}
	}
	return OrgAccount{}, false
}

// OrgCreds issues the credentials (a .creds file's content) of a user of
// one of an organisation's identities, signed by its signing key: user is
// the user's key pair (a new one, or the seed the sensor signs its
// batches with).
func OrgCreds(signingKey, user nkeys.KeyPair, a OrgAccount, expires time.Time) ([]byte, error) {
	pub, err := user.PublicKey()
	if err != nil {
		return nil, err
	}
	if !nkeys.IsValidPublicUserKey(pub) {
		return nil, errors.New("accounts: the user's seed is not a user nkey (SU...)")
	}
	tok, err := IssueUser(signingKey, a.Account, pub, a.Kind+" "+a.ID, nil, expires)
	if err != nil {
		return nil, err
	}
	seed, _ := user.Seed()
	return jwt.FormatUserConfig(tok, seed)
}

// Signer says whether the account lists pub among its signing keys: a
// user another key signs is refused by the server.
func (a OrgAccount) Signer(pub string) (bool, error) {
	ac, err := jwt.DecodeAccountClaims(a.JWT)
	if err != nil {
		return false, fmt.Errorf("accounts: the account of %s %s: %w", a.Kind, a.ID, err)
	}
	_, ok := ac.SigningKeys[pub]
	return ok, nil
}
