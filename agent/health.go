package agent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/corral-sched/corral/agent/containerizer"
	"github.com/corral-sched/corral/agent/lifecycle"
	"github.com/corral-sched/corral/isolators"
	"github.com/corral-sched/corral/proto/mesospb"
)

// Health checks run in the agent, as Mesos' do: after delay_seconds, every
// interval_seconds, each bounded by timeout_seconds. The first result and
// every change ride on a TASK_RUNNING update with `healthy` set (reason
// REASON_TASK_HEALTH_CHECK_STATUS_UPDATED). Failures inside the grace
// period do not count until the check has passed once; after
// consecutive_failures failures in a row the task is killed. With posix
// isolation checks run on the host, where the task's ports are; a task
// with a network of its own is reached from inside its namespace, on its
// CNI addresses and on loopback.

// startHealthCheck starts t's health check, if it has one, until ctx ends.
func (a *Agent) startHealthCheck(ctx context.Context, t *taskRun) {
	hc := t.info.GetHealthCheck()
	if hc == nil {
		return
	}
	spec, _ := a.spec(t) // it launched: it has a spec
	env := spec.Env
	sandbox := t.sandbox
	if hasImage(spec.Info) {
		// Inside the image's root: the sandbox is elsewhere, and the
		// agent's PATH is not the image's.
		sandbox = isolators.ContainerSandbox
		if !slices.ContainsFunc(env, func(kv string) bool { return strings.HasPrefix(kv, "PATH=") }) {
			env = append(slices.Clone(env), "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
		}
	}
	proc := t.proc
	dial := (&net.Dialer{}).DialContext
	if ips := containerIPs(proc); len(ips) > 0 || a.containers.OwnNetwork() {
		pid := proc.Pid
		dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
			return dialContainer(ctx, pid, ips, network, addr)
		}
	}
	started := time.Now()
	go func() {
		delay := seconds(hc.GetDelaySeconds())
		interval := max(seconds(hc.GetIntervalSeconds()), 10*time.Millisecond)
		timer := time.NewTimer(delay)
		defer timer.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-timer.C:
			}
			err := runCheck(ctx, hc, env, sandbox, proc, dial)
			inGrace := time.Since(started) < seconds(hc.GetGracePeriodSeconds())
			a.post(func() { a.healthResult(t, hc, err, inGrace) })
			timer.Reset(interval)
		}
	}()
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// restartHealthCheck resumes a recovered task's health check.
func (a *Agent) restartHealthCheck(t *taskRun) {
	ctx, cancel := context.WithCancel(context.Background())
	t.health.stop = cancel
	a.startHealthCheck(ctx, t)
}

// runCheck runs one check and says why it failed, or nil.
func runCheck(ctx context.Context, hc *mesospb.HealthCheck, env []string, sandbox string, proc *containerizer.Process,
	dial func(ctx context.Context, network, addr string) (net.Conn, error)) error {
	ctx, cancel := context.WithTimeout(ctx, max(seconds(hc.GetTimeoutSeconds()), 10*time.Millisecond))
	defer cancel()
	switch hc.GetType() {
	case mesospb.HealthCheck_COMMAND:
		c := hc.GetCommand()
		if c == nil {
			// The master passes checks as they come; this one was a nil
			// dereference away from taking the agent down.
			return errors.New("a COMMAND check without a command")
		}
		argv := []string{"/bin/sh", "-c", c.GetValue()}
		if !viaShell(c) {
			argv = append([]string{c.GetValue()}, c.GetArguments()[min(1, len(c.GetArguments())):]...)
		}
		checkEnv := env
		for _, v := range c.GetEnvironment().GetVariables() {
			checkEnv = append(checkEnv, v.GetName()+"="+v.GetValue())
		}
		if proc != nil {
			// In the task's container, when it has one: its namespaces,
			// its view of the filesystem.
			if out, err, ok := proc.Exec(ctx, argv, checkEnv, sandbox); ok {
				if err != nil {
					return fmt.Errorf("command %q: %v: %.200s", c.GetValue(), err, out)
				}
				return nil
			}
		}
		var cmd *exec.Cmd
		if viaShell(c) {
			cmd = exec.CommandContext(ctx, "/bin/sh", "-c", c.GetValue())
		} else {
			cmd = exec.CommandContext(ctx, c.GetValue(), c.GetArguments()[min(1, len(c.GetArguments())):]...)
		}
		cmd.Dir, cmd.Env = sandbox, env
		for _, v := range c.GetEnvironment().GetVariables() {
			cmd.Env = append(cmd.Env, v.GetName()+"="+v.GetValue())
		}
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("command %q: %v: %.200s", c.GetValue(), err, out)
		}
		return nil
	case mesospb.HealthCheck_HTTP:
		h := hc.GetHttp()
		scheme := h.GetScheme()
		if scheme == "" {
			scheme = "http"
		}
		url := fmt.Sprintf("%s://%s%s", scheme, net.JoinHostPort("127.0.0.1", strconv.Itoa(int(h.GetPort()))), h.GetPath())
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		client := &http.Client{Transport: &http.Transport{DialContext: dial, DisableKeepAlives: true}}
		resp, err := client.Do(req)
		if err != nil {
			return fmt.Errorf("GET %s: %w", url, err)
		}
		resp.Body.Close()
		ok := resp.StatusCode >= 200 && resp.StatusCode < 400
		if len(h.GetStatuses()) > 0 {
			ok = false
			for _, s := range h.GetStatuses() {
				ok = ok || int(s) == resp.StatusCode
			}
		}
		if !ok {
			return fmt.Errorf("GET %s: %s", url, resp.Status)
		}
		return nil
	case mesospb.HealthCheck_TCP:
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(int(hc.GetTcp().GetPort())))
		c, err := dial(ctx, "tcp", addr)
		if err != nil {
			return fmt.Errorf("connect %s: %w", addr, err)
		}
		return c.Close()
	}
	return fmt.Errorf("health check type %v is not supported", hc.GetType())
}

// healthResult applies one check's outcome on the loop.
func (a *Agent) healthResult(t *taskRun, hc *mesospb.HealthCheck, err error, inGrace bool) {
	if t.life.Phase() != lifecycle.Running {
		return // being killed, or over
	}
	healthy := err == nil
	h := &t.health
	if healthy {
		h.passed, h.failures = true, 0
	} else {
		if inGrace && !h.passed {
			return // still starting up
		}
		h.failures++
	}
	if h.result == nil || *h.result != healthy {
		h.result = &healthy
		reason := mesospb.TaskStatus_REASON_TASK_HEALTH_CHECK_STATUS_UPDATED
		msg := "Health check passed"
		if !healthy {
			msg = "Health check failed: " + err.Error()
		}
		a.update(t, mesospb.TaskState_TASK_RUNNING, &reason, msg)
	}
	if !healthy && h.failures >= int(hc.GetConsecutiveFailures()) {
		a.log.Info("killing a task after failed health checks", "task", t.key.TaskID, "failures", h.failures, "err", err)
		a.killTask(t, lifecycle.Unhealthy, fmt.Sprintf("Task killed after %d consecutive failed health checks; last: %v", h.failures, err), nil)
	}
}
