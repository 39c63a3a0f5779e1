package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// The launch benchmark's baselines: the same launches without corral, on
// the same machine, right after the cluster run (so that the two do not
// compete for the cores). A tasks/s figure means little without the
// floor the machine sets: these give it.

// spawnOptions shapes a bare-spawn baseline.
type spawnOptions struct {
	N int
	// Command runs as /bin/sh -c Command, as the agent runs a shell
	// command (without the agent's exit-status wrapper: this is the floor).
	Command string
	// Workers spawn concurrently; 0: GOMAXPROCS×4.
	Workers int
	// Dir holds the temporary sandboxes; "": the system's temp dir.
	Dir string
}

// spawnResult is what a bare-spawn baseline measured.
type spawnResult struct {
	Started int
	// Elapsed runs from the first sandbox made to the last Start returned.
	Elapsed time.Duration

	pids []int  // the processes started, each its own process group
	dir  string // the temporary dir, removed before returning
}

// spawnBaseline starts o.N processes of o.Command from a pool of workers,
// each in a fresh sandbox with its stdout and stderr files as the posix
// agent gives a task, times them, then kills every process group and
// reaps every process. What it started it always kills, reaps and removes,
// whatever else failed.
func spawnBaseline(ctx context.Context, o spawnOptions) (r spawnResult, err error) {
	if o.N < 1 || o.Command == "" {
		return r, errors.New("baseline: need at least one process and a command")
	}
	workers := o.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0) * 4
	}
	dir, err := os.MkdirTemp(o.Dir, "corral-baseline-")
	if err != nil {
		return r, fmt.Errorf("baseline: %w", err)
	}
	r.dir = dir
	cmds := make([]*exec.Cmd, o.N)
	errs := make([]error, o.N)
	ends := make([]time.Time, o.N)
	start := time.Now()
	runPool(ctx, o.N, workers, func(i int) {
		cmds[i], errs[i] = spawnOne(filepath.Join(dir, strconv.Itoa(i)), o.Command)
		ends[i] = time.Now()
	})

	var last time.Time
	for i, c := range cmds {
		if c == nil {
			continue
		}
		r.Started++
		r.pids = append(r.pids, c.Process.Pid)
		if ends[i].After(last) {
			last = ends[i]
		}
	}
	if r.Started > 0 {
		r.Elapsed = last.Sub(start)
	}
	reapErr := reapAll(cmds)
	rmErr := os.RemoveAll(dir)
	if rmErr != nil {
		rmErr = fmt.Errorf("baseline: removing %s: %w", dir, rmErr)
	}
	var spawnErr error
	if r.Started < o.N {
		first := ctx.Err()
		for _, e := range errs {
			if e != nil {
				first = e
				break
			}
		}
		spawnErr = fmt.Errorf("baseline: started %d of %d processes: %w", r.Started, o.N, first)
	}
	return r, errors.Join(spawnErr, reapErr, rmErr)
}

// spawnOne makes a sandbox and starts command in it, in a process group
// of its own so that whatever it forks dies with it.
func spawnOne(sandbox, command string) (*exec.Cmd, error) {
	if err := os.Mkdir(sandbox, 0o755); err != nil {
		return nil, fmt.Errorf("making a sandbox: %w", err)
	}
	stdout, err := os.OpenFile(filepath.Join(sandbox, "stdout"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("opening stdout: %w", err)
	}
	defer stdout.Close() // the child has its own copy; a thousand open pairs would exhaust descriptors
	stderr, err := os.OpenFile(filepath.Join(sandbox, "stderr"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("opening stderr: %w", err)
	}
	defer stderr.Close()
	cmd := exec.Command("/bin/sh", "-c", command)
	cmd.Dir, cmd.Stdout, cmd.Stderr = sandbox, stdout, stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting /bin/sh -c %q: %w", command, err)
	}
	return cmd, nil
}

// reapAll kills the process group of every started command and waits for
// its leader. Exit errors are expected (they were killed); only a failure
// to signal is reported.
func reapAll(cmds []*exec.Cmd) error {
	var errs []error
	for _, c := range cmds {
		if c == nil {
			continue
		}
		if err := syscall.Kill(-c.Process.Pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
			errs = append(errs, fmt.Errorf("baseline: killing process group %d: %w", c.Process.Pid, err))
		}
	}
	for _, c := range cmds {
		if c != nil {
			_ = c.Wait() // "signal: killed", by design
		}
	}
	return errors.Join(errs...)
}

// baselineSkipped is why a baseline was not measured where that is no
// failure (a tool missing, not root).
type baselineSkipped string

func (s baselineSkipped) Error() string { return string(s) }

// runPool runs job(i) for every i in [0, n) in order on up to workers
// goroutines, handing out no more once ctx ends, and returns when every
// job handed out has returned.
func runPool(ctx context.Context, n, workers int, job func(i int)) {
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range min(workers, n) {
		wg.Go(func() {
			for i := range jobs {
				job(i)
			}
		})
	}
feed:
	for i := range n {
		if ctx.Err() != nil {
			break // select below would pick at random between a ready worker and Done
		}
		select {
		case jobs <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(jobs)
	wg.Wait()
}
