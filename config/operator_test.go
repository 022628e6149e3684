package config

import (
	"strings"
	"testing"

	"github.com/nats-io/nkeys"
)

// TestOrganisations: an organisation's signing keys are public account
// keys of its own, listed in operator mode for an organisation that has
// sensors or peers.
func TestOrganisations(t *testing.T) {
	key := func() string {
		kp, _ := nkeys.CreateAccount()
		pub, _ := kp.PublicKey()
		return pub
	}
	k1, k2 := key(), key()
	user, _ := nkeys.CreateUser()
	upub, _ := user.PublicKey()
	const base = "sensors: [{id: s1, organisation: org-a}, {id: s2, organisation: org-b}]\n"
	tests := []struct {
		name, yaml string
		want       string // substring of the error; "": accepted
	}{
		{"two organisations, a key each", "nats: {auth: jwt}\norganisations: {org-a: {signing_keys: [" + k1 + "]}, org-b: {signing_keys: [" + k2 + "]}}\n", ""},
		{"a rollover: two keys", "nats: {auth: jwt}\norganisations: {org-a: {signing_keys: [" + k1 + ", " + k2 + "]}}\n", ""},
		{"one key, two organisations", "nats: {auth: jwt}\norganisations: {org-a: {signing_keys: [" + k1 + "]}, org-b: {signing_keys: [" + k1 + "]}}\n",
			`organisations.org-b.signing_keys[0]: also a signing key of organisation "org-a"`},
		{"a key listed twice", "nats: {auth: jwt}\norganisations: {org-a: {signing_keys: [" + k1 + ", " + k1 + "]}}\n", "listed twice"},
		{"a user key", "nats: {auth: jwt}\norganisations: {org-a: {signing_keys: [" + upub + "]}}\n", "not a public account nkey"},
		{"a typo in the organisation", "nats: {auth: jwt}\norganisations: {org-aa: {signing_keys: [" + k1 + "]}}\n", `no sensor or peer has organisation "org-aa"`},
		{"keys outside operator mode", "organisations: {org-a: {signing_keys: [" + k1 + "]}}\n", "operator mode only"},
		{"an unknown mode", "nats: {auth: jwts}\n", `"jwts" is not nkeys, jwt or none`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("f.yaml", []byte(base+tt.yaml))
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("error %v, want %q", err, tt.want)
			}
		})
	}
}
