package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestSettingsPrecedence(t *testing.T) {
	file := filepath.Join(t.TempDir(), "agent.yaml")
	if err := os.WriteFile(file, []byte("master: file:1\nattributes: rack:file\nhostname: from-file\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("CORRAL_ATTRIBUTES", "rack:env")
	t.Setenv("CORRAL_HOSTNAME", "from-env")
	cmd := newAgentCommand()
	if err := cmd.Flags().Parse([]string{"--config", file, "--hostname", "from-flag"}); err != nil {
		t.Fatal(err)
	}
	s, err := loadSettings(cmd)
	if err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]string{
		"hostname":   "from-flag", // flag beats env and file
		"attributes": "rack:env",  // env beats file
		"master":     "file:1",    // file beats default
		"listen":     "127.0.0.1:5051",
	} {
		if got := s.String(key); got != want {
			t.Errorf("%s = %q, want %q", key, got, want)
		}
	}
}

func TestBadSettingsAreErrors(t *testing.T) {
	file := filepath.Join(t.TempDir(), "m.yaml")
	_ = os.WriteFile(file, []byte("no-such-flag: 1\n"), 0o644)
	cmd := newMasterCommand()
	_ = cmd.Flags().Parse([]string{"--config", file})
	if _, err := loadSettings(cmd); err == nil || !strings.Contains(err.Error(), "no-such-flag") {
		t.Fatalf("unknown config key: err = %v", err)
	}
	t.Setenv("CORRAL_OFFER_TIMEOUT", "soon")
	cmd = newMasterCommand()
	_ = cmd.Flags().Parse(nil)
	s, err := loadSettings(cmd)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := masterConfig(s); err == nil || !strings.Contains(err.Error(), "offer-timeout") {
		t.Fatalf("bad duration: err = %v", err)
	}
}

func TestDevStartsAClusterAndStops(t *testing.T) {
	pr, pw := io.Pipe()
	root := newRootCommand()
	root.SetOut(pw)
	root.SetArgs([]string{"dev", "--agents", "2", "--master-listen", "127.0.0.1:0", "--agent-base-port", "0",
		"--batch-listen", "127.0.0.1:0", "--service-listen", "127.0.0.1:0", "--pets-listen", "127.0.0.1:0", "--dns-listen", "127.0.0.1:0", "--work-dir", t.TempDir(), "--log-level", "error"})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx); pw.Close() }()

	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var out bytes.Buffer
	deadline := time.After(60 * time.Second)
	for ready := false; !ready; {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("corral dev ended before it was ready:\n%s\nerr: %v", out.String(), <-done)
			}
			out.WriteString(l + "\n")
			ready = l == "corral dev: ready"
		case <-deadline:
			t.Fatalf("corral dev not ready within 60s:\n%s", out.String())
		}
	}
	if n := strings.Count(out.String(), "agent-"); n != 2 {
		t.Fatalf("want 2 agents listed:\n%s", out.String())
	}
	// The batch framework runs a job submitted with the CLI.
	var batchURL string
	for _, l := range strings.Split(out.String(), "\n") {
		if rest, ok := strings.CutPrefix(l, "batch "); ok {
			batchURL = strings.TrimSpace(rest)
		}
	}
	if batchURL == "" {
		t.Fatalf("corral dev did not list the batch framework:\n%s", out.String())
	}
	jobFile := filepath.Join(t.TempDir(), "job.yaml")
	_ = os.WriteFile(jobFile, []byte("id: hello\ncmd: echo hello\ncpus: 0.1\nmem: 16\ncompletions: 4\nparallelism: 2\n"), 0o644)
	cli := newRootCommand()
	var cliOut bytes.Buffer
	cli.SetOut(&cliOut)
	cli.SetArgs([]string{"job", "run", "-f", jobFile, "--wait", "--batch", batchURL})
	if err := cli.Execute(); err != nil || !strings.Contains(cliOut.String(), "run hello-1 succeeded") {
		t.Fatalf("corral job run: %v\n%s", err, cliOut.String())
	}
	if !strings.Contains(cliOut.String(), "4/4 succeeded") {
		t.Fatalf("no final progress line:\n%s", cliOut.String())
	}
	cli = newRootCommand()
	cliOut.Reset()
	cli.SetOut(&cliOut)
	cli.SetArgs([]string{"job", "ls", "--batch", batchURL})
	if err := cli.Execute(); err != nil || !strings.Contains(cliOut.String(), "hello-1") || !strings.Contains(cliOut.String(), "succeeded") {
		t.Fatalf("corral job ls: %v\n%s", err, cliOut.String())
	}
	cli = newRootCommand()
	cli.SetOut(io.Discard)
	cli.SetArgs([]string{"job", "run", "-f", filepath.Join(t.TempDir(), "missing.yaml"), "--batch", batchURL})
	if err := cli.Execute(); err == nil {
		t.Fatal("corral job run with a missing file succeeded")
	}

	// The service framework deploys an app from YAML with the CLI.
	var serviceURL string
	for _, l := range strings.Split(out.String(), "\n") {
		if rest, ok := strings.CutPrefix(l, "service "); ok {
			serviceURL = strings.TrimSpace(rest)
		}
	}
	if serviceURL == "" {
		t.Fatalf("corral dev did not list the service framework:\n%s", out.String())
	}
	appCLI := func(args ...string) (string, error) {
		cli := newRootCommand()
		var b bytes.Buffer
		cli.SetOut(&b)
		cli.SetArgs(append(append([]string{"app"}, args...), "--service", serviceURL))
		err := cli.Execute()
		return b.String(), err
	}
	appFile := filepath.Join(t.TempDir(), "web.yaml")
	_ = os.WriteFile(appFile, []byte("id: /web\ncmd: echo hello-from-web; sleep 300\ncpus: 0.1\nmem: 16\ninstances: 2\nlabels:\n  tier: front\n"), 0o644)
	if got, err := appCLI("deploy", "-f", appFile, "--wait"); err != nil || !strings.Contains(got, "finished") || !strings.Contains(got, "StartApplication") {
		t.Fatalf("corral app deploy --wait: %v\n%s", err, got)
	}
	if got, err := appCLI("scale", "web", "3", "--wait"); err != nil || !strings.Contains(got, "finished") {
		t.Fatalf("corral app scale: %v\n%s", err, got)
	}
	if got, err := appCLI("ls"); err != nil || !strings.Contains(got, "/web") || !strings.Contains(got, "/web  3          3") {
		t.Fatalf("corral app ls: %v\n%s", err, got)
	}
	if got, err := appCLI("tasks", "/web"); err != nil || strings.Count(got, "TASK_RUNNING") != 3 {
		t.Fatalf("corral app tasks: %v\n%s", err, got)
	}
	if got, err := appCLI("versions", "web", "-o", "json"); err != nil || strings.Count(got, "Z\"") != 2 {
		t.Fatalf("corral app versions: %v\n%s", err, got)
	}
	// corral logs finds a task's sandbox through the master and its agent.
	var webTasks []struct{ ID string }
	if got, err := appCLI("tasks", "web", "-o", "json"); err != nil || json.Unmarshal([]byte(got), &webTasks) != nil || len(webTasks) == 0 {
		t.Fatalf("corral app tasks -o json: %v\n%s", err, got)
	}
	masterLine := ""
	for _, l := range strings.Split(out.String(), "\n") {
		if rest, ok := strings.CutPrefix(l, "master "); ok {
			masterLine = strings.TrimPrefix(strings.TrimSpace(rest), "http://")
		}
	}
	var logs bytes.Buffer
	logsBy := time.Now().Add(20 * time.Second)
	for !strings.Contains(logs.String(), "hello-from-web") && time.Now().Before(logsBy) {
		logs.Reset()
		cli := newRootCommand()
		cli.SetOut(&logs)
		cli.SetArgs([]string{"logs", webTasks[0].ID, "--master", masterLine})
		if err := cli.Execute(); err != nil {
			t.Fatalf("corral logs: %v", err)
		}
		time.Sleep(50 * time.Millisecond) // polling for the task's first line
	}
	if !strings.Contains(logs.String(), "hello-from-web") {
		t.Fatalf("corral logs printed %q, want the task's stdout", logs.String())
	}
	badFile := filepath.Join(t.TempDir(), "bad.yaml")
	_ = os.WriteFile(badFile, []byte("id: /bad\ncmd: x\nmaxInstances: 3\n"), 0o644)
	if _, err := appCLI("deploy", "-f", badFile); err == nil || !strings.Contains(err.Error(), "/maxInstances") {
		t.Fatalf("deploying an app with an unknown field: %v", err)
	}
	if got, err := appCLI("rm", "web", "--wait"); err != nil || !strings.Contains(got, "finished") {
		t.Fatalf("corral app rm: %v\n%s", err, got)
	}
	if _, err := appCLI("show", "web"); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("corral app show of a deleted app: %v", err)
	}

	// The operator commands, against the dev cluster's master.
	var masterAddr string
	for _, l := range strings.Split(out.String(), "\n") {
		if rest, ok := strings.CutPrefix(l, "master "); ok {
			masterAddr = strings.TrimPrefix(strings.TrimSpace(rest), "http://")
		}
	}
	run := func(args ...string) (string, error) {
		cli := newRootCommand()
		var b bytes.Buffer
		cli.SetOut(&b)
		cli.SetArgs(append(args, "--master", masterAddr))
		err := cli.Execute()
		return b.String(), err
	}
	for _, c := range []struct {
		args []string
		want []string
	}{
		{[]string{"agents"}, []string{"agent-0", "agent-1", "HOSTNAME"}},
		{[]string{"weights", "set", "batch=2"}, nil},
		{[]string{"weights"}, []string{"batch", "2"}},
		{[]string{"quota", "set", "web", "--guarantee", "cpus:1;mem:64"}, nil},
		{[]string{"quota"}, []string{"web", "cpus:1;mem:64"}},
		{[]string{"roles"}, []string{"batch"}},
		{[]string{"frameworks", "-o", "json"}, []string{`"name": "batch"`}},
		{[]string{"tasks"}, []string{"STATE"}},
		{[]string{"reserve", "agent-0", "cpus:1;mem:128", "--role", "db"}, []string{"reserved cpus(db):1;mem(db):128 for db on agent-0"}},
		{[]string{"agents", "-o", "yaml"}, []string{"get_agents:", "hostname: agent-0"}},
		{[]string{"unreserve", "agent-0", "cpus:1;mem:128", "--role", "db"}, []string{"unreserved"}},
		{[]string{"volumes"}, []string{"CONTAINER PATH"}},
		{[]string{"top", "-n", "1"}, []string{"corral top", "agent-0", "[", "AGENT"}},
		{[]string{"maintenance", "schedule", "agent-1", "--duration", "2h"}, nil},
		{[]string{"maintenance"}, []string{"agent-1", "DRAINING", "for 2h0m0s"}},
		{[]string{"maintenance", "start", "agent-1"}, nil},
		{[]string{"maintenance"}, []string{"agent-1", "DOWN"}},
		{[]string{"maintenance", "stop", "agent-1"}, nil},
	} {
		got, err := run(c.args...)
		if err != nil {
			t.Fatalf("corral %v: %v", c.args, err)
		}
		for _, w := range c.want {
			if !strings.Contains(got, w) {
				t.Fatalf("corral %v printed %q, want %q in it", c.args, got, w)
			}
		}
	}
	if _, err := run("weights", "set", "batch"); err == nil || !strings.Contains(err.Error(), "ROLE=WEIGHT") {
		t.Fatalf("a malformed weight: %v", err)
	}
	if _, err := run("reserve", "nowhere", "cpus:1", "--role", "db"); err == nil || !strings.Contains(err.Error(), "no agent with ID or hostname") {
		t.Fatalf("reserving on an unknown agent: %v", err)
	}
	if _, err := run("logs", "no-such-task"); err == nil || !strings.Contains(err.Error(), "no task") {
		t.Fatalf("logs of an unknown task: %v", err)
	}
	if _, err := run("maintenance", "start", "agent-0"); err == nil || !strings.Contains(err.Error(), "not in the maintenance schedule") {
		t.Fatalf("starting maintenance of an unscheduled machine: %v", err)
	}
	if _, err := run("quota", "set", "web", "--guarantee", "cpus:-1"); err == nil {
		t.Fatal("a negative guarantee was accepted")
	}
	cli = newRootCommand()
	cli.SetOut(io.Discard)
	cli.SetArgs([]string{"agents", "--master", "127.0.0.1:1"})
	if err := cli.Execute(); err == nil || !strings.Contains(err.Error(), "cannot reach the master") {
		t.Fatalf("agents against nothing: %v", err)
	}
	cancel()
	go func() {
		for range lines {
		}
	}()
	if err := <-done; err != nil {
		t.Fatalf("corral dev exited with %v", err)
	}
}

