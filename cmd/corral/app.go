package main

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/corral-sched/corral/frameworks/service"
)

// The app commands are a client of the service framework's REST API.
func newAppCommand() *cobra.Command {
	cmd := serviceAPI.command("app", "Deploy, scale and inspect long-running apps (talks to corral service)", true)
	return addCommands(cmd,
		cmdSpec{use: "deploy -f FILE", short: "Create or update an app from a Marathon app definition (JSON or YAML)", args: cobra.NoArgs,
			run: runAppDeploy, file: "app definition (JSON or YAML)",
			flags: deploymentFlags("wait for the deployment to finish, showing its progress")},
		cmdSpec{use: "scale ID N", short: "Change an app's instance count", args: cobra.ExactArgs(2), run: runAppScale,
			flags: deploymentFlags("")},
		cmdSpec{use: "restart ID", short: "Replace every instance, within the upgrade strategy", args: cobra.ExactArgs(1),
			run: appDeployment(http.MethodPost, "/restart"), flags: deploymentFlags("")},
		cmdSpec{use: "rm ID", short: "Delete an app, killing its instances", args: cobra.ExactArgs(1),
			run: appDeployment(http.MethodDelete, ""), flags: deploymentFlags("")},
		cmdSpec{use: "ls", short: "List apps", args: cobra.NoArgs,
			run: restListing(serviceAPI, fixedPath("/v2/apps"), "apps", appsTable)},
		cmdSpec{use: "show ID", short: "Show an app with its tasks", args: cobra.ExactArgs(1),
			run: restShow(serviceAPI, appArgPath(""), "app")},
		cmdSpec{use: "tasks ID", short: "List an app's tasks", args: cobra.ExactArgs(1),
			run: restListing(serviceAPI, appArgPath("/tasks"), "tasks", appTasksTable)},
		cmdSpec{use: "versions ID", short: "List an app's versions", args: cobra.ExactArgs(1), run: runAppVersions},
		cmdSpec{use: "queue", short: "Show instances waiting to be placed, and why", args: cobra.NoArgs,
			run: restListing(serviceAPI, fixedPath("/v2/queue"), "queue", queueTable)},
		cmdSpec{use: "deployments", short: "List deployments in progress", args: cobra.NoArgs,
			run: restListing(serviceAPI, fixedPath("/v2/deployments"), "", deploymentsTable)},
		// Groups of apps: app_groups.go.
		cmdSpec{use: "groups [ID]", short: "Show app groups as a tree, with their apps and dependencies",
			args: cobra.MaximumNArgs(1), run: runAppGroups},
		cmdSpec{use: "group", short: "Deploy, scale or delete a whole group of apps", subs: []cmdSpec{
			{use: "deploy -f FILE", short: "Create or replace a group from a Marathon group definition (JSON or YAML); apps it leaves out stop",
				args: cobra.NoArgs, run: runGroupDeploy, file: "group definition (JSON or YAML)", flags: deploymentFlags("")},
			{use: "scale ID FACTOR", short: "Multiply the instances of every app in a group (rounded up)",
				args: cobra.ExactArgs(2), run: runGroupScale, flags: deploymentFlags("")},
			{use: "rm ID", short: "Delete a group: its apps stop, dependents first", args: cobra.ExactArgs(1),
				run: runGroupRemove, flags: deploymentFlags("")},
		}},
	)
}

// deploymentFlags adds what every command that starts a deployment takes;
// wait is --wait's help where it is not the usual.
func deploymentFlags(wait string) func(f *pflag.FlagSet) {
	if wait == "" {
		wait = "wait for the deployment to finish"
	}
	return func(f *pflag.FlagSet) {
		f.Bool("wait", false, wait)
		f.Bool("force", false, "override a deployment in progress")
		f.Duration("timeout", 10*time.Minute, "with --wait, give up after this long")
	}
}

func appPath(id string) string { return "/v2/apps/" + strings.TrimPrefix(id, "/") }

// appArgPath is the path of the app the first argument names, with suffix.
func appArgPath(suffix string) func(args []string) string {
	return func(args []string) string { return appPath(args[0]) + suffix }
}

type deploymentRef struct {
	DeploymentID string `json:"deploymentId"`
	Version      string `json:"version"`
}

func runAppDeploy(cmd *cobra.Command, _ []string) error {
	c := serviceAPI.client(cmd)
	file, _ := cmd.Flags().GetString("file")
	body, id, err := readSpecFile(file, "app")
	if err != nil {
		return err
	}
	force, _ := cmd.Flags().GetBool("force")
	var ref deploymentRef
	if err := c.call(http.MethodPut, appPath(id)+"?partialUpdate=false&force="+strconv.FormatBool(force), body, &ref); err != nil {
		return err
	}
	return afterDeployment(cmd, c, id, ref)
}

// afterDeployment reports a deployment and, with --wait, follows it.
func afterDeployment(cmd *cobra.Command, c restClient, id string, ref deploymentRef) error {
	out := cmd.OutOrStdout()
	fmt.Fprintf(out, "deployment %s of %s started (version %s)\n", ref.DeploymentID, id, ref.Version)
	if wait, _ := cmd.Flags().GetBool("wait"); !wait {
		return nil
	}
	timeout, _ := cmd.Flags().GetDuration("timeout")
	return waitForDeployment(c, out, ref.DeploymentID, time.Now().Add(timeout))
}

