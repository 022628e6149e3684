package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.yaml.in/yaml/v3"

	"github.com/cofswitch/cofswitch/routing"
)

// The files of deploy/ this test checks, from the integration folder.
const (
	alertsFile     = "../deploy/prometheus/alerts.yml"
	alertsTestFile = "../deploy/prometheus/alerts_test.yml"
	promConfigFile = "../deploy/prometheus/prometheus.yml"
	dashboardFile  = "../deploy/grafana/cofswitch.json"
)

// scrapeMetrics are the series Prometheus makes itself for every target.
var scrapeMetrics = map[string]bool{
	"up": true, "scrape_duration_seconds": true, "scrape_samples_scraped": true,
	"scrape_samples_post_metric_relabeling": true, "scrape_series_added": true,
}

// query is one PromQL expression of deploy/: where it is and what it says.
type query struct{ file, where, expr string }

// deployExchangeYAML has what makes every labelled series appear: a sensor
// over its rate quota (throttled), a peer whose stream refuses (dropped),
// a peer read by a sink, one by a database, a peer whose policy withholds.
const deployExchangeYAML = `
policies:
  no-a: {tlp: GREEN, exclude: {rrtypes: [A]}}
streams:
  duplicate_window: 5m
switch:
  ack_wait: 2s
sensors:
  - {id: s1, organisation: org-a}
  - {id: s-slow, organisation: org-a, rate: 200KiB}
peers:
  - {id: p-sink, organisation: org-b, subscriptions: [{sensors: ["*"], policy: pass, tlp: CLEAR}]}
  - {id: p-db, organisation: org-b, subscriptions: [{sensors: [s1], policy: pass, tlp: CLEAR}]}
  - id: p-full
    organisation: org-c
    stream: {max_msgs: 1, discard: new}
    subscriptions: [{sensors: [s1], policy: pass, tlp: CLEAR}]
  - {id: p-strict, organisation: org-d, subscriptions: [{sensors: [s1], policy: no-a}]}
`

// TestDeployMetricsExist: every metric the alert rules and the Grafana
// dashboard of deploy/ use is in a real scrape of serve, sink and db
// serve after records went through; the rules are well formed and each
// has a unit test that makes it fire; with promtool on PATH, promtool
// accepts the rules, their tests, the example configuration and the
// scrapes.
func TestDeployMetricsExist(t *testing.T) {
	queries := append(ruleQueries(t), dashboardQueries(t)...)
	if len(queries) < 20 {
		t.Fatalf("only %d queries in deploy/: the files were not read", len(queries))
	}
	scrapes := scrapeExchange(t)
	have := map[string]*dto.MetricFamily{}
	for _, body := range scrapes {
		maps.Copy(have, parseScrape(t, body))
	}
	for _, q := range queries {
		for _, name := range metricNames(q.expr) {
			if !exists(have, name) {
				t.Errorf("%s: %s uses metric %s, which no scrape of serve, sink, db or sensor has\n  expr: %s", q.file, q.where, name, q.expr)
			}
		}
	}
	t.Run("README table", func(t *testing.T) { checkREADMETable(t, have) })
	t.Run("promtool", func(t *testing.T) {
		promtool, err := exec.LookPath("promtool")
		if err != nil {
			t.Skip("promtool not on PATH (Debian's prometheus package brings it; .ci/run installs it): rules, their tests and the scrapes not checked by promtool")
		}
		dir := filepath.Dir(alertsFile)
		for _, args := range [][]string{
			{"check", "rules", filepath.Base(alertsFile)},
			{"test", "rules", filepath.Base(alertsTestFile)},
			{"check", "config", filepath.Base(promConfigFile)},
		} {
			runPromtool(t, promtool, dir, nil, args...)
		}
		for job, body := range scrapes {
			t.Logf("promtool check metrics on the scrape of %s", job)
			runPromtool(t, promtool, dir, strings.NewReader(body), "check", "metrics")
		}
	})
}

// exists says whether the scrape has the metric: a family of that name, or
// a histogram's (summary's) _bucket, _sum or _count.
func exists(have map[string]*dto.MetricFamily, name string) bool {
	if have[name] != nil || scrapeMetrics[name] {
		return true
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		base, ok := strings.CutSuffix(name, suffix)
		if !ok || have[base] == nil {
			continue
		}
		switch have[base].GetType() {
		case dto.MetricType_HISTOGRAM:
			return true
		case dto.MetricType_SUMMARY:
			return suffix != "_bucket"
		}
	}
	return false
}

