package webui_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/corral-sched/corral/agent"
	"github.com/corral-sched/corral/internal/testkit/testcluster"
	"github.com/corral-sched/corral/master"
)

// These tests drive the UI in real headless Chromium against a real
// in-process cluster: a master serving its real Handler on loopback, two
// agents and frameworks launching real tasks. They wait on the page with
// polls that have deadlines, never with sleeps.

// chromiumPaths are where Debian's chromium package and others put the
// browser; CORRAL_CHROMIUM overrides them.
var chromiumPaths = []string{"/usr/lib/chromium/chromium", "chromium", "chromium-browser", "google-chrome"}

// findChromium returns the browser or ends the test: in CI (CI=true) a
// missing browser fails it, elsewhere it skips it.
func findChromium(t *testing.T) string {
	t.Helper()
	candidates := chromiumPaths
	if p := os.Getenv("CORRAL_CHROMIUM"); p != "" {
		candidates = []string{p}
	}
	for _, c := range candidates {
		if p, err := exec.LookPath(c); err == nil {
			return p
		}
	}
	msg := "headless Chromium is missing (looked for " + strings.Join(candidates, ", ") +
		"): install it with `apt-get install -y --no-install-recommends chromium` or set CORRAL_CHROMIUM"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// ui is a cluster with the UI open in a browser tab.
type ui struct {
	t       *testing.T
	cluster *testcluster.Cluster
	workDir string
	base    string
	ctx     context.Context

	mu         sync.Mutex
	exceptions []string // uncaught exceptions in the page
}

// startUI starts a cluster of two agents (reachable by their hostname,
// 127.0.0.1, as the sandbox browser needs) and opens the UI at hash.
func startUI(t *testing.T, hash string) *ui {
	t.Helper()
	return startUIWith(t, hash, uiOptions{})
}

// uiOptions adjust the master and the agents and sign the browser in.
type uiOptions struct {
	master            func(*master.Config)
	agent             func(int, *agent.Config)
	principal, secret string // sent as HTTP Basic credentials with every request
}

func startUIWith(t *testing.T, hash string, o uiOptions) *ui {
	t.Helper()
	browser := findChromium(t)
	dir := t.TempDir()
	c := testcluster.Start(t, testcluster.Options{
		Agents:         2,
		WorkDir:        dir,
		AgentResources: "cpus:4;mem:4096;disk:10000;ports:[31000-32000]",
		Master: func(cfg *master.Config) {
			cfg.AllocationInterval = 100 * time.Millisecond
			if o.master != nil {
				o.master(cfg)
			}
		},
		Agent: func(i int, cfg *agent.Config) {
			cfg.Hostname = "127.0.0.1"
			if o.agent != nil {
				o.agent(i, cfg)
			}
		},
	})
	profile := t.TempDir()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(browser),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(1280, 900),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Env("XDG_CONFIG_HOME="+profile, "XDG_CACHE_HOME="+profile),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(func() { cancelTimeout(); cancelTab(); cancelAlloc() })
	u := &ui{t: t, cluster: c, workDir: dir, base: c.MasterURL, ctx: ctx}
	exceptions := chromedp.Events(ctx, runtime.ExceptionThrown)
	if o.principal != "" {
		basic := base64.StdEncoding.EncodeToString([]byte(o.principal + ":" + o.secret))
		if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil { // starts the tab
			t.Fatalf("opening Chromium: %v", err)
		}
		if _, err := chromedp.Call(ctx, network.Enable, network.EnableParams{}); err != nil {
			t.Fatalf("signing the browser in: %v", err)
		}
		if _, err := chromedp.Call(ctx, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{
			Headers: network.Headers{"Authorization": "Basic " + basic}}); err != nil {
			t.Fatalf("signing the browser in: %v", err)
		}
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(u.base+"/"+hash)); err != nil {
		t.Fatalf("opening the UI in Chromium: %v", err)
	}
	go func() {
		for ev, err := range exceptions {
			if err != nil {
				return
			}
			u.mu.Lock()
			u.exceptions = append(u.exceptions, ev.ExceptionDetails.Text+" "+describe(ev.ExceptionDetails.Exception))
			u.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		u.mu.Lock()
		defer u.mu.Unlock()
		for _, e := range u.exceptions {
			t.Errorf("uncaught exception in the page: %s", e)
		}
	})
	u.waitFor("the operator stream to be live", `document.getElementById('conn').dataset.state === 'live'`)
	return u
}

func describe(o *runtime.RemoteObject) string {
	if o == nil {
		return ""
	}
	return o.Description
}

// visit navigates within the app, as a click on a link does (no reload).
func (u *ui) visit(hash string) {
	u.t.Helper()
	if err := chromedp.Do(u.ctx, chromedp.Evaluate[chromedp.Void](fmt.Sprintf("location.hash = %q", hash))); err != nil {
		u.t.Fatalf("navigating to %s: %v", hash, err)
	}
}

// waitFor polls a JavaScript predicate until it holds, for up to 20 s.
func (u *ui) waitFor(what, predicate string) {
	u.t.Helper()
	_, err := chromedp.Run(u.ctx, chromedp.Poll[chromedp.Void](predicate,
		chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(20*time.Second)))
	if err != nil {
		page, _ := chromedp.Run(u.ctx, chromedp.Evaluate[string](`location.hash + "\n" + document.getElementById('main').innerText`))
		u.t.Fatalf("waiting for %s (%s): %v\nthe page shows:\n%s", what, predicate, err, page)
	}
}

// eval evaluates an expression in the page.
func eval[T any](u *ui, expr string) T {
	u.t.Helper()
	v, err := chromedp.Run(u.ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		u.t.Fatalf("evaluating %s: %v", expr, err)
	}
	return v
}

// screenshot saves a PNG of the page in the test's temp dir, or in
// $CORRAL_WEBUI_SCREENSHOTS when set (docs/img is made that way).
func (u *ui) screenshot(name string) {
	u.t.Helper()
	dir := os.Getenv("CORRAL_WEBUI_SCREENSHOTS")
	if dir == "" {
		dir = u.t.TempDir()
	}
	png, err := chromedp.Run(u.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		u.t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		u.t.Fatal(err)
	}
}

// sandboxFile is a file in a task's sandbox on the agents' disks.
func (u *ui) sandboxFile(taskID, name string) string {
	u.t.Helper()
	matches, err := filepath.Glob(filepath.Join(u.workDir, "agent-*", "agents", "*", "frameworks", "*", "executors", taskID, "runs", "latest"))
	if err != nil || len(matches) != 1 {
		u.t.Fatalf("finding the sandbox of %s: %v %v", taskID, matches, err)
	}
	return filepath.Join(matches[0], name)
}

func touch(t *testing.T, path string) {
	t.Helper()
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
}
