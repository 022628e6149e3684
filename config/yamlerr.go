package config

import (
	"fmt"
	"reflect"
	"regexp"
	"strconv"
	"strings"
)

// The YAML decoder speaks Go ("line 3: field url not found in type
// config.NATS", "cannot unmarshal !!str `x` into int"): these rewrite its
// messages in the configuration's terms, with the line, and suggest the key
// that was probably meant.
var (
	unknownField = regexp.MustCompile(`^line (\d+): field (\S+) not found in type (\S+)$`)
	badValue     = regexp.MustCompile("^line (\\d+): cannot unmarshal !!(\\w+) `(.*)` into (\\S+)$")
	onLine       = regexp.MustCompile(`^line (\d+): (.*)$`)
)

// keysOf maps the Go type names of the configuration's structs to their
// YAML keys, found once by walking Config.
var keysOf = func() map[string][]string {
	m := map[string][]string{}
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Map {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct || m[t.String()] != nil {
			return
		}
		keys := []string{}
		m[t.String()] = keys
		for i := range t.NumField() {
			f := t.Field(i)
			tag, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if tag == "" || tag == "-" || !f.IsExported() {
				continue
			}
			keys = append(keys, tag)
			walk(f.Type)
		}
		m[t.String()] = keys
	}
	walk(reflect.TypeOf(Config{}))
	return m
}()

// friendlyYAML rewrites one decoder message; line is 0 when it names none.
func friendlyYAML(msg string) (line int, out string) {
	if m := unknownField.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		out = fmt.Sprintf("unknown key %q", m[2])
		keys := keysOf[m[3]]
		if s := closest(m[2], keys); s != "" {
			out += fmt.Sprintf(" (did you mean %q?)", s)
		} else if len(keys) > 0 {
			out += " (known here: " + strings.Join(keys, ", ") + ")"
		}
		return line, out
	}
	if m := badValue.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		want := m[4]
		switch {
		case strings.Contains(want, "int"):
			want = "a whole number"
		case strings.Contains(want, "bool"):
			want = "true or false"
		case strings.HasPrefix(want, "[]"):
			want = "a list"
		case strings.HasPrefix(want, "map"), strings.Contains(want, "."):
			want = "a mapping (key: value lines)"
		}
		return line, fmt.Sprintf("%q is not %s", m[3], want)
	}
	if m := onLine.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		return line, m[2]
	}
	return 0, msg
}

// closest is the key within two edits of k (or one that k starts or ends),
// "" when none is.
func closest(k string, keys []string) string {
	best, bestD := "", 3
	for _, c := range keys {
		d := editDistance(k, c)
		if strings.HasPrefix(c, k) || strings.HasPrefix(k, c) {
			d = min(d, 1)
		}
		if d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}