func TestAllocatorFlags(t *testing.T) {
	cmd := newMasterCommand()
	if err := cmd.Flags().Parse([]string{"--min-allocatable-resources", "cpus:1;mem:64|disk:100",
		"--fair-sharing-excluded-resource-names", "gpus, fpgas", "--role-sorter", "random"}); err != nil {
		t.Fatal(err)
	}
	s, err := loadSettings(cmd)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := masterConfig(s)
	if err != nil {
		t.Fatal(err)
	}
	want := []map[string]float64{{"cpus": 1, "mem": 64}, {"disk": 100}}
	if !reflect.DeepEqual(cfg.MinAllocatable, want) || !reflect.DeepEqual(cfg.FairShareExcluded, []string{"gpus", "fpgas"}) || cfg.RoleSorter != "random" {
		t.Fatalf("config = %+v %v %q", cfg.MinAllocatable, cfg.FairShareExcluded, cfg.RoleSorter)
	}
	cmd = newMasterCommand()
	_ = cmd.Flags().Parse([]string{"--min-allocatable-resources", "cpus:lots"})
	s, _ = loadSettings(cmd)
	if _, err := masterConfig(s); err == nil || !strings.Contains(err.Error(), "min-allocatable-resources") {
		t.Fatalf("bad bundle: err = %v", err)
	}
}
