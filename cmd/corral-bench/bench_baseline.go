package main

import (
	"context"
	"encoding/json"
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

	"github.com/corral-sched/corral/internal/testkit/benchkit"
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
	jobs := make(chan int)
	var wg sync.WaitGroup
	start := time.Now()
	for range min(workers, o.N) {
		wg.Go(func() {
			for i := range jobs {
				cmds[i], errs[i] = spawnOne(filepath.Join(dir, strconv.Itoa(i)), o.Command)
				ends[i] = time.Now()
			}
		})
	}
feed:
	for i := range o.N {
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

// runcBaseline runs /bin/true in a container under runc, runs times one
// after the other (create, start, exit, delete: `runc run`), and returns
// the latencies. The container is shaped like corral's linux ones: an
// empty root with the host's /usr and /etc read-only, fresh mount, PID,
// IPC and UTS namespaces, no network namespace.
func runcBaseline(ctx context.Context, runs int, dir string) (_ benchkit.Latency, err error) {
	runc, err := exec.LookPath("runc")
	if err != nil {
		return benchkit.Latency{}, baselineSkipped("runc is not on PATH")
	}
	if os.Geteuid() != 0 {
		return benchkit.Latency{}, baselineSkipped("runc needs root here")
	}
	bundle, err := os.MkdirTemp(dir, "corral-runc-")
	if err != nil {
		return benchkit.Latency{}, fmt.Errorf("runc baseline: %w", err)
	}
	defer func() { err = errors.Join(err, removeBundle(bundle)) }()
	if err := makeRuncBundle(ctx, runc, bundle); err != nil {
		return benchkit.Latency{}, err
	}
	state := filepath.Join(bundle, "state") // runc's state of its own, not the host's /run/runc
	var ds []time.Duration
	for i := range runs {
		id := fmt.Sprintf("corral-bench-%d-%d", os.Getpid(), i)
		start := time.Now()
		out, err := exec.CommandContext(ctx, runc, "--root", state, "run", "--bundle", bundle, id).CombinedOutput()
		d := time.Since(start)
		if err != nil {
			_ = exec.Command(runc, "--root", state, "delete", "--force", id).Run() // may have been left half made
			return benchkit.Latency{}, fmt.Errorf("runc baseline: run %d: %w: %s", i, err, out)
		}
		ds = append(ds, d)
	}
	return benchkit.Summarize(ds), nil
}

// rootfsDirs and rootfsLinks make the empty root corral's
// filesystem/linux gives a container without an image.
var (
	rootfsDirs  = []string{"usr", "etc", "proc", "dev", "sys", "tmp"}
	rootfsLinks = []string{"bin", "sbin", "lib", "lib64"}
)

// makeRuncBundle writes a rootfs and the config.json `runc spec` makes,
// edited to run /bin/true without a terminal or network namespace.
func makeRuncBundle(ctx context.Context, runc, bundle string) error {
	rootfs := filepath.Join(bundle, "rootfs")
	for _, d := range rootfsDirs {
		if err := os.MkdirAll(filepath.Join(rootfs, d), 0o755); err != nil {
			return fmt.Errorf("runc baseline: %w", err)
		}
	}
	for _, l := range rootfsLinks {
		if err := os.Symlink("usr/"+l, filepath.Join(rootfs, l)); err != nil {
			return fmt.Errorf("runc baseline: %w", err)
		}
	}
	if out, err := exec.CommandContext(ctx, runc, "spec", "--bundle", bundle).CombinedOutput(); err != nil {
		return fmt.Errorf("runc baseline: runc spec: %w: %s", err, out)
	}
	path := filepath.Join(bundle, "config.json")
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("runc baseline: %w", err)
	}
	var spec map[string]any
	if err := json.Unmarshal(b, &spec); err != nil {
		return fmt.Errorf("runc baseline: runc spec wrote %s: %w", path, err)
	}
	if err := editSpec(spec); err != nil {
		return fmt.Errorf("runc baseline: %s: %w", path, err)
	}
	if b, err = json.Marshal(spec); err != nil {
		return fmt.Errorf("runc baseline: %w", err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return fmt.Errorf("runc baseline: %w", err)
	}
	return nil
}

// editSpec turns runc's example spec into the container the baseline
// runs. It edits the JSON as it is, keeping whatever else runc put there.
func editSpec(spec map[string]any) error {
	process, ok1 := spec["process"].(map[string]any)
	linux, ok2 := spec["linux"].(map[string]any)
	namespaces, ok3 := linux["namespaces"].([]any)
	mounts, ok4 := spec["mounts"].([]any)
	if !ok1 || !ok2 || !ok3 || !ok4 {
		return errors.New("not the shape of runc's example spec (process, linux.namespaces, mounts)")
	}
	process["terminal"] = false
	process["args"] = []string{"/bin/true"}
	spec["root"] = map[string]any{"path": "rootfs", "readonly": true}
	kept := namespaces[:0]
	for _, n := range namespaces {
		if m, ok := n.(map[string]any); !ok || m["type"] != "network" {
			kept = append(kept, n)
		}
	}
	linux["namespaces"] = kept
	for _, d := range []string{"/usr", "/etc"} {
		mounts = append(mounts, map[string]any{"destination": d, "type": "bind", "source": d,
			"options": []string{"rbind", "ro", "nosuid", "nodev"}})
	}
	spec["mounts"] = mounts
	return nil
}

// removeBundle removes a bundle. The rootfs is taken apart entry by entry
// with os.Remove, never RemoveAll: were the host's /usr still bind-mounted
// there, RemoveAll would walk into it.
func removeBundle(bundle string) error {
	rootfs := filepath.Join(bundle, "rootfs")
	for _, e := range append(append([]string(nil), rootfsLinks...), rootfsDirs...) {
		_ = os.Remove(filepath.Join(rootfs, e)) // what remains fails the Remove below
	}
	if err := os.Remove(rootfs); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("runc baseline: %s left in place: %w", bundle, err)
	}
	if err := os.RemoveAll(bundle); err != nil {
		return fmt.Errorf("runc baseline: %w", err)
	}
	return nil
}
