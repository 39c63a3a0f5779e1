package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/corral-sched/corral/agent"
	"github.com/corral-sched/corral/frameworks/service"
	"github.com/corral-sched/corral/internal/testkit/testcluster"
	"github.com/corral-sched/corral/store"
)

// go-marathon is the most used Go client of Marathon's API; driving the
// service framework with it, unchanged, checks that Marathon's clients
// work on corral as they are. Like mesos-go for msh, it is built from the
// Go module proxy in a module of its own (testdata/marathon holds the
// program) and cached.
const goMarathonVersion = "v0.7.1"

var (
	marathonOnce sync.Once
	marathonBin  string
	marathonErr  error
)

func buildMarathonClient(t *testing.T) string {
	t.Helper()
	marathonOnce.Do(func() { marathonBin, marathonErr = buildMarathonClientOnce() })
	if marathonErr != nil {
		t.Fatalf("building the go-marathon %s client (needs the Go module proxy): %v", goMarathonVersion, marathonErr)
	}
	return marathonBin
}

func buildMarathonClientOnce() (string, error) {
	src, err := os.ReadFile("testdata/marathon/main.go")
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(src)
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	// Keyed by the program's text: an edited program is built anew.
	dir := filepath.Join(cache, "corral-test", "go-marathon-"+goMarathonVersion+"-"+hex.EncodeToString(sum[:6]))
	bin := filepath.Join(dir, "marathon")
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	files := map[string][]byte{"go.mod": []byte("module scratch\n\ngo 1.21\n"), "main.go": src}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), body, 0o644); err != nil {
			return "", err
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	for _, step := range [][]string{
		{"go", "get", "github.com/gambol99/go-marathon@" + goMarathonVersion},
		{"go", "mod", "tidy"},
		{"go", "build", "-o", bin + ".tmp", "."},
	} {
		cmd := exec.CommandContext(ctx, step[0], step[1:]...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod")
		if out, err := cmd.CombinedOutput(); err != nil {
			return "", errors.New(strings.Join(step, " ") + ": " + err.Error() + "\n" + string(out))
		}
	}
	return bin, os.Rename(bin+".tmp", bin)
}

// go-marathon, unchanged, creates, lists, scales, updates, restarts,
// kill-tasks and deletes apps and groups with dependencies, waits on
// deployments, reads the leader and info, decodes the SSE events with
// their plans, and has events POSTed to a callback it subscribed.
func TestGoMarathonDrivesTheServiceFramework(t *testing.T) {
	client := buildMarathonClient(t)
	c := testcluster.Start(t, testcluster.Options{Agents: 2, Agent: func(i int, ac *agent.Config) {
		ac.Resources = fmt.Sprintf("cpus:4;mem:4096;disk:10000;ports:[%d-%d]", 31000+1000*i, 31999+1000*i)
	}})
	st, err := store.OpenLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx, cancel := context.WithCancel(context.Background())
	f, err := service.New(ctx, service.Config{Master: c.MasterAddr, Store: st, Logger: slog.New(slog.DiscardHandler), KillRetry: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	api := httptest.NewServer(f.Handler(nil))
	done := make(chan struct{})
	go func() { _ = f.Run(ctx); close(done) }()
	defer func() { cancel(); <-done; api.Close() }()
	waitFor(t, 30*time.Second, "the service framework to subscribe", func() bool { return f.FrameworkID() != "" })

	var mu sync.Mutex
	posted := map[string]int{}
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var e struct{ EventType string }
		if json.Unmarshal(b, &e) == nil {
			mu.Lock()
			posted[e.EventType]++
			mu.Unlock()
		}
	}))
	defer receiver.Close()

	runCtx, stop := context.WithTimeout(context.Background(), 8*time.Minute)
	defer stop()
	out, err := exec.CommandContext(runCtx, client, "-url", api.URL, "-callback", receiver.URL+"/events").CombinedOutput()
	t.Logf("go-marathon client:\n%s", out)
	if err != nil {
		t.Fatalf("the go-marathon client failed: %v", err)
	}
	for _, step := range []string{"ok CreateApplication", "ok WaitOnDeployment (scale)", "ok UpdateApplication", "ok RestartApplication",
		"ok KillTasks (scale)", "ok KillTask (replaced)", "ok CreateGroup", "ok WaitOnGroup", "ok UpdateGroup", "ok DeleteGroup",
		"ok DeleteApplication", "ok Leader", "ok Subscribe"} {
		if !strings.Contains(string(out), step+"\n") {
			t.Errorf("the client did not report %q", step)
		}
	}
	i := strings.LastIndex(string(out), "events ")
	if i < 0 {
		t.Fatal("the client printed no event counts")
	}
	var seen struct {
		ByType        map[string]int
		PlansWithStep int
		NilPlans      int
	}
	if err := json.Unmarshal([]byte(strings.TrimSpace(string(out[i+len("events "):]))), &seen); err != nil {
		t.Fatalf("event counts: %v", err)
	}
	if seen.NilPlans > 0 || seen.PlansWithStep == 0 || seen.ByType["deployment_step_success"] == 0 || seen.ByType["status_update_event"] == 0 {
		t.Errorf("SSE events as go-marathon decoded them: %+v", seen)
	}
	waitFor(t, 30*time.Second, "the callback to receive Marathon's events", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return posted["deployment_info"] > 0 && posted["status_update_event"] > 0 && posted["deployment_success"] > 0
	})
	mu.Lock()
	defer mu.Unlock()
	for typ := range posted {
		if strings.HasPrefix(typ, "corral_") {
			t.Errorf("the callback received corral's own %s, which Marathon clients do not know", typ)
		}
	}
}