// waitForDeployment shows a deployment's progress until it is gone.
func waitForDeployment(c restClient, out io.Writer, id string, deadline time.Time) error {
	p := newProgress(out)
	for {
		var deps []service.DeploymentView
		if err := c.call(http.MethodGet, "/v2/deployments", nil, &deps); err != nil {
			return err
		}
		var d *service.DeploymentView
		for i := range deps {
			if deps[i].ID == id {
				d = &deps[i]
			}
		}
		if d == nil {
			p.end()
			fmt.Fprintf(out, "deployment %s finished\n", id)
			return nil
		}
		p.show(deploymentLine(d))
		if time.Now().After(deadline) {
			p.end()
			return fmt.Errorf("deployment %s still running after the timeout (see `corral app queue`; roll back with DELETE /v2/deployments/%s)", id, id)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func deploymentLine(d *service.DeploymentView) string {
	const width = 30
	p := d.Progress
	n := p["target"]
	filled := width
	if n > 0 {
		filled = min(width, width*p["ready"]/n)
	}
	return gauge(filled, width) + fmt.Sprintf(" %s: %d/%d ready, %d starting, %d old, %d stopping",
		d.CurrentActions[0]["action"], p["ready"], n, p["starting"], p["old"], p["killing"])
}

func runAppScale(cmd *cobra.Command, args []string) error {
	n, err := strconv.Atoi(args[1])
	if err != nil || n < 0 {
		return fmt.Errorf("the instance count must be a whole number, 0 or more; got %q", args[1])
	}
	return startDeployment(cmd, args[0], http.MethodPut, "", []byte(fmt.Sprintf(`{"instances":%d}`, n)))
}

// appDeployment runs a command that starts a deployment of app ID with
// no body: method on the app's path and suffix.
func appDeployment(method, suffix string) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		return startDeployment(cmd, args[0], method, suffix, nil)
	}
}

func startDeployment(cmd *cobra.Command, id, method, suffix string, body []byte) error {
	c := serviceAPI.client(cmd)
	force, _ := cmd.Flags().GetBool("force")
	var ref deploymentRef
	if err := c.call(method, appPath(id)+suffix+"?force="+strconv.FormatBool(force), body, &ref); err != nil {
		return err
	}
	return afterDeployment(cmd, c, id, ref)
}

func appsTable(apps []service.AppView) *table {
	t := newTable("ID", "INSTANCES", "RUNNING", "HEALTHY", "CPUS", "MEM", "DEPLOYING", "IMAGE", "CMD")
	for _, a := range apps {
		healthy := "-"
		if len(a.HealthChecks) > 0 {
			healthy = strconv.Itoa(a.TasksHealthy)
		}
		deploying := "-"
		if len(a.Deployments) > 0 {
			deploying = a.Deployments[0]["id"]
		}
		cmdText := a.Cmd
		if cmdText == "" {
			cmdText = strings.Join(a.Args, " ")
		}
		if len(cmdText) > 40 {
			cmdText = cmdText[:37] + "..."
		}
		image := "-"
		if c := a.Container; c != nil && c.Docker != nil {
			image = c.Docker.Image
		}
		t.add(a.ID, *a.Instances, a.TasksRunning, healthy, trimFloat(a.CPUs), trimFloat(a.Mem), deploying, image, cmdText)
	}
	return t
}

func appTasksTable(tasks []service.TaskView) *table {
	t := newTable("TASK", "HOST", "PORTS", "STATE", "HEALTHY", "VERSION", "STARTED")
	for _, task := range tasks {
		healthy := "-"
		if len(task.HealthCheckResults) > 0 {
			healthy = fmt.Sprint(task.HealthCheckResults[0]["alive"])
		}
		state := task.State
		if task.Killing {
			state += " (killing)"
		}
		if task.Unreachable {
			state += " (unreachable)"
		}
		var ports []string
		for _, p := range task.Ports {
			ports = append(ports, strconv.Itoa(p))
		}
		t.add(task.ID, task.Host, strings.Join(ports, ","), state, healthy, task.Version, task.StartedAt)
	}
	return t
}

func runAppVersions(cmd *cobra.Command, args []string) error {
	var versions []string
	if err := serviceAPI.client(cmd).call(http.MethodGet, appPath(args[0])+"/versions", nil, under("versions", &versions)); err != nil {
		return err
	}
	if jsonOutput(cmd) {
		return printJSON(cmd.OutOrStdout(), versions)
	}
	for _, ver := range versions {
		fmt.Fprintln(cmd.OutOrStdout(), ver)
	}
	return nil
}

// queued is an entry of GET /v2/queue.
type queued struct {
	App   service.AppView `json:"app"`
	Count int             `json:"count"`
	Since string          `json:"since"`
	Why   string          `json:"why"`
}

func queueTable(queue []queued) *table {
	t := newTable("APP", "WAITING", "SINCE", "WHY")
	for _, q := range queue {
		t.add(q.App.ID, q.Count, q.Since, q.Why)
	}
	return t
}

func deploymentsTable(deps []service.DeploymentView) *table {
	t := newTable("DEPLOYMENT", "APP", "ACTION", "PROGRESS")
	for i := range deps {
		d := &deps[i]
		t.add(d.ID, d.AffectedApps[0], d.CurrentActions[0]["action"], deploymentLine(d))
	}
	return t
}
