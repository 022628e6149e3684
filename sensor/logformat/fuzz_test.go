package logformat

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/cofswitch/cofswitch/cof"
)

// seed adds the sample file whole and each of its lines.
func seed(f *testing.F, name string, add func([]byte)) {
	src, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		f.Fatal(err)
	}
	add(src)
	for _, l := range bytes.Split(src, []byte{'\n'}) {
		add(l)
	}
}

// fuzzLines feeds each line of data to p and checks the invariants: no
// panic, errors are *Error with a sentinel, and every record is one that
// cof.Parse accepts and writes back byte for byte, without sensor_id.
func fuzzLines(t *testing.T, p Parser, data []byte) {
	oneAnswer := p.Format() != "cof"
	for _, line := range bytes.Split(data, []byte{'\n'}) {
		err := p.Parse(line, func(r *cof.Record) {
			enc := r.AppendLine(nil)
			back, perr := cof.Parse(enc[:len(enc)-1])
			if perr != nil {
				t.Fatalf("cof.Parse refuses an emitted record: %v\n%s\ninput: %q", perr, enc, line)
			}
			if again := back.AppendLine(nil); !bytes.Equal(again, enc) {
				t.Fatalf("round trip changed the record\n%s%s\ninput: %q", enc, again, line)
			}
			if r.SensorID != "" {
				t.Fatalf("sensor_id %q from the input", r.SensorID)
			}
			if oneAnswer && (len(r.RData) != 1 || r.TimeFirst != r.TimeLast || r.Has&cof.HasCount != 0 && r.Count < 1) {
				t.Fatalf("not one observation: %s", enc)
			}
		})
		if err == nil {
			continue
		}
		var e *Error
		if !errors.As(err, &e) || e.Format == "" || sentinelName(err) == "NO SENTINEL" {
			t.Fatalf("error %T %v is not an *Error with a sentinel", err, err)
		}
	}
	st := p.Stats()
	if st.Lines < st.Errors {
		t.Fatalf("stats: more errors than lines: %+v", st)
	}
}

func FuzzPassiveDNS(f *testing.F) {
	seed(f, "passivedns.log", func(b []byte) { f.Add("SMcsCQTAtn", b) })
	seed(f, "passivedns-custom.log", func(b []byte) { f.Add("HhpQTAltn", b) })
	f.Fuzz(func(t *testing.T, spec string, data []byte) {
		p, err := ByName("passivedns", WithFields(spec))
		if err != nil {
			p, _ = ByName("passivedns")
		}
		fuzzLines(t, p, data)
	})
}

func FuzzPassiveDNSJSON(f *testing.F) {
	seed(f, "passivedns.json", func(b []byte) { f.Add(b) })
	f.Fuzz(func(t *testing.T, data []byte) {
		p, _ := ByName("passivedns-json")
		fuzzLines(t, p, data)
	})
}

func FuzzGoPassiveDNS(f *testing.F) {
	seed(f, "gopassivedns.json", func(b []byte) { f.Add(b) })
	f.Fuzz(func(t *testing.T, data []byte) {
		p, _ := ByName("gopassivedns")
		fuzzLines(t, p, data)
	})
}

func FuzzEVE(f *testing.F) {
	seed(f, "eve.json", func(b []byte) { f.Add(b) })
	f.Fuzz(func(t *testing.T, data []byte) {
		p, _ := ByName("eve", WithErrorResponses())
		fuzzLines(t, p, data)
	})
}

func FuzzZeek(f *testing.F) {
	seed(f, "zeek-dns.log", func(b []byte) { f.Add(b) })
	f.Fuzz(func(t *testing.T, data []byte) {
		p, _ := ByName("zeek", WithErrorResponses())
		fuzzLines(t, p, data)
	})
}

func FuzzZeekJSON(f *testing.F) {
	seed(f, "zeek-dns.json", func(b []byte) { f.Add(b) })
	f.Fuzz(func(t *testing.T, data []byte) {
		p, _ := ByName("zeek-json", WithErrorResponses())
		fuzzLines(t, p, data)
	})
}

func FuzzCOF(f *testing.F) {
	seed(f, "cof.ndjson", func(b []byte) { f.Add(b) })
	f.Fuzz(func(t *testing.T, data []byte) {
		p, _ := ByName("cof")
		fuzzLines(t, p, data)
	})
}
