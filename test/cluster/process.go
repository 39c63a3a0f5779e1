package cluster

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// process is one node's daemon, restartable with the same command line.
type process struct {
	ns   *Netns
	argv []string
	env  []string
	log  string

	mu     sync.Mutex
	cmd    *exec.Cmd     // guarded by mu
	done   chan struct{} // guarded by mu; closed when cmd has exited
	paused bool          // guarded by mu
}

// cleanEnv is the test's environment without CORRAL_ variables, which
// corral reads as flags: only what the harness sets reaches its nodes.
func cleanEnv(extra []string) []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CORRAL_") {
			out = append(out, kv)
		}
	}
	return append(out, extra...)
}

func (p *process) start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.done != nil {
		select {
		case <-p.done:
		default:
			return fmt.Errorf("cluster: %s is running already", p.ns.Name)
		}
	}
	out, err := os.OpenFile(p.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	fmt.Fprintf(out, "==== %s: %s\n", time.Now().Format(time.RFC3339Nano), strings.Join(p.argv, " "))
	cmd := p.ns.Command(p.argv[0], p.argv[1:]...)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.Env = cleanEnv(p.env)
	// Its own process group, so a stop reaches nothing else; and killed
	// with the test binary if that dies before its cleanup runs.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		out.Close()
		return fmt.Errorf("cluster: starting %s: %w", p.ns.Name, err)
	}
	done := make(chan struct{})
	p.cmd, p.done, p.paused = cmd, done, false
	go func() { _ = cmd.Wait(); out.Close(); close(done) }()
	return nil
}

// state returns the current command and its done channel.
func (p *process) state() (*exec.Cmd, chan struct{}) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cmd, p.done
}

func (p *process) running() bool {
	_, done := p.state()
	if done == nil {
		return false
	}
	select {
	case <-done:
		return false
	default:
		return true
	}
}

// pid is the running process's PID, or 0.
func (p *process) pid() int {
	cmd, _ := p.state()
	if cmd == nil || !p.running() {
		return 0
	}
	return cmd.Process.Pid
}

func (p *process) signal(sig syscall.Signal) error {
	cmd, _ := p.state()
	if cmd == nil || !p.running() {
		return fmt.Errorf("cluster: %s is not running", p.ns.Name)
	}
	if err := cmd.Process.Signal(sig); err != nil {
		return fmt.Errorf("cluster: signalling %s: %w", p.ns.Name, err)
	}
	p.mu.Lock()
	switch sig {
	case syscall.SIGSTOP:
		p.paused = true
	case syscall.SIGCONT:
		p.paused = false
	}
	p.mu.Unlock()
	return nil
}

func (p *process) isPaused() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.paused && p.done != nil
}

// kill9 kills the process as a crash would and waits for it.
func (p *process) kill9() {
	cmd, done := p.state()
	if cmd == nil || !p.running() {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	<-done
}

// stop asks the process to exit (resuming it first), then kills it.
func (p *process) stop() {
	cmd, done := p.state()
	if cmd == nil || !p.running() {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGCONT)
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		p.kill9()
	}
}

// tail returns the last n lines of a log file.
func tail(path string, n int) string {
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
