package integration

import (
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
)

// dockerAnswers reports whether a Docker daemon answers here; without one
// the image tests skip, saying so, unless COFSWITCH_REQUIRE_DOCKER is set
// (.ci/run sets it where a daemon answers).
func dockerAnswers(t *testing.T) {
	t.Helper()
	if err := exec.Command("docker", "info").Run(); err != nil {
		if os.Getenv("COFSWITCH_REQUIRE_DOCKER") != "" {
			t.Fatalf("COFSWITCH_REQUIRE_DOCKER is set and no Docker daemon answers: %v", err)
		}
		t.Skipf("no Docker daemon answers (docker info: %v): the images are not built here", err)
	}
}

var imagesBuild struct {
	once sync.Once
	out  []byte
	err  error
}

// buildImages builds the images once for the package, with the script a
// user runs, or skips where no Docker daemon answers.
func buildImages(t *testing.T) {
	t.Helper()
	dockerAnswers(t)
	imagesBuild.once.Do(func() {
		imagesBuild.out, imagesBuild.err = exec.Command("../deploy/docker/build-images.sh").CombinedOutput()
	})
	if imagesBuild.err != nil {
		t.Fatalf("build-images.sh: %v\n%s", imagesBuild.err, imagesBuild.out)
	}
}

// TestImages builds the images with deploy/docker/build-images.sh, with
// no registry (FROM scratch, static binaries built here), and checks
// them: cofswitch runs as a non-root user with no shell in the image,
// answers, and makes records; nats is the nats-server go.mod names,
// tagged as the official image is.
func TestImages(t *testing.T) {
	if testing.Short() {
		t.Skip("builds images")
	}
	buildImages(t)
	natsVersion, err := exec.Command("go", "list", "-m", "-f", "{{.Version}}", "github.com/nats-io/nats-server/v2").Output()
	if err != nil {
		t.Fatal(err)
	}
	nats := "nats:" + strings.TrimPrefix(strings.TrimSpace(string(natsVersion)), "v")
	run := func(args ...string) (string, error) {
		out, err := exec.Command("docker", append([]string{"run", "--rm", "--network", "none"}, args...)...).CombinedOutput()
		return string(out), err
	}
	if out, err := run("cofswitch:latest", "version"); err != nil || !strings.HasPrefix(out, "cofswitch ") {
		t.Errorf("cofswitch version: %v %q", err, out)
	}
	if out, err := run("cofswitch:latest", "gen", "-n", "3"); err != nil || strings.Count(out, `"rrname"`) != 3 {
		t.Errorf("cofswitch gen in the image: %v %q", err, out)
	}
	// A fresh volume on /data is the user's: the state of every command goes there.
	if out, err := run("-v", "/data", "cofswitch:latest", "gen", "-n", "3", "--out", "/data/x.ndjson"); err != nil {
		t.Errorf("cofswitch cannot write a fresh volume on /data: %v %s", err, out)
	}
	if _, err := run("--entrypoint", "/bin/sh", "cofswitch:latest", "-c", "true"); err == nil {
		t.Error("the cofswitch image has a shell")
	}
	if out, err := run(nats, "--version"); err != nil || !strings.Contains(out, strings.TrimSpace(string(natsVersion))) {
		t.Errorf("%s --version: %v %q", nats, err, out)
	}
	for _, image := range []string{"cofswitch:latest", nats} {
		user, err := exec.Command("docker", "inspect", "-f", "{{.Config.User}}", image).Output()
		if err != nil || strings.TrimSpace(string(user)) != "65532:65532" {
			t.Errorf("%s runs as %q (%v), want 65532:65532", image, user, err)
		}
	}
}
