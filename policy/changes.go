package policy

import (
	"bytes"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cofswitch/cofswitch/cof"
)

// Change is one field of a record that a transform changed, with its
// value before and after, written plainly: a list joined by commas, a
// time in RFC 3339 (UTC), a string without its quotes.
type Change struct {
	Field     string
	Before    string
	After     string
	Dropped   bool // the transform removed the field (After is "")
	Added     bool // the transform added it (Before is "")
	Transform string
}

// changes is what transform t did to a record, field by field: the
// difference between its COF encodings before and after, in the order of
// the fields of before (then those added).
func changes(t string, before, after *cof.Record) []Change {
	b, a := fieldsOf(before), fieldsOf(after)
	var out []Change
	for _, k := range b.keys {
		av, ok := a.vals[k]
		switch {
		case !ok:
			out = append(out, Change{Field: k, Before: plain(k, b.vals[k]), Dropped: true, Transform: t})
		case !bytes.Equal(av, b.vals[k]):
			out = append(out, Change{Field: k, Before: plain(k, b.vals[k]), After: plain(k, av), Transform: t})
		}
	}
	for _, k := range a.keys {
		if _, ok := b.vals[k]; !ok {
			out = append(out, Change{Field: k, After: plain(k, a.vals[k]), Added: true, Transform: t})
		}
	}
	return out
}

// fields is a record's COF object: its keys in order and raw values.
type fields struct {
	keys []string
	vals map[string]json.RawMessage
}

func fieldsOf(r *cof.Record) fields {
	f := fields{vals: map[string]json.RawMessage{}}
	_ = json.Unmarshal(r.AppendJSON(nil), &f.vals)
	for k := range f.vals {
		f.keys = append(f.keys, k)
	}
	order := []string{cof.KeyRRName, cof.KeyRRType, cof.KeyRData, cof.KeyTimeFirst, cof.KeyTimeLast}
	slices.SortFunc(f.keys, func(x, y string) int {
		ix, iy := slices.Index(order, x), slices.Index(order, y)
		switch {
		case ix >= 0 && iy >= 0:
			return ix - iy
		case ix >= 0:
			return -1
		case iy >= 0:
			return 1
		}
		return strings.Compare(x, y)
	})
	return f
}

// plain writes a JSON value of field k for a person: strings unquoted,
// lists joined by commas, Unix times of the time fields in RFC 3339.
func plain(k string, v json.RawMessage) string {
	var s string
	if json.Unmarshal(v, &s) == nil {
		return s
	}
	var list []json.RawMessage
	if json.Unmarshal(v, &list) == nil {
		parts := make([]string, len(list))
		for i, e := range list {
			parts[i] = plain("", e)
		}
		return strings.Join(parts, ",")
	}
	switch k {
	case cof.KeyTimeFirst, cof.KeyTimeLast, cof.KeyZoneTimeFirst, cof.KeyZoneTimeLast:
		if sec, err := strconv.ParseFloat(string(v), 64); err == nil {
			return time.Unix(int64(sec), 0).UTC().Format(time.RFC3339)
		}
	}
	return string(v)
}
