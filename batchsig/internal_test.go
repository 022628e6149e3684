package batchsig

import (
	"encoding/json"
	"testing"
	"unicode/utf8"
)

// TestNotANonce: no canonical message is UTF-8 text, which every NATS
// nonce is (the client reads it from JSON), whatever the fields: the seed
// that answers a server's nonce can sign batches.
func TestNotANonce(t *testing.T) {
	for _, m := range [][]byte{
		inputMessage("s1", "", "", nil),
		inputMessage("s1", "zstd", "id-1", []byte("payload")),
		outputMessage(Output{Subject: "cof.out.p", Records: "1"}, []byte("payload")),
	} {
		// The digest alone is rarely UTF-8; the first byte never is.
		if m[0] != notText || utf8.Valid(m[:1]) {
			t.Errorf("a canonical message does not start with a byte no UTF-8 holds: %q", m)
		}
		if utf8.Valid(m) {
			t.Errorf("a canonical message is UTF-8: %q", m)
		}
		// What a hostile server could put in its INFO's nonce.
		var nonce string
		b, _ := json.Marshal(string(m))
		if err := json.Unmarshal(b, &nonce); err != nil || nonce == string(m) {
			t.Errorf("a nonce can be the canonical message %q (%v)", m, err)
		}
	}
}
