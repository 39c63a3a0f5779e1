package containerizer

import (
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Sim is the launcher of simulated agents, which load a master with
// thousands of agents from one process: nothing is forked. A task whose
// command is "sleep N" runs for N seconds and exits 0; any other command
// runs until it is killed. Everything else about the agent (registration,
// status updates, checkpoints, sandboxes) is the real thing.
type Sim struct{}

var _ Launcher = Sim{}

// Launch starts a simulated process.
func (Sim) Launch(s Start) (*Process, error) {
	p := &Process{done: make(chan struct{})}
	p.signal = func(sig syscall.Signal) error {
		go p.finish(Exit{Code: -1, Signal: sig}) // Signal holds p.mu
		return nil
	}
	if d, ok := simDuration(s.Launch.Process.Args); ok {
		time.AfterFunc(d, func() { p.finish(Exit{}) })
	}
	return p, nil
}

// Recover finds nothing: simulated processes die with their agent.
func (Sim) Recover(Start, int, uint64) (*Process, error) { return nil, ErrGone }

// Containers finds nothing: simulated processes die with their agent.
func (Sim) Containers(string) map[string]Running { return nil }

// finish ends a simulated process once.
func (p *Process) finish(e Exit) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.exited {
		return
	}
	p.exited, p.exit = true, e
	close(p.done)
}

// simDuration reads "sleep N" from the command: argv itself, or what a
// shell runs.
func simDuration(argv []string) (time.Duration, bool) {
	cmd := strings.Join(argv, " ")
	if len(argv) == 3 && argv[0] == "/bin/sh" && argv[1] == "-c" {
		cmd = argv[2]
	}
	fields := strings.Fields(cmd)
	if len(fields) != 2 || fields[0] != "sleep" {
		return 0, false
	}
	secs, err := strconv.ParseFloat(fields[1], 64)
	if err != nil || secs < 0 {
		return 0, false
	}
	return time.Duration(secs * float64(time.Second)), true
}