func runPromtool(t *testing.T, promtool, dir string, stdin io.Reader, args ...string) {
	t.Helper()
	cmd := exec.Command(promtool, args...)
	cmd.Dir, cmd.Stdin = dir, stdin
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// ruleQueries reads alerts.yml, checks that every rule is a complete alert
// (severity, summary, description) with a test in alerts_test.yml that
// makes it fire, and returns the expressions.
func ruleQueries(t *testing.T) []query {
	t.Helper()
	var rules struct {
		Groups []struct {
			Name  string `yaml:"name"`
			Rules []struct {
				Alert       string            `yaml:"alert"`
				Record      string            `yaml:"record"`
				Expr        string            `yaml:"expr"`
				For         string            `yaml:"for"`
				Labels      map[string]string `yaml:"labels"`
				Annotations map[string]string `yaml:"annotations"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	readYAML(t, alertsFile, &rules)
	var tests struct {
		Tests []struct {
			AlertRuleTest []struct {
				Alertname string `yaml:"alertname"`
				ExpAlerts []any  `yaml:"exp_alerts"`
			} `yaml:"alert_rule_test"`
		} `yaml:"tests"`
	}
	readYAML(t, alertsTestFile, &tests)
	fires := map[string]bool{}
	for _, tc := range tests.Tests {
		for _, a := range tc.AlertRuleTest {
			fires[a.Alertname] = fires[a.Alertname] || len(a.ExpAlerts) > 0
		}
	}
	var out []query
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			name := r.Alert
			if name == "" {
				name = r.Record
			}
			where := fmt.Sprintf("group %s, rule %s", g.Name, name)
			if strings.TrimSpace(r.Expr) == "" {
				t.Errorf("%s: %s has no expr", alertsFile, where)
				continue
			}
			out = append(out, query{file: alertsFile, where: where, expr: r.Expr})
			if r.Alert == "" {
				continue
			}
			if s := r.Labels["severity"]; s != "warning" && s != "critical" {
				t.Errorf("%s: %s: severity %q, want warning or critical", alertsFile, where, s)
			}
			for _, a := range []string{"summary", "description"} {
				if r.Annotations[a] == "" {
					t.Errorf("%s: %s has no %s annotation", alertsFile, where, a)
				}
			}
			if !fires[r.Alert] {
				t.Errorf("%s: no test in %s makes %s fire", alertsFile, alertsTestFile, r.Alert)
			}
		}
	}
	return out
}

// dashboardQueries reads the Grafana dashboard, checks that every panel
// and query variable takes its data source from the DS_PROMETHEUS variable
// and that the sensor and peer variables exist, and returns the
// expressions of every panel's targets and query variables.
func dashboardQueries(t *testing.T) []query {
	t.Helper()
	data, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	type target struct {
		RefID      string         `json:"refId"`
		Expr       string         `json:"expr"`
		Datasource map[string]any `json:"datasource"`
	}
	type panel struct {
		Title      string         `json:"title"`
		Type       string         `json:"type"`
		Datasource map[string]any `json:"datasource"`
		Targets    []target       `json:"targets"`
		Panels     []panel        `json:"panels"` // a collapsed row's
	}
	var dash struct {
		Panels     []panel `json:"panels"`
		Templating struct {
			List []struct {
				Name       string          `json:"name"`
				Type       string          `json:"type"`
				Query      json.RawMessage `json:"query"`
				Datasource map[string]any  `json:"datasource"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(data, &dash); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	const ds = "${DS_PROMETHEUS}"
	var out []query
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			walk(p.Panels)
			if p.Type == "row" {
				continue
			}
			if p.Datasource["uid"] != ds {
				t.Errorf("%s: panel %q: datasource %v, want uid %s", dashboardFile, p.Title, p.Datasource, ds)
			}
			if len(p.Targets) == 0 {
				t.Errorf("%s: panel %q has no query", dashboardFile, p.Title)
			}
			for _, tg := range p.Targets {
				if tg.Datasource != nil && tg.Datasource["uid"] != ds {
					t.Errorf("%s: panel %q, query %s: datasource %v, want uid %s", dashboardFile, p.Title, tg.RefID, tg.Datasource, ds)
				}
				out = append(out, query{file: dashboardFile, where: fmt.Sprintf("panel %q, query %s", p.Title, tg.RefID), expr: tg.Expr})
			}
		}
	}
	walk(dash.Panels)
	vars := map[string]string{}
	for _, v := range dash.Templating.List {
		vars[v.Name] = v.Type
		if v.Type != "query" {
			continue
		}
		if v.Datasource["uid"] != ds {
			t.Errorf("%s: variable %s: datasource %v, want uid %s", dashboardFile, v.Name, v.Datasource, ds)
		}
		// Grafana 10 keeps a Prometheus variable's query as an object;
		// older models as a string.
		var q struct {
			Query string `json:"query"`
		}
		if err := json.Unmarshal(v.Query, &q.Query); err != nil {
			if err := json.Unmarshal(v.Query, &q); err != nil {
				t.Errorf("%s: variable %s: query %s: %v", dashboardFile, v.Name, v.Query, err)
			}
		}
		out = append(out, query{file: dashboardFile, where: "variable " + v.Name, expr: q.Query})
	}
	for name, typ := range map[string]string{"DS_PROMETHEUS": "datasource", "sensor": "query", "peer": "query"} {
		if vars[name] != typ {
			t.Errorf("%s: variable %s is %q, want a %s variable", dashboardFile, name, vars[name], typ)
		}
	}
	return out
}

func readYAML(t *testing.T, file string, v any) {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(data, v); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
}

// scrapeExchange runs serve, a sink and a database on a NATS server with
// --metrics, sends records through (valid and invalid, over a rate quota,
// into a full stream), and returns each process's /metrics once every
// labelled family has appeared, by job.
func scrapeExchange(t *testing.T) map[string]string {
	t.Helper()
	srv, _, js := startServer(t)
	url := srv.ClientURL()
	addr := map[string]string{"serve": freeAddr(t), "sink": freeAddr(t), "db": freeAddr(t), "sensor": freeAddr(t)}
	cfg := writeFile(t, "cofswitch.yaml", deployExchangeYAML)
	sw := start(t, "serve", "--config", cfg, "--data", t.TempDir(), "--nats-url", url, "--metrics", addr["serve"])
	waitFor(t, "switch ready", 15*time.Second, func() bool { return contains(sw.output(), "exchange ready") })
	// The sink and the database verify what they receive against the key
	// serve logs: the records below reach them only if it signs.
	key := regexp.MustCompile(`exchange_key=([A-Z0-9]+)`).FindStringSubmatch(sw.output())
	if key == nil {
		t.Fatalf("serve logged no exchange_key:\n%s", sw.output())
	}
	start(t, "sink", "--peer", "p-sink", "--to", "file:"+t.TempDir(), "--nats-url", url, "--metrics", addr["sink"], "--exchange-key", key[1])
	start(t, "db", "serve", "--peer", "p-db", "--store", t.TempDir(), "--http", freeAddr(t), "--nats-url", url,
		"--api-keys", writeFile(t, "keys", "deploy-test-key\n"), "--checkpoint", "100ms", "--metrics", addr["db"], "--exchange-key", key[1])

	var in strings.Builder
	for i := range 20 {
		fmt.Fprintf(&in, `{"rrname":"d%d.example","rrtype":"A","rdata":"192.0.2.%d","time_first":1,"time_last":2}`+"\n", i, i+1)
	}
	in.WriteString("not json\n")
	// Two batches: the second finds p-full's stream of one message full.
	if _, stderr, code := run(t, nil, "publish", "--sensor", "s1", "--nats-url", url, "--batch", "12", writeFile(t, "in.ndjson", in.String())); code != 0 {
		t.Fatalf("publish: exit %d: %s", code, stderr)
	}
	// 1.3 MB past a burst of about 1 MiB at 200 KiB/s: s-slow is held.
	var big bytes.Buffer
	for i := 0; big.Len() < 450<<10; i++ {
		fmt.Fprintf(&big, `{"rrname":"slow%d.example","rrtype":"A","rdata":"198.51.100.%d","time_first":1,"time_last":2}`+"\n", i, i%250+1)
	}
	for range 3 {
		if _, err := js.Publish(context.Background(), routing.InSubject("s-slow"), big.Bytes()); err != nil {
			t.Fatal(err)
		}
	}
	// A sensor following a log into s1.
	dir := t.TempDir()
	start(t, "sensor", "--sensor", "s1", "--input", "cof:"+writeFile(t, "sensor.ndjson", in.String()), "--spool", filepath.Join(dir, "spool"),
		"--window", "100ms", "--nats-url", url, "--metrics", addr["sensor"])
	waitFor(t, "input switched", 30*time.Second, func() bool { return inputMsgs(t, js) == 0 })

	// Families that appear only once something happened, or once a
	// process has done its first work.
	want := map[string][]string{
		"serve": {"cofswitch_switch_throttled_seconds_total", "cofswitch_switch_dropped_total", "cofswitch_switch_dead_letters_total",
			"cofswitch_switch_withheld_records_total"},
		"sink": {"cofswitch_sink_records_total"},
		"db":   {"cofswitch_db_rrsets"},
	}
	out := map[string]string{}
	for _, job := range slices.Sorted(maps.Keys(addr)) {
		waitFor(t, job+"'s metrics", 20*time.Second, func() bool {
			body := get(addr[job])
			fams := parseScrape(t, body)
			for _, name := range want[job] {
				if fams[name] == nil {
					return false
				}
			}
			out[job] = body
			return true
		})
	}
	// The switch's signature verified: the sink delivered records and
	// neither it nor the database refused a batch.
	waitFor(t, "the sink's records", 20*time.Second, func() bool {
		return sumOf(parseScrape(t, get(addr["sink"]))["cofswitch_sink_records_total"]) > 0
	})
	for job, fam := range map[string]string{"sink": "cofswitch_sink_unverified_batches_total", "db": "cofswitch_db_unverified_batches_total"} {
		if f := parseScrape(t, get(addr[job]))[fam]; f == nil || sumOf(f) != 0 {
			t.Errorf("%s: %s = %v, want 0", job, fam, f)
		}
	}
	return out
}

// sumOf adds a counter family's series.
func sumOf(f *dto.MetricFamily) float64 {
	var sum float64
	for _, m := range f.GetMetric() {
		sum += m.GetCounter().GetValue()
	}
	return sum
}

// get returns the /metrics of addr, empty on an error.
func get(addr string) string {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		return ""
	}
	return string(body)
}

// parseScrape parses a scrape in the text format.
func parseScrape(t *testing.T, body string) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("parsing a scrape: %v", err)
	}
	return fams
}

