// The import rules of the layout: the arrows point inward. cof, routing
// and policy know nothing of NATS; the peer and sensor sides import
// nothing of the switch; nothing imports the command. Every package must
// have a rule here, so a new package is placed on purpose.
package cofswitch_test

import (
	"bufio"
	"bytes"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/cofswitch/cofswitch"

// Forbidden third-party imports, by concern: the NATS client and server
// (nkeys, a key library, is not the bus), and the other services.
var (
	natsLibs = []string{"github.com/nats-io/nats.go", "github.com/nats-io/nats-server/"}
	busLibs  = slices.Concat(natsLibs, []string{"github.com/jackc/", "github.com/prometheus/"})
)

// rule says what the packages under a folder may import of the module and
// which external imports they must not have.
type rule struct {
	may     []string // module packages (relative; "x/..." is x and below)
	mustNot []string // external import path prefixes
}

var rules = map[string]rule{
	"cof":        {mustNot: slices.Concat(busLibs, []string{"go.yaml.in/"})},
	"routing":    {mustNot: busLibs},
	"secretfile": {mustNot: busLibs},
	// Signed batches: what the sensor, the switch and the peers share.
	"batchsig":        {mustNot: busLibs},
	"policy":          {may: []string{"cof", "routing", "secretfile"}, mustNot: busLibs},
	"config":          {may: []string{"cof", "routing", "policy"}, mustNot: busLibs},
	"gen":             {may: []string{"cof"}, mustNot: busLibs},
	"bus":             {may: []string{"secretfile"}},
	"bus/bustest":     {may: []string{"bus"}},
	"accounts":        {may: []string{"config", "routing", "secretfile"}, mustNot: natsLibs},
	"ops":             {},
	"switch/engine":   {may: []string{"cof", "routing", "policy", "batchsig"}},
	"switch/exchange": {may: []string{"cof", "routing", "policy", "config", "bus", "accounts", "secretfile", "batchsig", "switch/engine", "switch/backfill", "switch/selfservice"}},
	// The peers' own subscriptions within their ceilings: the bucket, the
	// answers on the control subjects, the merge with the file.
	"switch/selfservice": {may: []string{"routing", "policy", "config"}},
	"switch/backfill":    {may: []string{"cof", "routing", "policy", "config", "batchsig", "switch/engine"}},
	"switch/demo":        {may: []string{"cof", "routing", "policy", "config", "switch/engine"}},
	// The operator's status page reads a running exchange.
	"switch/statuspage": {may: []string{"routing", "policy", "config", "switch/engine", "switch/exchange"}},
	// Test support for the peer side: a feed as the switch leaves it.
	"switch/exchange/exchangetest": {may: []string{"cof", "routing", "config", "bus/bustest", "switch/exchange"}},
	"sensor/...":                   {may: []string{"cof", "routing", "accounts", "bus", "policy", "batchsig", "sensor/..."}},
	"peers/...":                    {may: []string{"cof", "routing", "accounts", "bus", "secretfile", "batchsig", "peers/..."}},
	"bench":                        {may: []string{"cof", "routing", "policy", "config", "gen", "bus", "ops", "switch/..."}},
	"cmd/...":                      {may: []string{"..."}},
	"cluster":                      {may: []string{"config", "routing", "accounts", "secretfile"}, mustNot: natsLibs},
	"integration":                  {},
}

// ruleFor finds the rule of a package: its own, or the nearest "x/...".
func ruleFor(pkg string) (rule, bool) {
	if r, ok := rules[pkg]; ok {
		return r, true
	}
	for p := pkg; p != "."; {
		i := strings.LastIndex(p, "/")
		if i < 0 {
			break
		}
		p = p[:i]
		if r, ok := rules[p+"/..."]; ok {
			return r, true
		}
	}
	return rule{}, false
}

func allowed(may []string, imp string) bool {
	for _, m := range may {
		switch {
		case m == "...":
			return imp != "integration" && !strings.HasPrefix(imp, "cmd/")
		case strings.HasSuffix(m, "/..."):
			base := strings.TrimSuffix(m, "/...")
			if imp == base || strings.HasPrefix(imp, base+"/") {
				return true
			}
		case m == imp:
			return true
		}
	}
	return false
}

// violations checks a package graph (relative package -> its imports, as
// full paths) against the rules.
func violations(graph map[string][]string) []string {
	var out []string
	for _, pkg := range slices.Sorted(mapKeys(graph)) {
		r, ok := ruleFor(pkg)
		if !ok {
			out = append(out, fmt.Sprintf("%s: no import rule: add one to layout_test.go", pkg))
			continue
		}
		for _, imp := range graph[pkg] {
			if rel, ok := strings.CutPrefix(imp, module+"/"); ok {
				if !allowed(r.may, rel) {
					out = append(out, fmt.Sprintf("%s imports %s", pkg, rel))
				}
				continue
			}
			for _, bad := range r.mustNot {
				if strings.HasPrefix(imp, bad) {
					out = append(out, fmt.Sprintf("%s imports %s", pkg, imp))
				}
			}
		}
	}
	return out
}

func mapKeys(m map[string][]string) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// TestImportRules checks the module's own packages (their non-test
// imports) with go list.
func TestImportRules(t *testing.T) {
	cmd := exec.Command("go", "list", "-f", "{{.ImportPath}} {{join .Imports \" \"}}", "./...")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v: %s", err, stderr.String())
	}
	graph := map[string][]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 || f[0] == module {
			continue // this test's own package
		}
		graph[strings.TrimPrefix(f[0], module+"/")] = f[1:]
	}
	if len(graph) < 15 {
		t.Fatalf("go list found %d packages: %s", len(graph), out)
	}
	for _, v := range violations(graph) {
		t.Error(v)
	}
}

// TestImportRulesCatch shows that the checker reports what it must.
func TestImportRulesCatch(t *testing.T) {
	for _, tt := range []struct {
		name  string
		graph map[string][]string
		want  string
	}{
		{"cof with NATS", map[string][]string{"cof": {"github.com/nats-io/nats.go"}}, "cof imports github.com/nats-io/nats.go"},
		{"policy with the bus", map[string][]string{"policy": {module + "/bus"}}, "policy imports bus"},
		{"a peer tool with the switch", map[string][]string{"peers/sink": {module + "/switch/engine"}}, "peers/sink imports switch/engine"},
		{"a sensor with the config", map[string][]string{"sensor/publish": {module + "/config"}}, "sensor/publish imports config"},
		{"the command imported", map[string][]string{"bench": {module + "/cmd/cofswitch"}}, "bench imports cmd/cofswitch"},
		{"a package without a rule", map[string][]string{"newthing": nil}, "newthing: no import rule"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := violations(tt.graph)
			if len(got) != 1 || !strings.HasPrefix(got[0], tt.want) {
				t.Fatalf("violations = %q, want one starting %q", got, tt.want)
			}
		})
	}
	ok := map[string][]string{
		"policy":        {module + "/cof", module + "/routing", "net/netip"},
		"peers/db":      {module + "/cof", "github.com/jackc/pgx/v5"},
		"peers/feed":    {module + "/accounts", module + "/routing", "github.com/nats-io/nats.go"},
		"cmd/cofswitch": {module + "/switch/exchange", module + "/peers/db"},
	}
	if got := violations(ok); len(got) > 0 {
		t.Fatalf("lawful imports reported: %q", got)
	}
}
