package service

import (
	"bytes"
	"context"
	"encoding/json"
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

	"github.com/corral-sched/corral/internal/testkit"

	"github.com/corral-sched/corral/agent"
	"github.com/corral-sched/corral/internal/testkit/testcluster"
	"github.com/corral-sched/corral/master"
	"github.com/corral-sched/corral/store"
)

// httpd is the test web service binary (testdata/httpd).
var httpd string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "corral-service-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	httpd = filepath.Join(dir, "httpd")
	if out, err := exec.Command("go", "build", "-o", httpd, "./testdata/httpd").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building testdata/httpd: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// harness is a service framework on a real in-process cluster, with its
// REST API on loopback.
type harness struct {
	t       *testing.T
	cluster *testcluster.Cluster
	store   store.Store
	tune    func(*Config) // the framework's settings, before each start
	f       *Framework
	api     *httptest.Server
	stop    func()
}

func newHarness(t *testing.T, c *testcluster.Cluster) *harness {
	t.Helper()
	return newTunedHarness(t, c, nil)
}

// newTunedHarness is newHarness with the framework's Config changed by
// tune.
func newTunedHarness(t *testing.T, c *testcluster.Cluster, tune func(*Config)) *harness {
	t.Helper()
	if c == nil {
		c = startCluster(t, 3, nil)
	}
	st, err := store.OpenLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	h := &harness{t: t, cluster: c, store: st, tune: tune}
	h.start()
	return h
}

// startCluster starts agents with port ranges of their own: they share
// the host's network, and instances listen on the ports they are given.
func startCluster(t *testing.T, agents int, mc func(*master.Config)) *testcluster.Cluster {
	return testcluster.Start(t, testcluster.Options{Agents: agents, Master: mc, Agent: func(i int, c *agent.Config) {
		c.Resources = fmt.Sprintf("cpus:4;mem:4096;disk:10000;ports:[%d-%d]", 31000+1000*i, 31999+1000*i)
	}})
}

func testLogger() *slog.Logger {
	if os.Getenv("CORRAL_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// start runs a framework instance on the harness's store.
func (h *harness) start() {
	h.t.Helper()
	cfg := Config{Master: h.cluster.MasterAddr, Store: h.store, Logger: testLogger(), KillRetry: time.Second}
	if h.tune != nil {
		h.tune(&cfg)
	}
	f, err := New(context.Background(), cfg)
	if err != nil {
		h.t.Fatal(err)
	}
	h.f = f
	h.api = httptest.NewServer(f.Handler(nil))
	stopRun := testkit.RunInBackground(f.Run)
	h.stop = sync.OnceFunc(func() { stopRun(); h.api.Close() })
	h.t.Cleanup(h.stop)
}

// do sends a request and checks the status; it returns the body.
func (h *harness) do(method, path string, body any, want int) []byte {
	h.t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			h.t.Fatal(err)
		}
		r = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, h.api.URL+path, r)
	if err != nil {
		h.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		h.t.Fatalf("%s %s: %d %s, want %d", method, path, resp.StatusCode, out, want)
	}
	return out
}

func (h *harness) tasks(appID string) []TaskView {
	h.t.Helper()
	var v struct{ Tasks []TaskView }
	if err := json.Unmarshal(h.do("GET", "/v2/apps"+appID+"/tasks", nil, 200), &v); err != nil {
		h.t.Fatal(err)
	}
	return v.Tasks
}

// running counts an app's tasks running and not being killed; healthy
// ones (passing their check) too.
func (h *harness) running(appID string) (running, healthy int) {
	for _, t := range h.tasks(appID) {
		if t.State != "TASK_RUNNING" || t.Killing {
			continue
		}
		running++
		if len(t.HealthCheckResults) > 0 && t.HealthCheckResults[0]["alive"] == true {
			healthy++
		}
	}
	return running, healthy
}

func (h *harness) deployments() []DeploymentView {
	h.t.Helper()
	var v []DeploymentView
	if err := json.Unmarshal(h.do("GET", "/v2/deployments", nil, 200), &v); err != nil {
		h.t.Fatal(err)
	}
	return v
}

func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond) // polling
	}
}

// webApp is an app running the test web service with an HTTP health
// check, fast enough for tests.
func webApp(id string, instances int, health string) map[string]any {
	return map[string]any{
		"id": id, "cmd": httpd, "cpus": 0.1, "mem": 32, "instances": instances,
		"env":             map[string]string{"HEALTH": health},
		"portDefinitions": []map[string]any{{"port": 0, "name": "http"}},
		"healthChecks": []map[string]any{{
			"protocol": "MESOS_HTTP", "path": "/health", "portIndex": 0,
			"gracePeriodSeconds": 5, "intervalSeconds": 0.5, "timeoutSeconds": 0.5, "delaySeconds": 0,
			"maxConsecutiveFailures": 3,
		}},
	}
}
