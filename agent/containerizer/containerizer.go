package containerizer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os/exec"
	"slices"
	"sync"
	"syscall"

	"github.com/corral-sched/corral/isolators"
)

// Containerizer makes containers: the isolators named by the agent's
// --isolation prepare each one, a launcher (linux or posix, or the
// simulated one) makes and starts it, and the isolators watch, measure,
// update and clean up after it (see package isolators for the order).
type Containerizer struct {
	sel         isolators.Selection
	isolators   []isolators.Isolator
	launcher    Launcher
	sandboxRoot string
	log         *slog.Logger
	// images: containers may name an image (the agent has a provisioner).
	images bool
}

// Launch prepares, makes and starts spec's container. An error means the
// container never ran, and nothing of it is left.
func (c *Containerizer) Launch(ctx context.Context, spec Spec) (*Process, error) {
	ic := &isolators.Container{ID: spec.ID, Sandbox: spec.Sandbox, User: spec.User, Limits: spec.Limits,
		Volumes: slices.Clone(spec.Volumes), Info: spec.Info, NetNS: spec.NetNS, Command: command(spec), Report: spec.Report}
	l := &isolators.Launch{Process: isolators.Process{Args: argv(spec), Env: spec.Env, Cwd: spec.Sandbox, User: spec.User}}
	image, err := c.imageProblem(spec)
	if err != nil {
		return nil, err
	}
	if spec.Value == "" && !spec.Shell && image == nil {
		// An image's own Entrypoint or Cmd runs when the task gives none.
		return nil, errors.New("containerizer: no command to run")
	}
	if err := c.checkNetworks(spec.Info); err != nil {
		return nil, err
	}
	var prepared []isolators.Isolator
	for _, iso := range c.isolators {
		if err := iso.Prepare(ctx, ic, l); err != nil {
			c.cleanup(ic, prepared)
			return nil, fmt.Errorf("%s: %w", iso.Name(), err)
		}
		prepared = append(prepared, iso)
	}
	if l.Rootfs == "" && !spec.Shell && !c.sel.Sim {
		// On the host's root a missing program is a launch failure, not a
		// task that exits 127 under the exit-status wrapper.
		if _, err := exec.LookPath(l.Process.Args[0]); err != nil {
			c.cleanup(ic, prepared)
			return nil, fmt.Errorf("containerizer: starting %q: %w", l.Process.Args[0], err)
		}
	}
	if spec.ExitFile != "" && !c.sel.Sim {
		l.Process.Args = wrap(l.Shell, inContainer(l, spec.Sandbox, spec.ExitFile), l.Process.Args)
	}
	w := &watch{}
	start := c.start(spec, ic, l, w)
	isolated := false // set by Started, which the launcher calls before it returns
	start.Started = func(pid int) error {
		isolated, ic.Pid = true, pid
		return c.isolate(ctx, ic)
	}
	proc, err := c.launcher.Launch(start)
	if err != nil {
		c.cleanup(ic, prepared)
		return nil, err
	}
	ic.Pid = proc.Pid
	if !isolated {
		if err := c.isolate(ctx, ic); err != nil {
			_ = proc.Signal(syscall.SIGKILL)
			<-proc.Done()
			return nil, err
		}
	}
	c.attach(proc, ic, w)
	proc.networks = c.networkInfos(ic)
	return proc, nil
}

// isolate runs the isolators that act on a started container's process.
func (c *Containerizer) isolate(ctx context.Context, ic *isolators.Container) error {
	for _, iso := range c.isolators {
		if i, ok := iso.(isolators.Isolater); ok {
			if err := i.Isolate(ctx, ic); err != nil {
				return fmt.Errorf("%s: %w", iso.Name(), err)
			}
		}
	}
	return nil
}

// start is what the launcher needs for ic: what the isolators prepared,
// and the hooks that finish a container when its process is gone.
func (c *Containerizer) start(spec Spec, ic *isolators.Container, l *isolators.Launch, w *watch) Start {
	return Start{
		ID: spec.ID, Sandbox: spec.Sandbox, Launch: l, ExitFile: spec.ExitFile, TTY: spec.TTY,
		Exited: func(e Exit) Exit {
			w.stop()
			if lim := w.limitation(); lim != nil {
				e.Limitation = lim // it was killed for it
				return e
			}
			for _, iso := range c.isolators {
				if x, ok := iso.(isolators.ExitChecker); ok {
					if lim := x.Exited(ic); lim != nil {
						e.Limitation = lim
						return e
					}
				}
			}
			return e
		},
		Destroyed: func() { c.cleanup(ic, c.isolators) },
	}
}

// attach wires a started (or recovered) process to its isolators:
// watchers, usage and updates.
func (c *Containerizer) attach(proc *Process, ic *isolators.Container, w *watch) {
	var mu sync.Mutex // guards ic.Limits against concurrent updates
	proc.usage = func(ctx context.Context) (isolators.Usage, error) {
		var total isolators.Usage
		var errs []error
		for _, iso := range c.isolators {
			if u, ok := iso.(isolators.Usager); ok {
				got, err := u.Usage(ctx, ic)
				if err != nil {
					errs = append(errs, fmt.Errorf("%s: %w", iso.Name(), err))
					continue
				}
				total = total.Add(got)
			}
		}
		return total, errors.Join(errs...)
	}
	proc.update = func(ctx context.Context, limits isolators.Limits) error {
		mu.Lock()
		defer mu.Unlock()
		ic.Limits = limits
		var errs []error
		for _, iso := range c.isolators {
			if u, ok := iso.(isolators.Updater); ok {
				if err := u.Update(ctx, ic); err != nil {
					errs = append(errs, fmt.Errorf("%s: %w", iso.Name(), err))
				}
			}
		}
		return errors.Join(errs...)
	}
	var watchers []isolators.Watcher
	for _, iso := range c.isolators {
		if x, ok := iso.(isolators.Watcher); ok {
			watchers = append(watchers, x)
		}
	}
	if len(watchers) == 0 {
		return
	}
	ctx := w.start()
	for _, x := range watchers {
		ch := x.Watch(ctx, ic)
		go func() {
			for lim := range ch {
				if w.limit(lim) {
					c.log.Info("container hit a limit; killing it", "container", ic.ID, "resource", lim.Resource, "message", lim.Message)
					_ = proc.Signal(syscall.SIGKILL)
				}
			}
		}()
	}
}

// cleanup runs the Cleanup of isos, in reverse order.
func (c *Containerizer) cleanup(ic *isolators.Container, isos []isolators.Isolator) {
	for i := len(isos) - 1; i >= 0; i-- {
		if x, ok := isos[i].(isolators.Cleaner); ok {
			if err := x.Cleanup(context.Background(), ic); err != nil {
				c.log.Warn("cleaning up after a container", "container", ic.ID, "isolator", isos[i].Name(), "err", err)
			}
		}
	}
}

// watch is a container's watchers: the first limitation they report, and
// how to stop them.
type watch struct {
	mu     sync.Mutex
	lim    *isolators.Limitation
	cancel context.CancelFunc
}

func (w *watch) start() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	w.mu.Lock()
	w.cancel = cancel
	w.mu.Unlock()
	return ctx
}

func (w *watch) stop() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.cancel != nil {
		w.cancel()
	}
}

// limit records the first limitation; it reports whether this was it.
func (w *watch) limit(l isolators.Limitation) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.lim != nil {
		return false
	}
	w.lim = &l
	return true
}

func (w *watch) limitation() *isolators.Limitation {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.lim
}
