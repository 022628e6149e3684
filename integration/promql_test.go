package integration

import (
	"slices"
	"strings"
	"testing"
)

// promqlKeywords are the words of PromQL that are not metric names when not
// followed by '(' (the operators, modifiers and literals).
var promqlKeywords = map[string]bool{
	"and": true, "or": true, "unless": true, "atan2": true, "bool": true, "offset": true,
	"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true,
	"inf": true, "nan": true,
}

// promqlLabelLists are the keywords followed by a list of label names in
// parentheses: sum by (sensor), on (peer), group_left (a, b).
var promqlLabelLists = map[string]bool{
	"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true,
}

// metricNames returns the metric names a PromQL expression selects, in the
// order of their first use: the identifiers not followed by '(' (functions,
// aggregations) that are not keywords, outside label matchers {...}, ranges
// and subqueries [...], label lists of by/without/on/ignoring/group_*,
// strings, comments and Grafana's $variables. A Grafana query variable
// label_values(metric, label) yields its metric.
func metricNames(expr string) []string {
	if inner, ok := strings.CutPrefix(strings.TrimSpace(expr), "label_values("); ok {
		inner = strings.TrimSuffix(strings.TrimSpace(inner), ")")
		i := strings.LastIndexByte(inner, ',')
		if i < 0 {
			return nil // label_values(label): no metric
		}
		expr = inner[:i]
	}
	var names []string
	s := expr
	skipSpace := func(i int) int {
		for i < len(s) && strings.ContainsRune(" \t\r\n", rune(s[i])) {
			i++
		}
		return i
	}
	// closing returns the index just past the bracket that closes the one
	// at i, skipping strings.
	closing := func(i int, open, close byte) int {
		depth := 0
		for ; i < len(s); i++ {
			switch c := s[i]; {
			case c == '"' || c == '\'' || c == '`':
				i = endOfString(s, i) - 1
			case c == open:
				depth++
			case c == close:
				depth--
				if depth == 0 {
					return i + 1
				}
			}
		}
		return len(s)
	}
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '"' || c == '\'' || c == '`':
			i = endOfString(s, i)
		case c == '#':
			for i < len(s) && s[i] != '\n' {
				i++
			}
		case c == '{':
			i = closing(i, '{', '}')
		case c == '[':
			i = closing(i, '[', ']')
		case c == '$':
			i++
			if i < len(s) && s[i] == '{' {
				i = closing(i, '{', '}')
				continue
			}
			for i < len(s) && isIdentChar(s[i]) {
				i++
			}
		case c >= '0' && c <= '9' || c == '.' && i+1 < len(s) && s[i+1] >= '0' && s[i+1] <= '9':
			// Numbers and durations: 0.8, 1e3, 0x1f, 5m, 1h30m.
			for i < len(s) && (isIdentChar(s[i]) || s[i] == '.') {
				i++
			}
		case isIdentStart(c):
			j := i
			for j < len(s) && isIdentChar(s[j]) {
				j++
			}
			word := s[i:j]
			next := skipSpace(j)
			switch lower := strings.ToLower(word); {
			case promqlLabelLists[lower]:
				if next < len(s) && s[next] == '(' {
					j = closing(next, '(', ')')
				}
			case promqlKeywords[lower]:
			case next < len(s) && s[next] == '(':
				// A function or an aggregation: its arguments are read on.
			case aggregationClause(s[next:]):
				// sum by (sensor) (...): an aggregation, its clause first.
			default:
				if !slices.Contains(names, word) {
					names = append(names, word)
				}
			}
			i = j
		default:
			i++
		}
	}
	return names
}

// aggregationClause says whether rest begins with by or without and a
// parenthesis: what follows an aggregation operator, never a metric.
func aggregationClause(rest string) bool {
	for _, kw := range []string{"by", "without"} {
		if len(rest) > len(kw) && strings.EqualFold(rest[:len(kw)], kw) && !isIdentChar(rest[len(kw)]) {
			return strings.HasPrefix(strings.TrimLeft(rest[len(kw):], " \t\r\n"), "(")
		}
	}
	return false
}

// endOfString returns the index just past the string literal opening at i.
func endOfString(s string, i int) int {
	quote := s[i]
	for j := i + 1; j < len(s); j++ {
		switch {
		case s[j] == '\\' && quote != '`':
			j++
		case s[j] == quote:
			return j + 1
		}
	}
	return len(s)
}

func isIdentStart(c byte) bool {
	return c == '_' || c == ':' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func isIdentChar(c byte) bool { return isIdentStart(c) || c >= '0' && c <= '9' }

// TestMetricNames: the tokenizer the deploy test relies on finds the
// metrics of an expression and nothing else.
func TestMetricNames(t *testing.T) {
	for _, tc := range []struct {
		name, expr string
		want       []string
	}{
		{name: "selector", expr: `up{job=~"cofswitch-.*"} == 0`, want: []string{"up"}},
		{name: "aggregation and range", expr: `sum by (sensor) (rate(a_total{sensor=~"$sensor"}[$__rate_interval]))`, want: []string{"a_total"}},
		{name: "aggregation clause after", expr: `sum(rate(a_total[5m])) without (kind, le)`, want: []string{"a_total"}},
		{name: "histogram", expr: `histogram_quantile(0.99, sum by (le) (rate(h_seconds_bucket[5m])))`, want: []string{"h_seconds_bucket"}},
		{name: "join", expr: "x / on (peer) group_left (org) y\nand ignoring(a) z > bool 0.8", want: []string{"x", "y", "z"}},
		{name: "or, arithmetic, numbers", expr: `(time() - max(t_seconds)) > 15 * 60 or a * 0 + 1e3 - 0x1f`, want: []string{"t_seconds", "a"}},
		{name: "offset and subquery", expr: `deriv(g[10m:1m]) offset 5m > 0 unless g @ end()`, want: []string{"g"}},
		{name: "strings and comments", expr: "label_replace(a, \"dst\", \"x{y}\", 'src', `(.*)`) # not_a_metric\n", want: []string{"a"}},
		{name: "grafana variables", expr: `rate(a[${__rate_interval}]) * $scale`, want: []string{"a"}},
		{name: "keywords in capitals", expr: `a AND ON(x) b`, want: []string{"a", "b"}},
		{name: "label_values", expr: `label_values(cofswitch_switch_deliveries_total{job="x"}, peer)`, want: []string{"cofswitch_switch_deliveries_total"}},
		{name: "label_values of a label", expr: `label_values(peer)`},
		{name: "recording rule name", expr: `job:cofswitch_records:rate5m`, want: []string{"job:cofswitch_records:rate5m"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := metricNames(tc.expr); !slices.Equal(got, tc.want) {
				t.Errorf("metricNames(%q) = %q, want %q", tc.expr, got, tc.want)
			}
		})
	}
}
