package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
)

// Groups of apps (Marathon's /v2/groups): `corral app groups` shows the
// tree, `corral app group deploy|scale|rm` change a whole group.

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
	if err := serviceAPI.client(cmd).call(http.MethodGet, path, nil, &raw); err != nil {
		return err
	}
	if jsonOutput(cmd) {
		return printJSON(cmd.OutOrStdout(), raw)
	}
	var root groupNode
	if err := json.Unmarshal(raw, &root); err != nil {
		return fmt.Errorf("reading the groups: %w", err)
	}
	t := newTable("ID", "INSTANCES", "RUNNING", "DEPENDS ON")
	addGroup(t, &root, 0)
	return t.print(cmd.OutOrStdout())
}

// addGroup adds a group, its apps and its groups, indented by depth.
func addGroup(t *table, g *groupNode, depth int) {
	indent := strings.Repeat("  ", depth)
	t.add(indent+strings.TrimSuffix(g.ID, "/")+"/", "", "", strings.Join(g.Dependencies, ","))
	for _, a := range g.Apps {
		n := 0
		if a.Instances != nil {
			n = *a.Instances
		}
		t.add(indent+"  "+a.ID, n, a.TasksRunning, strings.Join(a.Dependencies, ","))
	}
	for _, sub := range g.Groups {
		addGroup(t, sub, depth+1)
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

func runGroupRemove(cmd *cobra.Command, args []string) error {
	return groupDeployment(cmd, args[0], http.MethodDelete, nil)
}

func runGroupScale(cmd *cobra.Command, args []string) error {
	factor, err := strconv.ParseFloat(args[1], 64)
	if err != nil || factor < 0 {
		return fmt.Errorf("the factor must be a number, 0 or more; got %q", args[1])
	}
	return groupDeployment(cmd, args[0], http.MethodPut, []byte(fmt.Sprintf(`{"scaleBy":%s}`, strconv.FormatFloat(factor, 'f', -1, 64))))
}

func groupDeployment(cmd *cobra.Command, id, method string, body []byte) error {
	c := serviceAPI.client(cmd)
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
