package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// docURL names the OpenAPI document as a JSON Schema resource: its
// schemas compile as docURL + "#" + a JSON pointer into it.
const docURL = "openapi.json"

// apiDoc reads the embedded OpenAPI document for the tests: it resolves
// $refs, matches request paths to the document's path templates, and
// validates requests and answers against the document's schemas.
type apiDoc struct {
	root     map[string]any
	compiler *jsonschema.Compiler
	compiled map[string]*jsonschema.Schema
}

// loadAPIDoc decodes openAPIDocument (numbers kept as json.Number, as the
// validator wants) and adds it whole as one schema resource.
func loadAPIDoc(t *testing.T) *apiDoc {
	t.Helper()
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(openAPIDocument))
	if err != nil {
		t.Fatalf("openapi.json is not JSON: %v", err)
	}
	root, ok := v.(map[string]any)
	if !ok {
		t.Fatal("openapi.json is not an object")
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020) // OpenAPI 3.1's dialect
	if err := c.AddResource(docURL, v); err != nil {
		t.Fatal(err)
	}
	return &apiDoc{root: root, compiler: c, compiled: map[string]*jsonschema.Schema{}}
}

// at returns the value at a JSON pointer ("#/components/schemas/X").
func (d *apiDoc) at(ptr string) (any, error) {
	rest, ok := strings.CutPrefix(ptr, "#")
	if !ok {
		return nil, fmt.Errorf("%q: only local references are used", ptr)
	}
	var v any = d.root
	if rest == "" {
		return v, nil
	}
	for _, tok := range strings.Split(strings.TrimPrefix(rest, "/"), "/") {
		tok = strings.NewReplacer("~1", "/", "~0", "~").Replace(tok)
		switch n := v.(type) {
		case map[string]any:
			if v, ok = n[tok]; !ok {
				return nil, fmt.Errorf("%q: no %q", ptr, tok)
			}
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(n) {
				return nil, fmt.Errorf("%q: no index %q", ptr, tok)
			}
			v = n[i]
		default:
			return nil, fmt.Errorf("%q: %q is inside a scalar", ptr, tok)
		}
	}
	return v, nil
}

// node is a value of the document with the pointer it was found at, so
// that a schema inside it can be compiled in place.
type node struct {
	ptr string
	v   map[string]any
}

// get returns member key of n, following a $ref (parameters, responses),
// or ok false.
func (d *apiDoc) get(n node, key string) (node, bool) {
	return d.follow(n.ptr+"/"+strings.NewReplacer("~", "~0", "/", "~1").Replace(key), n.v[key])
}

// follow makes a node of the value v found at ptr, through its $refs.
func (d *apiDoc) follow(ptr string, v any) (node, bool) {
	for range 8 {
		m, ok := v.(map[string]any)
		if !ok {
			return node{}, false
		}
		ref, isRef := m["$ref"].(string)
		if !isRef {
			return node{ptr, m}, true
		}
		target, err := d.at(ref)
		if err != nil {
			return node{}, false
		}
		ptr, v = ref, target
	}
	return node{}, false
}

// schema compiles the schema at n's pointer once.
func (d *apiDoc) schema(t *testing.T, n node) *jsonschema.Schema {
	t.Helper()
	loc := docURL + n.ptr
	if s, ok := d.compiled[loc]; ok {
		return s
	}
	s, err := d.compiler.Compile(loc)
	if err != nil {
		t.Fatalf("compile %s: %v", loc, err)
	}
	d.compiled[loc] = s
	return s
}

// templates lists the document's path templates, sorted.
func (d *apiDoc) templates() []string {
	paths, _ := d.root["paths"].(map[string]any)
	var out []string
	for p := range paths {
		out = append(out, p)
	}
	slices.Sort(out)
	return out
}

// match finds the template of an escaped request path ("{x}" takes one
// non-empty segment) and returns it with its path parameters, unescaped.
func (d *apiDoc) match(escapedPath string) (string, map[string]string, bool) {
	segs := strings.Split(escapedPath, "/")
	for _, tmpl := range d.templates() {
		tsegs := strings.Split(tmpl, "/")
		if len(tsegs) != len(segs) {
			continue
		}
		params := map[string]string{}
		ok := true
		for i, ts := range tsegs {
			if name, isParam := strings.CutPrefix(ts, "{"); isParam && strings.HasSuffix(name, "}") {
				v, err := url.PathUnescape(segs[i])
				if segs[i] == "" || err != nil {
					ok = false
					break
				}
				params[strings.TrimSuffix(name, "}")] = v
				continue
			}
			if ts != segs[i] {
				ok = false
				break
			}
		}
		if ok {
			return tmpl, params, true
		}
	}
	return "", nil, false
}

// operation returns the GET operation of a template.
func (d *apiDoc) operation(tmpl string) (node, bool) {
	paths, _ := d.get(node{"#", d.root}, "paths")
	item, ok := d.get(paths, tmpl)
	if !ok {
		return node{}, false
	}
	return d.get(item, "get")
}

