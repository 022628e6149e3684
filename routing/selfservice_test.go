package routing

import "testing"

func TestCovers(t *testing.T) {
	for _, tc := range []struct {
		name         string
		outer, inner string
		want         bool
	}{
		{name: "same literal", outer: "acme-1", inner: "acme-1", want: true},
		{name: "other literal", outer: "acme-1", inner: "acme-2"},
		{name: "literal in glob", outer: "acme-*", inner: "acme-dns-1", want: true},
		{name: "literal outside glob", outer: "acme-*", inner: "beta-1"},
		{name: "sub-pattern", outer: "acme-*", inner: "acme-dns-*", want: true},
		{name: "same glob", outer: "acme-*", inner: "acme-*", want: true},
		{name: "wider glob", outer: "acme-dns-*", inner: "acme-*"},
		{name: "all within all", outer: "*", inner: "*", want: true},
		{name: "anything within all", outer: "*", inner: "x*y*z", want: true},
		{name: "all within a glob", outer: "acme-*", inner: "*"},
		{name: "literal does not cover a glob", outer: "acme-1", inner: "acme-*"},
		{name: "suffix glob", outer: "*-dns", inner: "acme-*-dns", want: true},
		{name: "suffix glob, other end", outer: "*-dns", inner: "acme-dns-*"},
		{name: "infix", outer: "*a*", inner: "a*", want: true},
		{name: "infix twice", outer: "*a*", inner: "*a*a*", want: true},
		{name: "split infix", outer: "*ab*", inner: "*a*b*"},
		{name: "star must not be eaten by a literal", outer: "acme-x", inner: "acme-*"},
		{name: "double star", outer: "a**b", inner: "a*c*b", want: true},
		{name: "prefix only", outer: "acme", inner: "acme*"},
		{name: "empty inner", outer: "*", inner: "", want: true},
		{name: "empty inner, literal outer", outer: "a", inner: ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Covers(tc.outer, tc.inner); got != tc.want {
				t.Errorf("Covers(%q, %q) = %v, want %v", tc.outer, tc.inner, got, tc.want)
			}
		})
	}
}

// TestCoversAgreesWithMatch checks Covers against Match on every literal
// id: a literal is covered exactly when it matches.
func TestCoversAgreesWithMatch(t *testing.T) {
	pats := []string{"*", "a*", "*a", "a*b", "*a*", "ab", "a**", "*b*a*"}
	ids := []string{"", "a", "b", "ab", "ba", "aab", "abab", "bab"}
	for _, p := range pats {
		for _, id := range ids {
			if Covers(p, id) != Match(p, id) {
				t.Errorf("Covers(%q, %q) = %v, Match = %v", p, id, Covers(p, id), Match(p, id))
			}
		}
	}
}

func TestControlSubject(t *testing.T) {
	if got := ControlSubject("peer-a"); got != "cof.ctl.peer.peer-a" {
		t.Fatalf("ControlSubject = %q", got)
	}
	for subj, want := range map[string]string{"cof.ctl.peer.peer-a": "peer-a", "cof.ctl.peer.a%2Eb": "a.b"} {
		if got, err := ControlledPeer(subj); err != nil || got != want {
			t.Errorf("ControlledPeer(%q) = %q, %v", subj, got, err)
		}
	}
	for _, bad := range []string{"cof.ctl.peer.a.b", "cof.out.a", "cof.ctl.peer.", "cof.ctl.peer.a%2e"} {
		if _, err := ControlledPeer(bad); err == nil {
			t.Errorf("ControlledPeer(%q): no error", bad)
		}
	}
}

// TestCoversExhaustive checks Covers against inclusion decided by brute
// force: for every pair of patterns over {a, b, *} up to 4 bytes, outer
// covers inner exactly when every id over {a, b, c} up to 7 bytes that
// inner matches, outer matches too ('c' stands for any byte the patterns
// do not hold; 7 bytes exceed what any counter-example of such patterns
// needs).
func TestCoversExhaustive(t *testing.T) {
	pats := words("ab*", 4)
	ids := words("abc", 7)
	for _, outer := range pats {
		for _, inner := range pats {
			want := true
			for _, id := range ids {
				if Match(inner, id) && !Match(outer, id) {
					want = false
					break
				}
			}
			if got := Covers(outer, inner); got != want {
				t.Errorf("Covers(%q, %q) = %v, brute force says %v", outer, inner, got, want)
			}
		}
	}
}

// words lists every string over alphabet up to n bytes.
func words(alphabet string, n int) []string {
	out := []string{""}
	level := []string{""}
	for range n {
		var next []string
		for _, w := range level {
			for i := 0; i < len(alphabet); i++ {
				next = append(next, w+alphabet[i:i+1])
			}
		}
		out = append(out, next...)
		level = next
	}
	return out
}
