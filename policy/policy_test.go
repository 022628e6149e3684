package policy

import (
	"testing"

	"github.com/cofswitch/cofswitch/cof"
)

type dropAll struct{}

func (dropAll) Apply(*cof.Record) (*cof.Record, bool) { return nil, false }

func TestSet(t *testing.T) {
	s := NewSet("v7", map[string]Policy{"none": dropAll{}})
	if s.Version() != "v7" {
		t.Errorf("Version() = %q", s.Version())
	}
	r := &cof.Record{RRName: "a.example"}
	pass, ok := s.Lookup("pass")
	if !ok {
		t.Fatal("built-in pass missing")
	}
	if out, keep := pass.Apply(r); !keep || out != r {
		t.Errorf("pass changed or withheld the record")
	}
	none, ok := s.Lookup("none")
	if !ok {
		t.Fatal("named policy missing")
	}
	if _, keep := none.Apply(r); keep {
		t.Error("dropAll kept the record")
	}
	if _, ok := s.Lookup("missing"); ok {
		t.Error("Lookup of an unknown name succeeded")
	}
	if _, ok := Builtin().Lookup("pass"); !ok {
		t.Error("Builtin() lacks pass")
	}
}
