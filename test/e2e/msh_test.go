package e2e

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/corral-sched/corral/internal/testcluster"
)

// mesos-go's msh is an unmodified Mesos v1 scheduler; running it against
// corral checks wire compatibility with a client we did not write. It is
// built from the Go module proxy on first use and cached.
const meshGoVersion = "v0.0.11"

var (
	mshOnce sync.Once
	mshPath string
	mshErr  error
)

func buildMsh(t *testing.T) string {
	t.Helper()
	mshOnce.Do(func() { mshPath, mshErr = buildMshOnce() })
	if mshErr != nil {
		t.Fatalf("building mesos-go msh %s (needs the Go module proxy and gcc): %v", meshGoVersion, mshErr)
	}
	return mshPath
}

func buildMshOnce() (string, error) {
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	dir := filepath.Join(cache, "corral-test", "msh-"+meshGoVersion)
	bin := filepath.Join(dir, "msh")
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	files := map[string]string{
		"go.mod":   "module scratch\n\ngo 1.21\n",
		"tools.go": "//go:build tools\n\npackage scratch\n\nimport _ \"github.com/mesos/mesos-go/api/v1/cmd/msh\"\n",
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			return "", err
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	steps := [][]string{
		{"go", "get", "github.com/mesos/mesos-go@" + meshGoVersion, "github.com/gogo/protobuf@v1.3.2", "github.com/prometheus/client_golang@v0.9.4"},
		{"go", "mod", "tidy"},
		{"go", "build", "-o", bin + ".tmp", "github.com/mesos/mesos-go/api/v1/cmd/msh"},
	}
	for _, s := range steps {
		cmd := exec.CommandContext(ctx, s[0], s[1:]...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "CGO_ENABLED=1")
		if out, err := cmd.CombinedOutput(); err != nil {
			return "", errors.New(strings.Join(s, " ") + ": " + err.Error() + "\n" + string(out))
		}
	}
	return bin, os.Rename(bin+".tmp", bin)
}

func runMsh(t *testing.T, master string, args ...string) (int, string) {
	t.Helper()
	return runMshWith(t, master, nil, args...)
}

// runMshWith runs msh with flags of its own before the command.
func runMshWith(t *testing.T, master string, flags []string, args ...string) (int, string) {
	t.Helper()
	msh := buildMsh(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	argv := append(append([]string{"-master", master}, flags...), "--")
	cmd := exec.CommandContext(ctx, msh, append(argv, args...)...)
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0, string(out)
	case errors.As(err, &exit):
		return exit.ExitCode(), string(out)
	}
	t.Fatalf("running msh: %v\n%s", err, out)
	return -1, ""
}

func TestMeshGoMshRunsACommand(t *testing.T) {
	dir := t.TempDir()
	c := testcluster.Start(t, testcluster.Options{Agents: 1, WorkDir: dir})
	code, out := runMsh(t, c.MasterAddr, "/bin/echo", "hello")
	if code != 0 {
		t.Fatalf("msh exited %d, want 0:\n%s", code, out)
	}
	if !strings.Contains(out, "TASK_FINISHED") {
		t.Fatalf("msh did not report TASK_FINISHED:\n%s", out)
	}
	stdout, err := filepath.Glob(filepath.Join(dir, "agent-0", "agents", "*", "frameworks", "*", "executors", "*", "runs", "latest", "stdout"))
	if err != nil || len(stdout) != 1 {
		t.Fatalf("want one sandbox stdout, found %v (%v)", stdout, err)
	}
	if b, _ := os.ReadFile(stdout[0]); strings.TrimSpace(string(b)) != "hello" {
		t.Fatalf("task stdout = %q, want \"hello\"", b)
	}
}

func TestMeshGoMshSeesAFailedTask(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{Agents: 1})
	code, out := runMsh(t, c.MasterAddr, "/bin/false")
	// msh exits 3 for TASK_FAILED, TASK_LOST, TASK_KILLED and TASK_ERROR.
	if code != 3 || !strings.Contains(out, "TASK_FAILED") {
		t.Fatalf("msh exited %d, want 3 after TASK_FAILED:\n%s", code, out)
	}
}

func TestMeshGoMshRunsAPod(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{Agents: 1})
	code, out := runMshWith(t, c.MasterAddr, []string{"-pod"}, "/bin/echo", "hi")
	if code != 0 || !strings.Contains(out, "TASK_FINISHED") {
		t.Fatalf("msh -pod exited %d, want 0 after TASK_FINISHED:\n%s", code, out)
	}
}
