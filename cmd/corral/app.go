package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/corral-sched/corral/frameworks/service"
)

// The app commands are a client of the service framework's REST API.
func newAppCommand() *cobra.Command {
	cmd := newFrameworkClientCommand("app", "Deploy, scale and inspect long-running apps (talks to corral service)",
		"service", "http://127.0.0.1:8080", "the service framework", true)
	deploy := &cobra.Command{
		Use:   "deploy -f FILE",
		Short: "Create or update an app from a Marathon app definition (JSON or YAML)",
		Args:  cobra.NoArgs,
		RunE:  runAppDeploy,
	}
	deploy.Flags().StringP("file", "f", "", "app definition (JSON or YAML)")
	deploy.Flags().Bool("wait", false, "wait for the deployment to finish, showing its progress")
	deploy.Flags().Bool("force", false, "override a deployment in progress")
	deploy.Flags().Duration("timeout", 10*time.Minute, "with --wait, give up after this long")
	_ = deploy.MarkFlagRequired("file")
	scale := &cobra.Command{Use: "scale ID N", Short: "Change an app's instance count", Args: cobra.ExactArgs(2), RunE: runAppScale}
	restart := &cobra.Command{Use: "restart ID", Short: "Replace every instance, within the upgrade strategy", Args: cobra.ExactArgs(1), RunE: runAppRestart}
	rm := &cobra.Command{Use: "rm ID", Short: "Delete an app, killing its instances", Args: cobra.ExactArgs(1), RunE: runAppRemove}
	for _, c := range []*cobra.Command{scale, restart, rm} {
		addDeploymentFlags(c)
	}
	cmd.AddCommand(deploy, scale, restart, rm,
		&cobra.Command{Use: "ls", Short: "List apps", Args: cobra.NoArgs, RunE: runAppList},
		&cobra.Command{Use: "show ID", Short: "Show an app with its tasks", Args: cobra.ExactArgs(1), RunE: runAppShow},
		&cobra.Command{Use: "tasks ID", Short: "List an app's tasks", Args: cobra.ExactArgs(1), RunE: runAppTasks},
		&cobra.Command{Use: "versions ID", Short: "List an app's versions", Args: cobra.ExactArgs(1), RunE: runAppVersions},
		&cobra.Command{Use: "queue", Short: "Show instances waiting to be placed, and why", Args: cobra.NoArgs, RunE: runAppQueue},
		&cobra.Command{Use: "deployments", Short: "List deployments in progress", Args: cobra.NoArgs, RunE: runAppDeployments},
	)
	cmd.AddCommand(newAppGroupCommands()...)
	return cmd
}

// addDeploymentFlags adds what every command that starts a deployment takes.
func addDeploymentFlags(c *cobra.Command) {
	c.Flags().Bool("wait", false, "wait for the deployment to finish")
	c.Flags().Bool("force", false, "override a deployment in progress")
	c.Flags().Duration("timeout", 10*time.Minute, "with --wait, give up after this long")
}

func newServiceClient(cmd *cobra.Command) restClient {
	return newRESTClient(cmd, "service", "CORRAL_SERVICE", "the service framework", "corral service")
}

func appPath(id string) string { return "/v2/apps/" + strings.TrimPrefix(id, "/") }

func jsonOutput(cmd *cobra.Command) bool {
	o, _ := cmd.Flags().GetString("output")
	return o == "json"
}

// printJSON prints v indented.
func printJSON(w io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(w, string(b))
	return err
}

type deploymentRef struct {
	DeploymentID string `json:"deploymentId"`
	Version      string `json:"version"`
}

func runAppDeploy(cmd *cobra.Command, _ []string) error {
	c := newServiceClient(cmd)
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
	return waitForDeployment(c, out, ref.DeploymentID, isTerminal(out), time.Now().Add(timeout))
}

// waitForDeployment shows a deployment's progress until it is gone: a
// redrawn bar on a terminal, a line per change otherwise.
func waitForDeployment(c restClient, out io.Writer, id string, tty bool, deadline time.Time) error {
	last := ""
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
			if tty {
				fmt.Fprintln(out)
			}
			fmt.Fprintf(out, "deployment %s finished\n", id)
			return nil
		}
		line := deploymentLine(d)
		if line != last {
			if tty {
				fmt.Fprintf(out, "\r\033[K%s", line)
			} else {
				fmt.Fprintln(out, line)
			}
			last = line
		}
		if time.Now().After(deadline) {
			if tty {
				fmt.Fprintln(out)
			}
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
	return fmt.Sprintf("[%s%s] %s: %d/%d ready, %d starting, %d old, %d stopping",
		strings.Repeat("#", filled), strings.Repeat(".", width-filled), d.CurrentActions[0]["action"],
		p["ready"], n, p["starting"], p["old"], p["killing"])
}

func runAppScale(cmd *cobra.Command, args []string) error {
	n, err := strconv.Atoi(args[1])
	if err != nil || n < 0 {
		return fmt.Errorf("the instance count must be a whole number, 0 or more; got %q", args[1])
	}
	return simpleDeployment(cmd, args[0], http.MethodPut, "", []byte(fmt.Sprintf(`{"instances":%d}`, n)))
}

