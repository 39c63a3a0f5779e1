package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/corral-sched/corral/internal/testkit/benchkit"
)

// The linux baselines: Debian's runc running containers shaped like
// corral's (an empty root with the host's /usr and /etc read-only, fresh
// mount, PID, IPC and UTS namespaces, no network namespace), from a bundle
// made once. runc is the floor for a libcontainer container here: corral
// uses the same library in-process.

// runcTool is runc's path, or why this machine cannot run the baseline.
func runcTool() (string, error) {
	runc, err := exec.LookPath("runc")
	if err != nil {
		return "", baselineSkipped("runc is not on PATH")
	}
	if os.Geteuid() != 0 {
		return "", baselineSkipped("runc needs root here")
	}
	return runc, nil
}

// runcBaseline runs /bin/true in a container under runc, runs times one
// after the other (create, start, exit, delete: `runc run`), and returns
// the latencies.
func runcBaseline(ctx context.Context, runs int, dir string) (_ benchkit.Latency, err error) {
	runc, err := runcTool()
	if err != nil {
		return benchkit.Latency{}, err
	}
	bundle, err := os.MkdirTemp(dir, "corral-runc-")
	if err != nil {
		return benchkit.Latency{}, fmt.Errorf("runc baseline: %w", err)
	}
	defer func() { err = errors.Join(err, removeBundle(bundle)) }()
	if err := makeRuncBundle(ctx, runc, bundle, []string{"/bin/true"}); err != nil {
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

// runcDetachedBaseline starts n containers of `/bin/sh -c command` under
// runc, workers at a time, each with `runc run -d` (create and start; it
// returns once the command runs, as TASK_RUNNING means for corral), and
// times them from the first start to the last return. Then it deletes
// every container it made (--force kills what runs), whatever failed.
func runcDetachedBaseline(ctx context.Context, n, workers int, command, dir string) (r spawnResult, err error) {
	if n < 1 || workers < 1 || command == "" {
		return r, errors.New("runc baseline: need at least one container, one worker and a command")
	}
	runc, err := runcTool()
	if err != nil {
		return r, err
	}
	bundle, err := os.MkdirTemp(dir, "corral-runc-")
	if err != nil {
		return r, fmt.Errorf("runc baseline: %w", err)
	}
	defer func() { err = errors.Join(err, removeBundle(bundle)) }()
	if err := makeRuncBundle(ctx, runc, bundle, []string{"/bin/sh", "-c", command}); err != nil {
		return r, err
	}
	// runc's and the containers' output go to a file, never a pipe: a
	// detached container keeps its stdio open, and a reader of a pipe
	// would wait for it to exit.
	logPath := filepath.Join(bundle, "runc.log")
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return r, fmt.Errorf("runc baseline: %w", err)
	}
	defer logFile.Close()
	state := filepath.Join(bundle, "state")
	defer func() { err = errors.Join(err, deleteContainers(runc, state, workers)) }()

	errs := make([]error, n)
	ends := make([]time.Time, n)
	start := time.Now()
	runPool(ctx, n, workers, func(i int) {
		cmd := exec.CommandContext(ctx, runc, "--root", state, "run", "-d", "--bundle", bundle, fmt.Sprintf("corral-bench-%d-%d", os.Getpid(), i))
		cmd.Stdout, cmd.Stderr = logFile, logFile
		errs[i] = cmd.Run()
		ends[i] = time.Now()
	})

	var last time.Time
	for i, e := range errs {
		if e == nil && !ends[i].IsZero() {
			r.Started++
			if ends[i].After(last) {
				last = ends[i]
			}
		}
	}
	if r.Started > 0 {
		r.Elapsed = last.Sub(start)
	}
	if r.Started < n {
		first := ctx.Err()
		for _, e := range errs {
			if e != nil {
				first = e
				break
			}
		}
		out, _ := os.ReadFile(logPath)
		return r, fmt.Errorf("runc baseline: %d of %d containers started: %w: %s", r.Started, n, first, lastLines(out, 3))
	}
	return r, nil
}

// deleteContainers force-deletes every container in runc's state dir,
// workers at a time, and checks that none is left.
func deleteContainers(runc, state string, workers int) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	list := func() ([]string, error) {
		out, err := exec.CommandContext(ctx, runc, "--root", state, "list", "-q").Output()
		if err != nil {
			return nil, fmt.Errorf("runc baseline: runc list: %w", err)
		}
		return strings.Fields(string(out)), nil
	}
	ids, err := list()
	if err != nil {
		return err
	}
	runPool(ctx, len(ids), workers, func(i int) {
		_ = exec.CommandContext(ctx, runc, "--root", state, "delete", "--force", ids[i]).Run() // checked by the list below
	})
	if left, err := list(); err != nil || len(left) > 0 {
		return errors.Join(err, fmt.Errorf("runc baseline: %d containers left after delete --force: %v", len(left), left))
	}
	return nil
}

// lastLines is the end of a log, for an error message.
func lastLines(b []byte, n int) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], " | ")
}

// rootfsDirs and rootfsLinks make the empty root corral's
// filesystem/linux gives a container without an image.
var (
	rootfsDirs  = []string{"usr", "etc", "proc", "dev", "sys", "tmp"}
	rootfsLinks = []string{"bin", "sbin", "lib", "lib64"}
)

// makeRuncBundle writes a rootfs and the config.json `runc spec` makes,
// edited to run args without a terminal or network namespace.
func makeRuncBundle(ctx context.Context, runc, bundle string, args []string) error {
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
	if err := editSpec(spec, args); err != nil {
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
func editSpec(spec map[string]any, args []string) error {
	process, ok1 := spec["process"].(map[string]any)
	linux, ok2 := spec["linux"].(map[string]any)
	namespaces, ok3 := linux["namespaces"].([]any)
	mounts, ok4 := spec["mounts"].([]any)
	if !ok1 || !ok2 || !ok3 || !ok4 {
		return errors.New("not the shape of runc's example spec (process, linux.namespaces, mounts)")
	}
	process["terminal"] = false
	process["args"] = args
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