// statuses lists the status codes an operation documents.
func (d *apiDoc) statuses(op node) []int {
	responses, _ := d.get(op, "responses")
	var out []int
	for k := range responses.v {
		if n, err := strconv.Atoi(k); err == nil {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
}

// parameter returns the operation's parameter of that place and name
// (header names in any case).
func (d *apiDoc) parameter(op node, in, name string) (node, bool) {
	params, _ := op.v["parameters"].([]any)
	for i, v := range params {
		p, ok := d.follow(op.ptr+"/parameters/"+strconv.Itoa(i), v)
		if !ok {
			continue
		}
		if pname, _ := p.v["name"].(string); p.v["in"] == in && (pname == name || in == "header" && strings.EqualFold(pname, name)) {
			return p, true
		}
	}
	return node{}, false
}

// checkRequest reports request parts the operation does not document:
// query parameters, dribble-* headers, path parameters; with values, each
// is validated against the parameter's schema too (for requests that are
// meant to succeed: the document must allow what works).
func (d *apiDoc) checkRequest(t *testing.T, op node, pathParams map[string]string, query url.Values, hdr map[string]string, values bool) {
	t.Helper()
	check := func(in, name, value string) {
		p, ok := d.parameter(op, in, name)
		if !ok {
			t.Errorf("%s parameter %q is not documented for %s", in, name, op.ptr)
			return
		}
		if !values {
			return
		}
		s, _ := d.get(p, "schema")
		var v any = value
		if _, err := strconv.ParseInt(value, 10, 64); err == nil && s.v["type"] == "integer" {
			v = json.Number(value)
		}
		if err := d.schema(t, s).Validate(v); err != nil {
			t.Errorf("%s parameter %s=%q does not validate: %v", in, name, value, err)
		}
	}
	for name, v := range pathParams {
		check("path", name, v)
	}
	for name, vs := range query {
		for _, v := range vs {
			check("query", name, v)
		}
	}
	for name, v := range hdr {
		if strings.HasPrefix(strings.ToLower(name), "dribble-") {
			check("header", strings.ToLower(name), v)
		}
	}
}

// checkAnswer validates an answer against the operation's response of its
// status: the media type is documented, the body (each line of an NDJSON
// body) validates against its schema, and the required headers are there
// and valid. It returns the body's lines as decoded values.
func (d *apiDoc) checkAnswer(t *testing.T, op node, status int, hdr http.Header, body string) []any {
	t.Helper()
	responses, _ := d.get(op, "responses")
	resp, ok := d.get(responses, strconv.Itoa(status))
	if !ok {
		t.Fatalf("status %d is not documented for %s (documented: %v); body %.300q", status, op.ptr, d.statuses(op), body)
	}
	if headers, ok := d.get(resp, "headers"); ok {
		for name := range headers.v {
			h, _ := d.get(headers, name)
			v := hdr.Get(name)
			if v == "" {
				if h.v["required"] == true {
					t.Errorf("required header %s is missing", name)
				}
				continue
			}
			s, _ := d.get(h, "schema")
			if err := d.schema(t, s).Validate(v); err != nil {
				t.Errorf("header %s: %q: %v", name, v, err)
			}
		}
	}
	content, _ := d.get(resp, "content")
	mt, _, err := mime.ParseMediaType(hdr.Get("Content-Type"))
	if err != nil {
		t.Fatalf("Content-Type %q: %v", hdr.Get("Content-Type"), err)
	}
	media, ok := d.get(content, mt)
	if !ok {
		t.Fatalf("media type %s is not documented for status %d of %s", mt, status, op.ptr)
	}
	sn, _ := d.get(media, "schema")
	s := d.schema(t, sn)
	switch mt {
	case "application/x-ndjson":
		if body != "" && !strings.HasSuffix(body, "\n") {
			t.Errorf("the last line has no newline: %q", body)
		}
		var lines []any
		for i, l := range strings.Split(strings.TrimSuffix(body, "\n"), "\n") {
			if body == "" {
				break
			}
			v, err := jsonschema.UnmarshalJSON(strings.NewReader(l))
			if err != nil {
				t.Fatalf("line %d is not JSON (dnsdbq aborts on it): %q", i+1, l)
			}
			if err := s.Validate(v); err != nil {
				t.Errorf("line %d %s does not validate against %s:\n%v", i+1, l, sn.ptr, err)
			}
			lines = append(lines, v)
		}
		return lines
	case "application/json":
		v, err := jsonschema.UnmarshalJSON(strings.NewReader(body))
		if err != nil {
			t.Fatalf("not JSON: %.300q", body)
		}
		if err := s.Validate(v); err != nil {
			t.Errorf("%.300s does not validate against %s:\n%v", body, sn.ptr, err)
		}
		return []any{v}
	default:
		if err := s.Validate(body); err != nil {
			t.Errorf("%.300q does not validate against %s: %v", body, sn.ptr, err)
		}
		return nil
	}
}

// checkSAF checks the order of SAF lines, which no line schema can: an
// answer is a begin line, objects, and one terminator, last; an error
// answer is one failed line alone. It returns the terminating line.
func checkSAF(t *testing.T, lines []any) map[string]any {
	t.Helper()
	cond := func(v any) string {
		m, _ := v.(map[string]any)
		c, _ := m["cond"].(string)
		return c
	}
	if len(lines) == 0 {
		t.Fatal("an empty SAF answer: no begin, no terminator")
	}
	last, _ := lines[len(lines)-1].(map[string]any)
	if len(lines) == 1 {
		if cond(last) != "failed" {
			t.Errorf("a one-line SAF answer that is not failed: %v", last)
		}
		return last
	}
	if cond(lines[0]) != "begin" {
		t.Errorf("the first line is not begin: %v", lines[0])
	}
	if c := cond(last); c != "succeeded" && c != "limited" && c != "failed" {
		t.Errorf("the last line is no terminator: %v", last)
	}
	for i, l := range lines[1 : len(lines)-1] {
		if c := cond(l); c != "" {
			t.Errorf("line %d: cond %q between begin and the terminator", i+2, c)
		}
	}
	return last
}
