package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const referenceFile = "../../docs/cli.md"

// TestHelpReference keeps docs/cli.md equal to the help text of the
// commands; -update rewrites it.
func TestHelpReference(t *testing.T) {
	var b bytes.Buffer
	writeHelpReference(&b)
	got := b.String()
	if *update {
		if err := os.MkdirAll(filepath.Dir(referenceFile), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(referenceFile, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(referenceFile)
	if err != nil {
		t.Fatalf("%v (run go test ./cmd/cofswitch -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("docs/cli.md is stale: run go test ./cmd/cofswitch -update\n%s", firstDiff(got, string(want)))
	}
}

// firstDiff describes the first line where the generated text and the file
// differ.
func firstDiff(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := range max(len(g), len(w)) {
		if i >= len(g) || i >= len(w) || g[i] != w[i] {
			return fmt.Sprintf("first difference at line %d:\n  generated:   %s\n  docs/cli.md: %s", i+1, lineAt(g, i), lineAt(w, i))
		}
	}
	return ""
}

func lineAt(ls []string, i int) string {
	if i >= len(ls) {
		return "(end of text)"
	}
	return strconv.Quote(ls[i])
}

// TestHelpReferenceSections checks that the reference holds, for every
// command of the tree, a section whose text is what the command's --help
// prints.
func TestHelpReferenceSections(t *testing.T) {
	var b bytes.Buffer
	writeHelpReference(&b)
	doc := b.String()
	if !strings.HasPrefix(doc, "# cofswitch command reference\n") {
		t.Errorf("the reference does not start with its title:\n%s", doc)
	}
	if !strings.Contains(doc, "go test ./cmd/cofswitch -update") {
		t.Errorf("the reference does not say how it is generated")
	}
	var names []string
	walkCommands(root(), nil, func(c *command, path []string) {
		name := strings.Join(path, " ")
		names = append(names, name)
		t.Run(name, func(t *testing.T) {
			help := runCLI(t, nil, append(path[1:], "--help")...)
			if help.code != exitOK || help.stderr != "" {
				t.Fatalf("%s --help: exit code %d, stderr:\n%s", name, help.code, help.stderr)
			}
			section := "\n## " + name + "\n\n```text\n" + help.stdout + "```\n"
			if !strings.Contains(doc, section) {
				t.Errorf("the reference has no section:\n%s", section)
			}
		})
	})
	want := []string{"cofswitch", "cofswitch serve", "cofswitch publish", "cofswitch sensor", "cofswitch dead-letters", "cofswitch dlq", "cofswitch dlq list", "cofswitch dlq show", "cofswitch dlq purge", "cofswitch tail", "cofswitch status", "cofswitch subscribe", "cofswitch config",
		"cofswitch config check", "cofswitch config signing-key", "cofswitch policy", "cofswitch policy check", "cofswitch policy test", "cofswitch creds", "cofswitch org-key", "cofswitch revoke", "cofswitch nats-config", "cofswitch cluster-init", "cofswitch sink", "cofswitch db", "cofswitch db serve", "cofswitch db import", "cofswitch backfill", "cofswitch gen", "cofswitch bench", "cofswitch bench run", "cofswitch bench switch", "cofswitch bench forward", "cofswitch cof", "cofswitch cof validate", "cofswitch cof normalize", "cofswitch version"}
	if strings.Join(names, "|") != strings.Join(want, "|") {
		t.Errorf("commands walked = %q, want %q", names, want)
	}
	if n := strings.Count(doc, "\n## "); n != len(want) {
		t.Errorf("the reference has %d sections, want %d", n, len(want))
	}
}
