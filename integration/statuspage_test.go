package integration

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// browserEnv, set by .ci/run (which installs Debian's chromium), turns a
// missing browser into a failure instead of a skip.
const browserEnv = "COFSWITCH_REQUIRE_BROWSER"

func findBrowser(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv(browserEnv) != "" {
		t.Fatalf("no chromium on PATH and %s is set (apt-get install chromium)", browserEnv)
	}
	t.Skipf("no chromium on PATH (apt-get install chromium, or set %s to require it)", browserEnv)
	return ""
}

// TestStatusPageInBrowser drives a real headless Chromium against the
// status page of a running exchange: it lists the sensor and the peers,
// and updates in place (no reload) once more records are published.
// Screenshots (a laptop and a phone) are written to the test's temp dir,
// or to $COFSWITCH_SCREENSHOT_DIR to be looked at.
func TestStatusPageInBrowser(t *testing.T) {
	browser := findBrowser(t)
	srv, _, js := startServer(t)
	url := srv.ClientURL()
	cfg := writeFile(t, "c.yaml", `
sensors:
  - {id: s1, organisation: org-a}
policies:
  share: {tlp: AMBER, transforms: {truncate_ip: {ipv4: 24, ipv6: 48}}}
peers:
  - {id: peer-a, organisation: org-a, consumers: [sink], subscriptions: [{sensors: [s1]}]}
  - {id: peer-b, organisation: org-b, consumers: [sink], subscriptions: [{sensors: [s1], policy: share, tlp: AMBER}]}
`)
	metrics := freeAddr(t)
	sw := start(t, "serve", "--config", cfg, "--data", t.TempDir(), "--nats-url", url, "--metrics", metrics, "--status-every", "200ms")
	waitFor(t, "switch ready", 15*time.Second, func() bool { return contains(sw.output(), "status page served") })
	publishLines := func(prefix string, n int) {
		f := writeFile(t, prefix+".ndjson", plainLines(prefix, n))
		if _, stderr, code := run(t, nil, "publish", "--sensor", "s1", "--nats-url", url, f); code != 0 {
			t.Fatalf("publish: %s", stderr)
		}
		waitFor(t, "input switched", 15*time.Second, func() bool { return inputMsgs(t, js) == 0 })
	}
	publishLines("first-", 5)

	dir := t.TempDir()
	shots := dir
	if d := os.Getenv("COFSWITCH_SCREENSHOT_DIR"); d != "" {
		shots = d // to look at them after the test
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(browser), chromedp.NoSandbox,
		chromedp.DisableGPU, chromedp.UserDataDir(filepath.Join(dir, "profile")), chromedp.WindowSize(1280, 900))
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancel()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancel = context.WithTimeout(ctx, 90*time.Second)
	defer cancel()

	page := "http://" + metrics + "/"
	if err := chromedp.Do(ctx,
		chromedp.Navigate(page),
		chromedp.WaitVisible(`tr[data-sensor="s1"]`),
		chromedp.WaitVisible(`#conn.ok`), // the live stream is open
	); err != nil {
		t.Fatalf("browser: %v\nserve: %s", err, sw.output())
	}
	// One evaluation reads a node's text: the live updates replace the
	// nodes, so a query and a later read of the same node may miss it.
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Evaluate[string](fmt.Sprintf(
			`(document.querySelector(%q) || {innerText: ""}).innerText`, sel)))
		if err != nil {
			t.Fatalf("reading %s: %v", sel, err)
		}
		return s
	}
	sensors, peers := text(`#sensors tbody`), text(`#peers tbody`)
	for _, want := range []string{"s1", "ok"} {
		if !strings.Contains(sensors, want) {
			t.Errorf("sensors table %q lacks %q", sensors, want)
		}
	}
	for _, want := range []string{"peer-a", "peer-b", "TLP:AMBER", "share", "pass"} {
		if !strings.Contains(peers, want) {
			t.Errorf("peers table %q lacks %q", peers, want)
		}
	}
	storedSel := `tr[data-peer="peer-a"] td[data-label="stored"]`
	if stored := text(storedSel); !strings.HasPrefix(stored, "1 ") {
		t.Fatalf("peer-a stored %q, want 1 message", stored)
	}
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[string](`window.notReloaded = "yes"`)); err != nil {
		t.Fatal(err)
	}

	publishLines("second-", 5)
	deadline := time.Now().Add(20 * time.Second)
	for stored := text(storedSel); !strings.HasPrefix(stored, "2 "); stored = text(storedSel) {
		if time.Now().After(deadline) {
			t.Fatalf("the page did not update: peer-a stored %q", stored)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if marker, err := chromedp.Run(ctx, chromedp.Evaluate[string](`window.notReloaded || "reloaded"`)); err != nil || marker != "yes" {
		t.Errorf("the page was reloaded (%q, %v), not updated live", marker, err)
	}
	laptop, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(390, 844), chromedp.Reload(), chromedp.WaitVisible(`tr[data-peer="peer-b"]`)); err != nil {
		t.Fatal(err)
	}
	phone, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	for name, shot := range map[string][]byte{"status-laptop.png": laptop, "status-phone.png": phone} {
		if len(shot) < 1000 {
			t.Errorf("%s: %d bytes", name, len(shot))
		}
		if err := os.WriteFile(filepath.Join(shots, name), shot, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("screenshots in %s", shots)
}
