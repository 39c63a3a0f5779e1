package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/corral-sched/corral/internal/testkit"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/agent"
	"github.com/corral-sched/corral/agent/attachclient"
	"github.com/corral-sched/corral/agent/containerizer"
	"github.com/corral-sched/corral/codec"
	"github.com/corral-sched/corral/frameworks/sdk"
	"github.com/corral-sched/corral/internal/testkit/testcluster"
	"github.com/corral-sched/corral/proto/agentapipb"
	"github.com/corral-sched/corral/proto/mesospb"
	"github.com/corral-sched/corral/proto/schedulerpb"
)

// runCLIErr runs corral args... under ctx and returns its output and error.
func runCLIErr(ctx context.Context, args ...string) (string, error) {
	cli := newRootCommand()
	var out bytes.Buffer
	cli.SetOut(&out)
	cli.SetErr(&out)
	cli.SetIn(strings.NewReader(""))
	cli.SetArgs(args)
	err := cli.ExecuteContext(ctx)
	return out.String(), err
}

// launchOne runs one task on c with a framework of the test's, and waits
// for it to run.
func launchOne(t *testing.T, c *testcluster.Cluster, id, script string, container *mesospb.ContainerInfo) {
	t.Helper()
	running := make(chan struct{})
	launched := false
	info := &mesospb.FrameworkInfo{User: proto.String("root"), Name: proto.String("exec-test")}
	var s *sdk.Scheduler
	s, err := sdk.New(sdk.Config{Master: c.MasterAddr, Framework: info, Logger: slog.New(slog.DiscardHandler)},
		sdk.HandlerFunc(func(ctx context.Context, ev *schedulerpb.Event) error {
			for _, o := range ev.GetOffers().GetOffers() {
				if launched {
					_ = s.Decline(ctx, []*mesospb.OfferID{o.GetId()}, 60)
					continue
				}
				res, _ := sdk.NewSpace(o).Take(0.1, 64, 0, 0)
				ti := sdk.CommandTask(id, id, o, script, res)
				ti.Container = container
				if err := s.Launch(ctx, o, 60, ti); err != nil {
					return err
				}
				launched = true
			}
			if st := ev.GetUpdate().GetStatus(); st.GetState() == mesospb.TaskState_TASK_RUNNING {
				close(running)
			}
			return nil
		}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(testkit.RunInBackground(s.Run))
	select {
	case <-running:
	case <-time.After(60 * time.Second):
		t.Fatalf("task %s did not start", id)
	}
}

// taskPid is the pid of task id's container on the agent (its /state).
func taskPid(t *testing.T, a *agent.Agent, id string) int {
	t.Helper()
	resp, err := http.Get("http://" + a.Addr() + "/state")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st struct {
		Tasks []struct {
			ID  string `json:"id"`
			Pid int    `json:"pid"`
		} `json:"tasks"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	for _, task := range st.Tasks {
		if task.ID == id && task.Pid > 0 {
			return task.Pid
		}
	}
	t.Fatalf("the agent shows no process for task %s: %+v", id, st.Tasks)
	return 0
}

// `corral exec` runs a command inside a running linux-isolated task: in
// its PID namespace, in its sandbox; the command's exit status is
// corral's, and a session the client drops leaves nothing behind.
func TestExecIntoALinuxIsolatedTask(t *testing.T) {
	if why := containerizer.LinuxAvailable(); why != "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("this test needs linux isolation: %s", why)
		}
		t.Skip(why)
	}
	cgroupRoot := fmt.Sprintf("/corral-exec-%d", time.Now().UnixNano())
	t.Cleanup(func() {
		dirs, _ := filepath.Glob("/sys/fs/cgroup/*" + cgroupRoot)
		for _, d := range dirs {
			_ = os.Remove(d)
		}
	})
	c := testcluster.Start(t, testcluster.Options{Agents: 1, Agent: func(_ int, cfg *agent.Config) {
		cfg.Isolation, cfg.CgroupsRoot = "cgroups/cpu,cgroups/mem,namespaces/pid,filesystem/linux", cgroupRoot
	}})
	launchOne(t, c, "box", "echo inside > task-file; exec sleep 300", nil)
	master := "--master=" + c.MasterAddr
	ctx := context.Background()

	out, err := runCLIErr(ctx, "exec", "box", master, "--", "sh", "-c", `cat task-file; readlink /proc/self/ns/pid; cat /proc/1/cmdline | tr '\0' ' '; exit 7`)
	var status exitStatus
	if !errors.As(err, &status) || status != 7 {
		t.Fatalf("corral exec: %v, want exit status 7\n%s", err, out)
	}
	hostNS, _ := os.Readlink("/proc/self/ns/pid")
	taskNS, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/pid", taskPid(t, c.Agents[0], "box")))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "inside\n") || !strings.Contains(out, taskNS+"\n") || taskNS == hostNS || !strings.Contains(out, "sleep 300") {
		t.Errorf("corral exec did not run in the task's sandbox and PID namespace %s (whose PID 1 is the task's sleep):\n%s", taskNS, out)
	}
	if out, err := runCLIErr(ctx, "exec", "box", master, "--", "true"); err != nil {
		t.Errorf("corral exec true: %v\n%s", err, out)
	}
	// More output than the agent holds for a client: it is read as it comes.
	const flood = 20_000_000
	if out, err := runCLIErr(ctx, "exec", "box", master, "--", "sh", "-c", "head -c "+strconv.Itoa(flood)+" /dev/zero | tr '\\0' y"); err != nil || strings.Count(out, "y") != flood {
		t.Errorf("corral exec of a command writing %d bytes: %v, got %d", flood, err, strings.Count(out, "y"))
	}
	if _, err := runCLIErr(ctx, "exec", "no-such-task", master, "--", "true"); err == nil || !strings.Contains(err.Error(), "no-such-task") {
		t.Errorf("corral exec into an unknown task: %v, want an error naming it", err)
	}

	// A terminal, made inside the container.
	cl := &attachclient.Client{Base: "http://" + c.Agents[0].Addr()}
	boxID := containerOf(t, c.Agents[0], "box")
	session, err := cl.LaunchSession(ctx, "tty-session", boxID, &mesospb.CommandInfo{Value: proto.String("test -t 0 && echo tty-yes; stty size; tty")},
		attachclient.TTY(30, 100))
	if err != nil {
		t.Fatal(err)
	}
	var screen bytes.Buffer
	if err := session.Copy(&screen, &screen); err != nil {
		t.Fatal(err)
	}
	if got := screen.String(); !strings.Contains(got, "tty-yes") || !strings.Contains(got, "30 100") || !strings.Contains(got, "/dev/pts/") {
		t.Errorf("a session with a terminal inside the container printed %q, want tty-yes, 30 100 and its /dev/pts name", got)
	}

	// A task of its own with a terminal, made by the container's init.
	launchOne(t, c, "ttybox", `read x; test -t 0 && echo is-a-tty; stty size; exec sleep 300`, attachclient.TTY(25, 90))
	ttyID := attachclient.ContainerID(containerOf(t, c.Agents[0], "ttybox"), "")
	output, err := cl.AttachOutput(ctx, ttyID)
	if err != nil {
		t.Fatal(err)
	}
	input, err := cl.AttachInput(ctx, ttyID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := input.Write([]byte("go\n")); err != nil {
		t.Fatal(err)
	}
	var seen strings.Builder
	for !strings.Contains(seen.String(), "25 90") {
		m, err := output.Next()
		if err != nil {
			t.Fatalf("the task's terminal said %q, then %v", seen.String(), err)
		}
		seen.Write(m.GetData().GetData())
	}
	if !strings.Contains(seen.String(), "is-a-tty") {
		t.Errorf("the linux task's stdin is no terminal: %q", seen.String())
	}
	input.Abort()
	output.Close()

	// corral attach follows the task's output: what the task's init (its
	// PID 1) writes, here through a session, reaches it.
	actx, detach := context.WithCancel(ctx)
	attached := &syncBuffer{}
	attachDone := make(chan error, 1)
	go func() {
		cli := newRootCommand()
		cli.SetOut(attached)
		cli.SetErr(attached)
		cli.SetArgs([]string{"attach", "box", master})
		attachDone <- cli.ExecuteContext(actx)
	}()
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(attached.String(), "via-exec") {
		if time.Now().After(deadline) {
			t.Fatalf("corral attach never showed what the task wrote: %q", attached.String())
		}
		// Written again each round: the attach may not have started yet.
		if out, err := runCLIErr(ctx, "exec", "box", master, "--", "sh", "-c", "echo via-exec > /proc/1/fd/1"); err != nil {
			t.Fatalf("corral exec: %v\n%s", err, out)
		}
		time.Sleep(50 * time.Millisecond) // polling the attached output
	}
	detach()
	if err := <-attachDone; err != nil {
		t.Errorf("corral attach, interrupted: %v", err)
	}

	// The client goes away (as ^C does): the session and what it started
	// in the background are killed.
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		_, err := runCLIErr(sctx, "exec", "box", master, "--", "sh", "-c", "sleep 4321 & sleep 4322")
		done <- err
	}()
	deadline = time.Now().Add(60 * time.Second)
	for len(pidsOf("sleep 4321")) == 0 || len(pidsOf("sleep 4322")) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the session's processes never ran")
		}
		time.Sleep(20 * time.Millisecond) // polling /proc
	}
	cancel()
	if err := <-done; !errors.As(err, &status) || status != 130 {
		t.Errorf("an interrupted corral exec: %v, want exit status 130", err)
	}
	for len(pidsOf("sleep 4321"))+len(pidsOf("sleep 4322")) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the dropped session left processes behind: %v %v", pidsOf("sleep 4321"), pidsOf("sleep 4322"))
		}
		time.Sleep(20 * time.Millisecond) // polling /proc
	}
}

// containerOf is the container of task id on agent a (GET_CONTAINERS).
func containerOf(t *testing.T, a *agent.Agent, id string) string {
	t.Helper()
	body, _ := codec.JSON.Marshal(&agentapipb.Call{Type: agentapipb.Call_GET_CONTAINERS.Enum()})
	resp, err := http.Post("http://"+a.Addr()+"/api/v1", codec.JSONMediaType, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	out := &agentapipb.Response{}
	if err := codec.JSON.Unmarshal(b, out); err != nil {
		t.Fatalf("GET_CONTAINERS: %v: %s", err, b)
	}
	for _, ct := range out.GetGetContainers().GetContainers() {
		if ct.GetExecutorId().GetValue() == id {
			return ct.GetContainerId().GetValue()
		}
	}
	t.Fatalf("no container for task %s: %s", id, b)
	return ""
}

// pidsOf lists the live processes whose command line is cmd.
func pidsOf(cmd string) []int {
	entries, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || strings.TrimRight(strings.ReplaceAll(string(b), "\x00", " "), " ") != cmd {
			continue
		}
		if st, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat")); err == nil && strings.Contains(string(st), ") Z ") {
			continue // a zombie is dead
		}
		pids = append(pids, pid)
	}
	return pids
}

// syncBuffer is an output the test reads while a command writes it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
