package config

import (
	"strings"
	"testing"
)

// TestYAMLErrorsSpeakConfig: decoder errors name the file, the line and
// the key in the configuration's terms, with the key probably meant.
func TestYAMLErrorsSpeakConfig(t *testing.T) {
	for _, tt := range []struct{ yaml, want string }{
		{"nats:\n  url: [nats://x]\n", `c.yaml:2: unknown key "url" (did you mean "urls"?)`},
		{"switch:\n  workers: many\n", `c.yaml:2: "many" is not a whole number`},
		{"policies:\n  p:\n    transforms:\n      coarsen: 1h\n", `c.yaml:4: unknown key "coarsen" (did you mean "coarsen_time"?)`},
		{"sensors:\n  - id: s\n    zzz: 1\n", `c.yaml:3: unknown key "zzz" (known here: id, organisation`},
		{"switch:\n  require_tlp: maybe\n", `c.yaml:2: "maybe" is not true or false`},
	} {
		_, err := Parse("c.yaml", []byte(tt.yaml))
		if err == nil || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "config.") {
			t.Errorf("%q: %v, want %q", tt.yaml, err, tt.want)
		}
	}
}
