package config

import (
	"fmt"
	"testing"
)

// TestExampleShowsTheDefaults: the example configuration says it shows
// every key with its default; its nats, streams and switch sections must
// equal what an empty file gets.
func TestExampleShowsTheDefaults(t *testing.T) {
	ex, err := Load("../deploy/examples/cofswitch.yaml")
	if err != nil {
		t.Fatal(err)
	}
	def, err := Parse("empty.yaml", []byte("sensors: []\n"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name      string
		got, want any
	}{
		{"nats", ex.NATS, def.NATS},
		{"streams", ex.Streams, def.Streams},
		{"switch", ex.Switch, def.Switch},
	} {
		// %+v: an empty list written out ([]) is the default (nil).
		if fmt.Sprintf("%+v", c.got) != fmt.Sprintf("%+v", c.want) {
			t.Errorf("the example's %s section is not the defaults:\n example %+v\n default %+v", c.name, c.got, c.want)
		}
	}
}
