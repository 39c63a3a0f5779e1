package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
)

// Groups of apps (Marathon's /v2/groups): `corral app groups` shows the
// tree, `corral app group deploy|scale|rm` change a whole group.

func newAppGroupCommands() []*cobra.Command {
	groups := &cobra.Command{Use: "groups [ID]", Short: "Show app groups as a tree, with their apps and dependencies",
		Args: cobra.MaximumNArgs(1), RunE: runAppGroups}
	group := &cobra.Command{Use: "group", Short: "Deploy, scale or delete a whole group of apps"}
	deploy := &cobra.Command{Use: "deploy -f FILE", Short: "Create or replace a group from a Marathon group definition (JSON or YAML); apps it leaves out stop",
		Args: cobra.NoArgs, RunE: runGroupDeploy}
	deploy.Flags().StringP("file", "f", "", "group definition (JSON or YAML)")
	_ = deploy.MarkFlagRequired("file")
	scale := &cobra.Command{Use: "scale ID FACTOR", Short: "Multiply the instances of every app in a group (rounded up)",
		Args: cobra.ExactArgs(2), RunE: runGroupScale}
	rm := &cobra.Command{Use: "rm ID", Short: "Delete a group: its apps stop, dependents first", Args: cobra.ExactArgs(1), RunE: runGroupRemove}
	for _, c := range []*cobra.Command{deploy, scale, rm} {
		addDeploymentFlags(c)
	}
	group.AddCommand(deploy, scale, rm)
	return []*cobra.Command{groups, group}
}

func groupPath(id string) string { return "/v2/groups/" + strings.Trim(id, "/") }

// groupNode is a group as GET /v2/groups answers it.
type groupNode struct {
	ID           string   `json:"id"`
	Dependencies []string `json:"dependencies"`
	Apps         []struct {
		ID           string   `json:"id"`
		Instances    *int     `json:"instances"`
		TasksRunning int      `json:"tasksRunning"`
		Dependencies []string `json:"dependencies"`
	} `json:"apps"`
	Groups []*groupNode `json:"groups"`
}

func runAppGroups(cmd *cobra.Command, args []string) error {
	path := "/v2/groups"
	if len(args) == 1 {
		path = groupPath(args[0])
	}
	var raw json.RawMessage
	if err := newServiceClient(cmd).call(http.MethodGet, path, nil, &raw); err != nil {
		return err
	}
	if jsonOutput(cmd) {
		return printJSON(cmd.OutOrStdout(), raw)
	}
	var root groupNode
	if err := json.Unmarshal(raw, &root); err != nil {
		return fmt.Errorf("reading the groups: %w", err)
	}
	tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tINSTANCES\tRUNNING\tDEPENDS ON")
	printGroup(tw, &root, 0)
	return tw.Flush()
}

// printGroup writes a group, its apps and its groups, indented by depth.
func printGroup(w io.Writer, g *groupNode, depth int) {
	indent := strings.Repeat("  ", depth)
	fmt.Fprintf(w, "%s%s/\t\t\t%s\n", indent, strings.TrimSuffix(g.ID, "/"), strings.Join(g.Dependencies, ","))
	for _, a := range g.Apps {
		n := 0
		if a.Instances != nil {
			n = *a.Instances
		}
		fmt.Fprintf(w, "%s  %s\t%d\t%d\t%s\n", indent, a.ID, n, a.TasksRunning, strings.Join(a.Dependencies, ","))
	}
	for _, sub := range g.Groups {
		printGroup(w, sub, depth+1)
	}
}

func runGroupDeploy(cmd *cobra.Command, _ []string) error {
	file, _ := cmd.Flags().GetString("file")
	body, id, err := readSpecFile(file, "app")
	if err != nil {
		return err
	}
	return groupDeployment(cmd, id, http.MethodPut, body)
}

func runGroupScale(cmd *cobra.Command, args []string) error {
	factor, err := strconv.ParseFloat(args[1], 64)
	if err != nil || factor < 0 {
		return fmt.Errorf("the factor must be a number, 0 or more; got %q", args[1])
	}
	return groupDeployment(cmd, args[0], http.MethodPut, []byte(fmt.Sprintf(`{"scaleBy":%s}`, strconv.FormatFloat(factor, 'f', -1, 64))))
}

func runGroupRemove(cmd *cobra.Command, args []string) error {
	return groupDeployment(cmd, args[0], http.MethodDelete, nil)
}

func groupDeployment(cmd *cobra.Command, id, method string, body []byte) error {
	c := newServiceClient(cmd)
	force, _ := cmd.Flags().GetBool("force")
	var ref deploymentRef
	if err := c.call(method, groupPath(id)+"?force="+strconv.FormatBool(force), body, &ref); err != nil {
		return err
	}
	if ref.DeploymentID == "" {
		fmt.Fprintf(cmd.OutOrStdout(), "group %s recorded (version %s); no app changed\n", id, ref.Version)
		return nil
	}
	return afterDeployment(cmd, c, "group "+id, ref)
}
