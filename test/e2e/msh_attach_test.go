package e2e

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/corral-sched/corral/internal/testkit"

	"github.com/corral-sched/corral/agent"
	"github.com/corral-sched/corral/agent/iosw"
	"github.com/corral-sched/corral/internal/testkit/testcluster"
)

// mshAgentAddr is where msh -interactive looks for the agent of an offer:
// the offer's hostname, port 5051, hard-coded.
const mshAgentAddr = "127.0.0.1:5051"

// startMshAgent starts, beside c, the agent msh can attach to: on
// 127.0.0.1:5051, with hostname 127.0.0.1. c's own agents must be too
// small for msh's task, so that it lands here.
func startMshAgent(t *testing.T, c *testcluster.Cluster, dir string) {
	t.Helper()
	ln, err := net.Listen("tcp", mshAgentAddr)
	if err != nil {
		t.Fatalf("msh -interactive attaches to the agent on port 5051 (hard-coded in msh), which is taken here: %v", err)
	}
	a, err := agent.New(agent.Config{Master: c.MasterAddr, Addr: mshAgentAddr, Hostname: "127.0.0.1", WorkDir: dir,
		Resources: "cpus:2;mem:1024;disk:1000;ports:[31000-31100]", Isolation: "posix", RegisterBackoff: 50 * time.Millisecond,
		StatusUpdateRetry: time.Second, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		ln.Close()
		t.Fatal(err)
	}
	srv := &http.Server{Handler: a.Handler()}
	go func() { _ = srv.Serve(ln) }()
	stopRun := testkit.RunInBackground(a.Run)
	t.Cleanup(func() {
		sctx, scancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer scancel()
		_ = a.Shutdown(sctx) // its tasks go with it
		stopRun()
		_ = srv.Close()
	})
	waitFor(t, 30*time.Second, "the msh agent to register", func() bool { return a.ID() != "" && a.Connected() })
}

// mesos-go's msh, unchanged: -interactive launches the task with a
// terminal and attaches to it; `echo hi | msh -interactive -- /bin/cat`
// prints hi and, when its stdin ends, so does cat: msh sees TASK_FINISHED.
// With -tty msh puts its own terminal in raw mode and the task's stdin is
// a terminal.
func TestMeshGoMshInteractive(t *testing.T) {
	dir := t.TempDir()
	c := testcluster.Start(t, testcluster.Options{Agents: 1, WorkDir: dir, AgentResources: "cpus:0.001;mem:1;disk:1"})
	startMshAgent(t, c, filepath.Join(dir, "msh-agent"))
	msh := buildMsh(t)

	t.Run("stdin through cat", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, msh, "-master", c.MasterAddr, "-interactive", "--", "/bin/cat")
		cmd.Stdin = strings.NewReader("hi\n")
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(strings.ReplaceAll(string(out), "\r", ""), "hi\nhi\n") {
			// Once from the terminal's echo, once from cat.
			files, _ := filepath.Glob(filepath.Join(dir, "msh-agent", "agents", "*", "frameworks", "*", "executors", "*", "runs", "latest", "stdout"))
			var sandbox []byte
			for _, f := range files {
				b, _ := os.ReadFile(f)
				sandbox = append(sandbox, b...)
			}
			t.Fatalf("echo hi | msh -interactive -- /bin/cat: %v\n%s\nthe task's stdout: %q", err, out, sandbox)
		}
		if !strings.Contains(string(out), "TASK_FINISHED") {
			t.Errorf("msh did not see the task finish:\n%s", out)
		}
	})

	t.Run("a terminal", func(t *testing.T) {
		master, tty, err := iosw.OpenPTY(iosw.WindowSize{Rows: 40, Cols: 120}, -1, -1)
		if err != nil {
			t.Fatal(err)
		}
		defer master.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, msh, "-master", c.MasterAddr, "-tty", "-interactive", "--",
			"/bin/sh", "-c", "read go; test -t 0 && echo is-a-tty; stty size")
		cmd.Stdin, cmd.Stdout, cmd.Stderr = tty, tty, tty
		cmd.Env = append(os.Environ(), "TERM=xterm")
		// msh opens its controlling terminal (ctermid): give it one.
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		tty.Close()
		screen := &lockedText{}
		go func() {
			buf := make([]byte, 4096)
			for {
				n, err := master.Read(buf)
				screen.add(buf[:n])
				if err != nil {
					return
				}
			}
		}()
		waitFor(t, time.Minute, "msh to attach", func() bool { return strings.Contains(screen.String(), "attaching for interactive session") })
		if _, err := master.Write([]byte("go\r")); err != nil {
			t.Fatal(err)
		}
		err = cmd.Wait()
		var exit *exec.ExitError
		if err != nil && !errors.As(err, &exit) {
			t.Fatal(err)
		}
		if err != nil || !strings.Contains(screen.String(), "is-a-tty") {
			t.Fatalf("msh -tty -interactive: %v\n%s", err, screen.String())
		}
		// msh sends its terminal's size as the first thing it types.
		if !strings.Contains(screen.String(), "40 120") {
			t.Errorf("the task's terminal was not given msh's size (40 120):\n%s", screen.String())
		}
	})
}

type lockedText struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedText) add(p []byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.b.Write(p)
}

func (l *lockedText) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
