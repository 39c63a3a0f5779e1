package system

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/corral-sched/corral/codec"
	"github.com/corral-sched/corral/internal/netns"
	"github.com/corral-sched/corral/proto/masterpb"
)

// corralBin is the binary under test, built once by TestMain.
var corralBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "corral-system-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	corralBin = filepath.Join(dir, "corral")
	build := exec.Command("go", "build", "-o", corralBin, "github.com/corral-sched/corral/cmd/corral")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building corral:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// proc is one corral process, restartable with the same arguments.
type proc struct {
	t    *testing.T
	name string
	args []string
	log  string
	cmd  *exec.Cmd
	done chan struct{}
	// netns, if set, is the network namespace the process starts in.
	netns string
}

func startProc(t *testing.T, name string, args ...string) *proc {
	t.Helper()
	p := &proc{t: t, name: name, args: args, log: filepath.Join(t.TempDir(), name+".log")}
	p.start()
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			t.Logf("--- last lines of %s's log:\n%s", name, tail(p.log, 40))
		}
	})
	return p
}

func (p *proc) start() {
	p.t.Helper()
	out, err := os.OpenFile(p.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		p.t.Fatal(err)
	}
	p.cmd = exec.Command(corralBin, p.args...)
	p.cmd.Stdout, p.cmd.Stderr = out, out
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	start := p.cmd.Start
	if p.netns != "" {
		start = func() error { return netns.Do(p.netns, p.cmd.Start) }
	}
	if err := start(); err != nil {
		out.Close()
		p.t.Fatalf("starting %s: %v", p.name, err)
	}
	done := make(chan struct{})
	p.done = done
	go func() { _ = p.cmd.Wait(); out.Close(); close(done) }()
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// kill9 kills the process as a crash would and waits for it.
func (p *proc) kill9() {
	if p.exited() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

func (p *proc) signal(sig syscall.Signal) {
	p.t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatalf("signalling %s: %v", p.name, err)
	}
}

// stop asks the process to exit, then kills it.
func (p *proc) stop() {
	if p.exited() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGCONT)
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		p.kill9()
	}
}

func (p *proc) restart() {
	p.kill9()
	p.start()
}

func tail(path string, n int) string {
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// sandboxTasks lists the PIDs of the task processes (named comm) whose
// working directory is under root: the tasks our agents run, and nothing
// else on the machine.
// taskProcesses waits until exactly n processes named comm run in
// sandboxes under root and returns them: a task is reported running once
// its process exists, which can be a moment before its shell execs the
// command.
func taskProcesses(t *testing.T, root, comm string, n int) []int {
	t.Helper()
	var pids []int
	waitFor(t, 30*time.Second, fmt.Sprintf("%d %s processes under %s", n, comm, root), func() bool {
		pids = sandboxTasks(root, comm)
		return len(pids) == n
	})
	return pids
}

func sandboxTasks(root, comm string) []int {
	entries, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cwd, err := os.Readlink(filepath.Join("/proc", e.Name(), "cwd"))
		if err != nil || !strings.HasPrefix(cwd, root+"/") {
			continue
		}
		if comm != "" {
			b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "comm"))
			if err != nil || strings.TrimSpace(string(b)) != comm {
				continue
			}
		}
		if !zombie(pid) {
			pids = append(pids, pid)
		}
	}
	slices.Sort(pids)
	return pids
}

func zombie(pid int) bool {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return true
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if state, ok := strings.CutPrefix(sc.Text(), "State:"); ok {
			return strings.HasPrefix(strings.TrimSpace(state), "Z")
		}
	}
	return false
}

// killSandboxTasks ends whatever task processes outlived their agents
// under root (agents that were killed leave their tasks running, as they
// should).
func killSandboxTasks(root string) {
	for _, pid := range sandboxTasks(root, "") {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}

var noRedirects = &http.Client{
	Timeout:       5 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// operator sends an operator call to addr (no redirects followed) and
// returns the HTTP status and the decoded response, if any.
func operator(addr string, call *masterpb.Call) (int, *masterpb.Response, error) {
	body, err := codec.JSON.Marshal(call)
	if err != nil {
		return 0, nil, err
	}
	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/api/v1", bytes.NewReader(body))
	req.Header.Set("Content-Type", codec.JSONMediaType)
	resp, err := noRedirects.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK || len(b) == 0 {
		return resp.StatusCode, nil, err
	}
	out := &masterpb.Response{}
	if err := codec.JSON.Unmarshal(b, out); err != nil {
		return resp.StatusCode, nil, fmt.Errorf("decoding %v: %w", call.GetType(), err)
	}
	return resp.StatusCode, out, nil
}

func call(t masterpb.Call_Type) *masterpb.Call { return &masterpb.Call{Type: t.Enum()} }

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond) // polling a condition with a deadline
	}
}
