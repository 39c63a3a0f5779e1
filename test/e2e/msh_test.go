package e2e

import (
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/corral-sched/corral/internal/testkit/testcluster"
)

// mesos-go's msh is an unmodified Mesos v1 scheduler; running it against
// corral checks wire compatibility with a client we did not write. It is
// built from the Go module proxy on first use and cached.
const meshGoVersion = "v0.0.11"

var (
	mesosGoOnce sync.Once
	mesosGoDir  string
	mesosGoErr  error
)

// mesosGoCommands are the mesos-go programs the tests run.
var mesosGoCommands = []string{"msh", "example-scheduler", "example-executor"}

func buildMsh(t *testing.T) string { return buildMesosGo(t, "msh") }

// buildMesosGo returns the path of one of mesosGoCommands, building them
// all on first use.
func buildMesosGo(t *testing.T, name string) string {
	t.Helper()
	mesosGoOnce.Do(func() { mesosGoDir, mesosGoErr = buildMesosGoOnce() })
	if mesosGoErr != nil {
		t.Fatalf("building mesos-go %s commands (needs the Go module proxy and gcc): %v", meshGoVersion, mesosGoErr)
	}
	return filepath.Join(mesosGoDir, name)
}

func buildMesosGoOnce() (string, error) {
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	dir := filepath.Join(cache, "corral-test", "mesos-go-"+meshGoVersion)
	missing := false
	for _, name := range mesosGoCommands {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			missing = true
		}
	}
	if !missing {
		return dir, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	imports := ""
	for _, name := range mesosGoCommands {
		imports += "\t_ \"github.com/mesos/mesos-go/api/v1/cmd/" + name + "\"\n"
	}
	files := map[string]string{
		"go.mod":   "module scratch\n\ngo 1.21\n",
		"tools.go": "//go:build tools\n\npackage scratch\n\nimport (\n" + imports + ")\n",
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			return "", err
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	steps := [][]string{
		// Versions of mesos-go's time: newer Prometheus clients dropped an
		// API its example scheduler uses.
		{"go", "get", "github.com/mesos/mesos-go@" + meshGoVersion, "github.com/gogo/protobuf@v1.3.2", "github.com/prometheus/client_golang@v0.9.4"},
		{"go", "mod", "tidy"},
	}
	for _, name := range mesosGoCommands {
		steps = append(steps, []string{"go", "build", "-o", filepath.Join(dir, name+".tmp"), "github.com/mesos/mesos-go/api/v1/cmd/" + name})
	}
	for _, s := range steps {
		cmd := exec.CommandContext(ctx, s[0], s[1:]...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "CGO_ENABLED=1")
		if out, err := cmd.CombinedOutput(); err != nil {
			return "", errors.New(strings.Join(s, " ") + ": " + err.Error() + "\n" + string(out))
		}
	}
	for _, name := range mesosGoCommands {
		if err := os.Rename(filepath.Join(dir, name+".tmp"), filepath.Join(dir, name)); err != nil {
			return "", err
		}
	}
	return dir, nil
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

// mesos-go's example scheduler ships mesos-go's example executor over HTTP
// (a URI the agent fetches) and runs tasks inside it: a custom executor
// speaking the v1 executor API through a library we did not write.
func TestMesosGoExampleSchedulerAndExecutor(t *testing.T) {
	sched := buildMesosGo(t, "example-scheduler")
	executor := buildMesosGo(t, "example-executor")
	c := testcluster.Start(t, testcluster.Options{Agents: 2})
	ports := make([]string, 2)
	for i := range ports {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		_, ports[i], _ = net.SplitHostPort(ln.Addr().String())
		ln.Close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, sched, "-url", c.MasterURL+"/api/v1/scheduler", "-executor", executor,
		"-tasks", "6", "-cpu", "0.1", "-memory", "16", "-exec.memory", "32", "-verbose",
		"-server.address", "127.0.0.1", "-server.port", ports[0], "-metrics.port", ports[1])
	cmd.Dir = t.TempDir()
	// It exits 1 even when done ("context canceled" as it stops): its
	// own verdict is the line it prints.
	out, err := cmd.CombinedOutput()
	if !strings.Contains(string(out), "mission accomplished") {
		t.Fatalf("example-scheduler: %v\n%s", err, tailLines(string(out), 40))
	}
	if n := strings.Count(string(out), "is in state TASK_FINISHED"); n != 6 {
		t.Fatalf("%d tasks finished, want 6:\n%s", n, tailLines(string(out), 40))
	}
	if !strings.Contains(string(out), "ExecutorID:&ExecutorID{Value:default") {
		t.Fatalf("tasks did not run under the example executor:\n%s", tailLines(string(out), 40))
	}
}

func tailLines(s string, n int) string {
	lines := strings.Split(s, "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
