package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// systemdUnits are deploy/systemd's units and an instance name for each
// template.
var systemdUnits = map[string]string{
	"cofswitch-serve.service":   "cofswitch-serve.service",
	"cofswitch-db@.service":     "cofswitch-db@circl.service",
	"cofswitch-sink@.service":   "cofswitch-sink@hub.service",
	"cofswitch-sensor@.service": "cofswitch-sensor@s1.service",
}

// TestSystemdUnits checks deploy/systemd: each unit's command line is one
// the binary takes (its flags parsed, with the unit's variables filled
// in), each unit is hardened as the README says (a dynamic user, a
// read-only system, no new privileges, no capabilities, its own state
// directory, secrets as credentials, metrics on loopback), and systemd
// itself reads each without a complaint (systemd-analyze verify, where
// it is installed).
func TestSystemdUnits(t *testing.T) {
	dir := t.TempDir()
	for file, instance := range systemdUnits {
		t.Run(file, func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join("../deploy/systemd", file))
			if err != nil {
				t.Fatal(err)
			}
			unit := string(raw)
			for _, want := range []string{"DynamicUser=yes", "NoNewPrivileges=yes", "ProtectSystem=strict", "ProtectHome=yes",
				"CapabilityBoundingSet=\n", "StateDirectory=cofswitch/", "UMask=00", "SystemCallFilter=@system-service", "Restart=on-failure"} {
				if !strings.Contains(unit, want) {
					t.Errorf("no %q", strings.TrimSpace(want))
				}
			}
			exec := execStart(t, unit)
			if !strings.Contains(exec, "--metrics 127.0.0.1:") {
				t.Errorf("ExecStart serves metrics beyond loopback or not at all: %s", exec)
			}
			if strings.Contains(exec, "--nkey ") && !strings.Contains(exec, "--nkey ${CREDENTIALS_DIRECTORY}/") {
				t.Errorf("a seed not passed as a credential: %s", exec)
			}
			checkCommandLine(t, exec, strings.TrimSuffix(strings.TrimPrefix(instance, strings.Split(file, "@")[0]+"@"), ".service"))
			// A copy that starts the binary just built, for systemd to read.
			copied := strings.ReplaceAll(unit, "/usr/local/bin/cofswitch", binary)
			if err := os.WriteFile(filepath.Join(dir, file), []byte(copied), 0o644); err != nil {
				t.Fatal(err)
			}
		})
	}
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("no systemd-analyze: the units' syntax is not checked by systemd here")
	}
	var instances []string
	for _, inst := range systemdUnits {
		instances = append(instances, inst)
	}
	cmd := exec.Command(analyze, append([]string{"verify"}, instances...)...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// execStart returns a unit's ExecStart command line.
func execStart(t *testing.T, unit string) string {
	t.Helper()
	for _, line := range strings.Split(unit, "\n") {
		if v, ok := strings.CutPrefix(line, "ExecStart="); ok {
			return v
		}
	}
	t.Fatal("no ExecStart")
	return ""
}

// checkCommandLine runs the unit's command line with --help appended, its
// specifiers and variables given values as systemd would (the options
// variables empty): the binary parses every flag before it stops at
// --help, so an unknown or misspelt flag fails.
func checkCommandLine(t *testing.T, line, instance string) {
	t.Helper()
	fill := strings.NewReplacer("%i", instance, "${STATE_DIRECTORY}", "/var/lib/cofswitch/x",
		"${CREDENTIALS_DIRECTORY}", "/run/credentials/x", "${COFSWITCH_SINK_TO}", "file:/var/lib/cofswitch/x/out")
	var args []string
	for _, w := range strings.Fields(fill.Replace(line)) {
		if strings.HasPrefix(w, "$COFSWITCH_") && strings.HasSuffix(w, "_OPTS") {
			continue // the operator's extra flags: empty here
		}
		if strings.Contains(w, "$") {
			t.Fatalf("a variable the test does not know: %s", w)
		}
		args = append(args, w)
	}
	if len(args) < 2 || args[0] != "/usr/local/bin/cofswitch" {
		t.Fatalf("ExecStart does not start /usr/local/bin/cofswitch: %s", line)
	}
	out, err := exec.Command(binary, append(args[1:], "--help")...).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Usage:") {
		t.Errorf("cofswitch %s --help: %v\n%s", strings.Join(args[1:], " "), err, out)
	}
}