// onlyAfterAnEvent are the metrics of the README's table that a process
// exports only once what they count has happened, which the scrapes of
// this test do not cause (each is tested beside its code).
var onlyAfterAnEvent = map[string]string{
	"cofswitch_switch_duplicate_records_total":       "a batch redelivered after its outputs were stored",
	"cofswitch_switch_parked_records_total":          "a peer stream down",
	"cofswitch_switch_threshold_records_total":       "a policy with a threshold (switch/engine/threshold_test.go)",
	"cofswitch_sensor_dnstap_malformed_total":        "a malformed dnstap frame (sensor/dnstap's tests)",
	"cofswitch_sensor_dnstap_negative_answers_total": "a negative answer over dnstap (integration/sensor_test.go)",
}

// checkREADMETable: the README's metrics table ("Operating it") lists
// every cofswitch metric the scrapes have, and each metric it lists is in
// a scrape (or in onlyAfterAnEvent).
func checkREADMETable(t *testing.T, have map[string]*dto.MetricFamily) {
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]bool{}
	name := regexp.MustCompile("`(cofswitch_[a-z_]+)`")
	for line := range strings.SplitSeq(string(b), "\n") {
		first, _, ok := strings.Cut(strings.TrimPrefix(line, "| "), " | ")
		if !strings.HasPrefix(line, "| `cofswitch_") || !ok {
			continue
		}
		for _, m := range name.FindAllStringSubmatch(first, -1) {
			listed[m[1]] = true
		}
	}
	if len(listed) < 30 {
		t.Fatalf("only %d metrics in the README's table: not found", len(listed))
	}
	for fam := range have {
		if strings.HasPrefix(fam, "cofswitch_") && !listed[fam] {
			t.Errorf("metric %s is served but not in the README's table", fam)
		}
	}
	for m := range listed {
		if have[m] == nil && onlyAfterAnEvent[m] == "" {
			t.Errorf("the README's table lists %s, which no scrape of serve, sink, db or sensor has", m)
		}
	}
}
