package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// startDev runs `corral dev` in the process on free ports and returns the
// URLs it prints, by name (master, service, pets, batch, agent-N).
func startDev(t *testing.T) map[string]string {
	t.Helper()
	pr, pw := io.Pipe()
	root := newRootCommand()
	root.SetOut(pw)
	root.SetArgs([]string{"dev", "--agents", "2", "--master-listen", "127.0.0.1:0", "--agent-base-port", "0",
		"--batch-listen", "127.0.0.1:0", "--service-listen", "127.0.0.1:0", "--pets-listen", "127.0.0.1:0", "--dns-listen", "127.0.0.1:0",
		"--work-dir", t.TempDir(), "--log-level", "error"})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx); pw.Close() }()
	t.Cleanup(func() { cancel(); <-done })
	urls := map[string]string{}
	lines := bufio.NewScanner(pr)
	ready := make(chan bool, 1)
	go func() {
		defer close(ready)
		for lines.Scan() {
			f := strings.Fields(lines.Text())
			if len(f) >= 2 && strings.HasPrefix(f[1], "http://") {
				urls[f[0]] = f[1]
			}
			if lines.Text() == "corral dev: ready" {
				ready <- true
				break
			}
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	select {
	case ok := <-ready:
		if !ok {
			t.Fatal("corral dev ended before it was ready")
		}
	case <-time.After(60 * time.Second):
		t.Fatal("corral dev not ready within 60s")
	}
	return urls
}

func runCLI(t *testing.T, args ...string) string {
	t.Helper()
	cli := newRootCommand()
	var out bytes.Buffer
	cli.SetOut(&out)
	cli.SetArgs(args)
	if err := cli.Execute(); err != nil {
		t.Fatalf("corral %s: %v\n%s", strings.Join(args, " "), err, out.String())
	}
	return out.String()
}

// `corral tasks --all` lists finished tasks with how they ended, and
// `corral app groups` / `corral app group` show and change groups.
func TestTasksAllAndAppGroups(t *testing.T) {
	urls := startDev(t)
	master := strings.TrimPrefix(urls["master"], "http://")
	for _, req := range [][2]string{
		{urls["batch"] + "/v1/jobs", `{"id":"once","cmd":"echo done; exit 7","cpus":0.05,"mem":16}`},
		{urls["batch"] + "/v1/jobs/once/trigger", ``},
	} {
		resp, err := http.Post(req[0], "application/json", strings.NewReader(req[1]))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			t.Fatalf("POST %s: %s", req[0], resp.Status)
		}
	}
	deadline := time.Now().Add(60 * time.Second)
	var all string
	for !strings.Contains(all, "TASK_FAILED") {
		if time.Now().After(deadline) {
			t.Fatalf("corral tasks --all never listed the failed task:\n%s", all)
		}
		time.Sleep(100 * time.Millisecond) // polling the master's history
		all = runCLI(t, "tasks", "--all", "--master", master)
	}
	if !strings.Contains(all, "REASON") || !strings.Contains(all, "Command exited with status 7") {
		t.Errorf("corral tasks --all does not say how the task ended:\n%s", all)
	}
	if active := runCLI(t, "tasks", "--master", master); strings.Contains(active, "TASK_FAILED") {
		t.Errorf("corral tasks without --all lists finished tasks:\n%s", active)
	}

	group := filepath.Join(t.TempDir(), "shop.yaml")
	if err := os.WriteFile(group, []byte("id: /shop\napps:\n  - {id: db, cmd: exec sleep 600, cpus: 0.05, mem: 16}\n"+
		"  - {id: web, cmd: exec sleep 600, cpus: 0.05, mem: 16, instances: 2, dependencies: [db]}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	service := "--service=" + urls["service"]
	if out := runCLI(t, "app", "group", "deploy", "-f", group, "--wait", service); !strings.Contains(out, "finished") {
		t.Errorf("corral app group deploy --wait:\n%s", out)
	}
	tree := runCLI(t, "app", "groups", service)
	for _, want := range []string{"/shop/", "/shop/db", "/shop/web"} {
		if !strings.Contains(tree, want) {
			t.Errorf("corral app groups lacks %s:\n%s", want, tree)
		}
	}
	var web string
	for _, l := range strings.Split(tree, "\n") {
		if strings.Contains(l, "/shop/web") {
			web = l
		}
	}
	if f := strings.Fields(web); len(f) != 4 || f[1] != "2" || f[2] != "2" || f[3] != "/shop/db" {
		t.Errorf("/shop/web's line %q: want 2 instances, 2 running, depending on /shop/db", web)
	}
	runCLI(t, "app", "group", "scale", "shop", "2", "--wait", service)
	if out := runCLI(t, "app", "groups", "shop", service); !strings.Contains(out, "/shop/db") {
		t.Errorf("corral app groups shop:\n%s", out)
	}
	runCLI(t, "app", "group", "rm", "shop", "--wait", service)
}
