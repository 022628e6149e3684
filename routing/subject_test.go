package routing

import (
	"errors"
	"strings"
	"testing"
)

func TestEscapeToken(t *testing.T) {
	tests := []struct{ id, tok string }{
		{id: "s1", tok: "s1"},
		{id: "circl-feed-ipv6-ct-newlyseen-aaaa", tok: "circl-feed-ipv6-ct-newlyseen-aaaa"},
		{id: "org.a/s1", tok: "org%2Ea%2Fs1"},
		{id: "a b*>c", tok: "a%20b%2A%3Ec"},
		{id: "100%", tok: "100%25"},
		{id: "$SYS", tok: "%24SYS"},
		{id: "é", tok: "%C3%A9"},
		{id: "Case", tok: "Case"},
	}
	for _, tt := range tests {
		if got := EscapeToken(tt.id); got != tt.tok {
			t.Errorf("EscapeToken(%q) = %q, want %q", tt.id, got, tt.tok)
		}
		back, err := UnescapeToken(tt.tok)
		if err != nil || back != tt.id {
			t.Errorf("UnescapeToken(%q) = %q, %v; want %q", tt.tok, back, err, tt.id)
		}
	}
}

// TestUnescapeRejectsAliases: every id has exactly one token, so a sensor
// granted cof.in.<token> cannot reach another sensor's id through a second
// spelling.
func TestUnescapeRejectsAliases(t *testing.T) {
	for _, tok := range []string{
		"", "%41bc", "org%2ea", "a%2", "a%", "%zz", "a.b", "a*", ">", "a b", "a\x00",
	} {
		if id, err := UnescapeToken(tok); !errors.Is(err, ErrBadToken) {
			t.Errorf("UnescapeToken(%q) = %q, %v; want ErrBadToken", tok, id, err)
		}
	}
}

func TestSubjects(t *testing.T) {
	if got := InSubject("org.a/s1"); got != "cof.in.org%2Ea%2Fs1" {
		t.Errorf("InSubject = %q", got)
	}
	if got := OutSubject("peer-b"); got != "cof.out.peer-b" {
		t.Errorf("OutSubject = %q", got)
	}
	if got := DLQSubject("s 1"); got != "cof.dlq.s%201" {
		t.Errorf("DLQSubject = %q", got)
	}
	if got := PeerStream("peer-b"); got != "PEER_peer-b" {
		t.Errorf("PeerStream = %q", got)
	}
	id, err := SensorOf("cof.in.org%2Ea%2Fs1")
	if err != nil || id != "org.a/s1" {
		t.Errorf("SensorOf = %q, %v", id, err)
	}
	for _, bad := range []string{"cof.out.s1", "cof.in.", "cof.in.a.b", "cof.in.%2e", "x"} {
		if _, err := SensorOf(bad); !errors.Is(err, ErrBadToken) {
			t.Errorf("SensorOf(%q): got %v, want ErrBadToken", bad, err)
		}
	}
}

func TestValidateID(t *testing.T) {
	tests := []struct {
		id       string
		safeOnly bool
		err      string
	}{
		{id: "peer-b_2"},
		{id: "org.a/s1"},
		{id: "org.a/s1", safeOnly: true, err: "may hold only"},
		{id: "", err: "empty"},
		{id: strings.Repeat("x", 129), err: "longer than 128"},
		{id: "a\nb", err: "control character"},
	}
	for _, tt := range tests {
		err := ValidateID("peer", tt.id, tt.safeOnly)
		if tt.err == "" && err != nil || tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)) {
			t.Errorf("ValidateID(%q, %v) = %v, want %q", tt.id, tt.safeOnly, err, tt.err)
		}
	}
}

func FuzzTokenRoundTrip(f *testing.F) {
	for _, s := range []string{"s1", "org.a/s1", "%", "%25", "é", "", "a%2Eb"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		tok := EscapeToken(id)
		for i := 0; i < len(tok); i++ {
			if !safe(tok[i]) && tok[i] != '%' {
				t.Fatalf("token %q of %q holds %q", tok, id, tok[i])
			}
		}
		if id == "" {
			return
		}
		back, err := UnescapeToken(tok)
		if err != nil || back != id {
			t.Fatalf("round trip of %q: %q, %v", id, back, err)
		}
		// And any token that decodes must be the canonical one.
		if dec, err := UnescapeToken(id); err == nil && EscapeToken(dec) != id {
			t.Fatalf("%q decodes to %q, whose token is %q", id, dec, EscapeToken(dec))
		}
	})
}

func TestStreamNames(t *testing.T) {
	long := strings.Repeat("é", MaxIDLen/2) // 64 runes, 128 bytes, 384 escaped
	for _, tt := range []struct{ id, stream string }{
		{"s1", "COF_IN_s1"},
		{"org.a/s1", "COF_IN_org%2Ea%2Fs1"},
	} {
		if got := InStream(tt.id); got != tt.stream {
			t.Errorf("InStream(%q) = %q, want %q", tt.id, got, tt.stream)
		}
	}
	n := InStream(long)
	if len(n) > 255 || !strings.HasPrefix(n, "COF_IN_~") || n == InStream(long[:len(long)-2]) {
		t.Errorf("InStream of a long id = %q", n)
	}
	if InStream(long) != n || DLQConsumer(long) != "dlq_"+strings.TrimPrefix(n, InStreamPrefix) ||
		DLQViewConsumer(long) != "dlqv_"+strings.TrimPrefix(n, InStreamPrefix) {
		t.Error("names are not deterministic")
	}
	for _, id := range []string{"s1", "a b", long, strings.Repeat("x", MaxIDLen)} {
		name := InStream(id)
		if strings.ContainsAny(name, " \t\r\n.*>/\\") || len(name) > 255 {
			t.Errorf("InStream(%q) = %q is not a valid stream name", id, name)
		}
	}
}

func TestHoldSubject(t *testing.T) {
	for _, peer := range []string{"circl", "org-b_db", "p"} {
		s := HoldSubject(1764500400, peer)
		r, p, err := ParseHoldSubject(s)
		if err != nil || r != 1764500400 || p != peer {
			t.Errorf("%s: %d %q %v", s, r, p, err)
		}
	}
	for _, bad := range []string{"cof.hold.x.p", "cof.hold.0.p", "cof.hold.12", "cof.hold.12.p.q", "cof.out.p", "cof.hold.-5.p", "cof.hold.12.%zz"} {
		if _, _, err := ParseHoldSubject(bad); err == nil {
			t.Errorf("%s parsed", bad)
		}
	}
}

func TestParkSubject(t *testing.T) {
	for _, peer := range []string{"circl", "org-b_db"} {
		if p, err := ParkedPeer(ParkSubject(peer)); err != nil || p != peer {
			t.Errorf("%s: %q %v", peer, p, err)
		}
	}
	for _, bad := range []string{"cof.park.a.b", "cof.hold.1.a", "cof.park.%zz"} {
		if _, err := ParkedPeer(bad); err == nil {
			t.Errorf("%s parsed", bad)
		}
	}
}