func runAppRestart(cmd *cobra.Command, args []string) error {
	return simpleDeployment(cmd, args[0], http.MethodPost, "/restart", nil)
}

func runAppRemove(cmd *cobra.Command, args []string) error {
	return simpleDeployment(cmd, args[0], http.MethodDelete, "", nil)
}

func simpleDeployment(cmd *cobra.Command, id, method, suffix string, body []byte) error {
	c := newServiceClient(cmd)
	force, _ := cmd.Flags().GetBool("force")
	var ref deploymentRef
	if err := c.call(method, appPath(id)+suffix+"?force="+strconv.FormatBool(force), body, &ref); err != nil {
		return err
	}
	return afterDeployment(cmd, c, id, ref)
}

func runAppList(cmd *cobra.Command, _ []string) error {
	var v struct {
		Apps []service.AppView `json:"apps"`
	}
	if err := newServiceClient(cmd).call(http.MethodGet, "/v2/apps", nil, &v); err != nil {
		return err
	}
	if jsonOutput(cmd) {
		return printJSON(cmd.OutOrStdout(), v.Apps)
	}
	tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tINSTANCES\tRUNNING\tHEALTHY\tCPUS\tMEM\tDEPLOYING\tIMAGE\tCMD")
	for _, a := range v.Apps {
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
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\t%s\t%s\t%s\t%s\n", a.ID, *a.Instances, a.TasksRunning, healthy,
			trimFloat(a.CPUs), trimFloat(a.Mem), deploying, image, cmdText)
	}
	return tw.Flush()
}

func runAppShow(cmd *cobra.Command, args []string) error {
	var v struct {
		App json.RawMessage `json:"app"`
	}
	if err := newServiceClient(cmd).call(http.MethodGet, appPath(args[0]), nil, &v); err != nil {
		return err
	}
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, v.App, "", "  "); err != nil {
		return err
	}
	fmt.Fprintln(cmd.OutOrStdout(), pretty.String())
	return nil
}

func runAppTasks(cmd *cobra.Command, args []string) error {
	var v struct {
		Tasks []service.TaskView `json:"tasks"`
	}
	if err := newServiceClient(cmd).call(http.MethodGet, appPath(args[0])+"/tasks", nil, &v); err != nil {
		return err
	}
	if jsonOutput(cmd) {
		return printJSON(cmd.OutOrStdout(), v.Tasks)
	}
	tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TASK\tHOST\tPORTS\tSTATE\tHEALTHY\tVERSION\tSTARTED")
	for _, t := range v.Tasks {
		healthy := "-"
		if len(t.HealthCheckResults) > 0 {
			healthy = fmt.Sprint(t.HealthCheckResults[0]["alive"])
		}
		state := t.State
		if t.Killing {
			state += " (killing)"
		}
		if t.Unreachable {
			state += " (unreachable)"
		}
		var ports []string
		for _, p := range t.Ports {
			ports = append(ports, strconv.Itoa(p))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, t.Host, strings.Join(ports, ","), state, healthy, t.Version, t.StartedAt)
	}
	return tw.Flush()
}

func runAppVersions(cmd *cobra.Command, args []string) error {
	var v struct {
		Versions []string `json:"versions"`
	}
	if err := newServiceClient(cmd).call(http.MethodGet, appPath(args[0])+"/versions", nil, &v); err != nil {
		return err
	}
	if jsonOutput(cmd) {
		return printJSON(cmd.OutOrStdout(), v.Versions)
	}
	for _, ver := range v.Versions {
		fmt.Fprintln(cmd.OutOrStdout(), ver)
	}
	return nil
}

func runAppQueue(cmd *cobra.Command, _ []string) error {
	var v struct {
		Queue []struct {
			App   service.AppView `json:"app"`
			Count int             `json:"count"`
			Since string          `json:"since"`
			Why   string          `json:"why"`
		} `json:"queue"`
	}
	if err := newServiceClient(cmd).call(http.MethodGet, "/v2/queue", nil, &v); err != nil {
		return err
	}
	if jsonOutput(cmd) {
		return printJSON(cmd.OutOrStdout(), v.Queue)
	}
	tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "APP\tWAITING\tSINCE\tWHY")
	for _, q := range v.Queue {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\n", q.App.ID, q.Count, q.Since, q.Why)
	}
	return tw.Flush()
}

func runAppDeployments(cmd *cobra.Command, _ []string) error {
	var deps []service.DeploymentView
	if err := newServiceClient(cmd).call(http.MethodGet, "/v2/deployments", nil, &deps); err != nil {
		return err
	}
	if jsonOutput(cmd) {
		return printJSON(cmd.OutOrStdout(), deps)
	}
	tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "DEPLOYMENT\tAPP\tACTION\tPROGRESS")
	for i := range deps {
		d := &deps[i]
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", d.ID, d.AffectedApps[0], d.CurrentActions[0]["action"], deploymentLine(d))
	}
	return tw.Flush()
}
