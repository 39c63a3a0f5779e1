package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/proto/masterpb"
	"github.com/corral-sched/corral/proto/mesospb"
	"github.com/corral-sched/corral/resources"
)

// More operator commands: reservations, volumes, task logs and a live
// view of the cluster.
func newMoreOperatorCommands() []*cobra.Command {
	reserve := &cobra.Command{Use: "reserve AGENT RESOURCES --role ROLE", Short: "Reserve an agent's resources for a role (AGENT: ID or hostname)",
		Args: cobra.ExactArgs(2), RunE: func(cmd *cobra.Command, args []string) error { return runReservation(cmd, args, true) }}
	unreserve := &cobra.Command{Use: "unreserve AGENT RESOURCES --role ROLE", Short: "Give reserved resources back to the pool",
		Args: cobra.ExactArgs(2), RunE: func(cmd *cobra.Command, args []string) error { return runReservation(cmd, args, false) }}
	for _, c := range []*cobra.Command{reserve, unreserve} {
		c.Flags().String("role", "", "the role the resources are (to be) reserved for")
		_ = c.MarkFlagRequired("role")
	}
	volumes := &cobra.Command{Use: "volumes", Short: "List persistent volumes", Args: cobra.NoArgs, RunE: runVolumes}
	logs := &cobra.Command{Use: "logs TASK", Short: "Print a task's stdout (or --stderr); -f follows it", Args: cobra.ExactArgs(1), RunE: runLogs}
	logs.Flags().BoolP("follow", "f", false, "keep printing what the task writes")
	logs.Flags().Bool("stderr", false, "stderr instead of stdout")
	top := &cobra.Command{Use: "top", Short: "A live view of agents' allocation and the cluster's tasks", Args: cobra.NoArgs, RunE: runTop}
	top.Flags().Duration("interval", 2*time.Second, "refresh interval")
	top.Flags().IntP("iterations", "n", 0, "stop after this many refreshes (0: until interrupted)")
	return []*cobra.Command{reserve, unreserve, volumes, logs, top}
}

// findAgent resolves an agent given by ID or hostname.
func findAgent(c *operatorClient, which string) (*masterpb.Response_GetAgents_Agent, error) {
	resp, err := c.call(&masterpb.Call{Type: masterpb.Call_GET_AGENTS.Enum()})
	if err != nil {
		return nil, err
	}
	var found []*masterpb.Response_GetAgents_Agent
	for _, a := range resp.GetGetAgents().GetAgents() {
		if a.GetAgentInfo().GetId().GetValue() == which || a.GetAgentInfo().GetHostname() == which {
			found = append(found, a)
		}
	}
	switch len(found) {
	case 0:
		return nil, fmt.Errorf("no agent with ID or hostname %q (see `corral agents`)", which)
	case 1:
		return found[0], nil
	}
	return nil, fmt.Errorf("%d agents have hostname %q: give the agent ID", len(found), which)
}

func runReservation(cmd *cobra.Command, args []string, reserve bool) error {
	c, err := newOperatorClient(cmd)
	if err != nil {
		return err
	}
	role, _ := cmd.Flags().GetString("role")
	if err := resources.ValidateRole(role); err != nil || role == "*" {
		return fmt.Errorf("--role %q: give a role to reserve for (not \"*\")", role)
	}
	res, err := resources.Parse(args[1], "*")
	if err != nil {
		return fmt.Errorf("resources %q: %w (e.g. 'cpus:2;mem:1024')", args[1], err)
	}
	a, err := findAgent(c, args[0])
	if err != nil {
		return err
	}
	principal, _, _ := clientCredentials(cobraFlags(cmd))
	for _, r := range res {
		info := &mesospb.Resource_ReservationInfo{Type: mesospb.Resource_ReservationInfo_DYNAMIC.Enum(), Role: proto.String(role)}
		if principal != "" {
			info.Principal = proto.String(principal)
		}
		r.Role, r.Reservation = nil, nil
		r.Reservations = []*mesospb.Resource_ReservationInfo{info}
	}
	call := &masterpb.Call{Type: masterpb.Call_RESERVE_RESOURCES.Enum(),
		ReserveResources: &masterpb.Call_ReserveResources{AgentId: a.GetAgentInfo().GetId(), Resources: res}}
	if !reserve {
		call = &masterpb.Call{Type: masterpb.Call_UNRESERVE_RESOURCES.Enum(),
			UnreserveResources: &masterpb.Call_UnreserveResources{AgentId: a.GetAgentInfo().GetId(), Resources: res}}
	}
	if _, err := c.call(call); err != nil {
		return err
	}
	verb := "reserved"
	if !reserve {
		verb = "unreserved"
	}
	fmt.Fprintf(cmd.OutOrStdout(), "%s %s for %s on %s\n", verb, resources.Resources(res).Unallocate(), role, a.GetAgentInfo().GetHostname())
	return nil
}

func runVolumes(cmd *cobra.Command, _ []string) error {
	c, err := newOperatorClient(cmd)
	if err != nil {
		return err
	}
	resp, err := c.call(&masterpb.Call{Type: masterpb.Call_GET_AGENTS.Enum()})
	if err != nil {
		return err
	}
	var rows [][]string
	for _, a := range resp.GetGetAgents().GetAgents() {
		for _, r := range a.GetTotalResources() {
			if !resources.IsVolume(r) {
				continue
			}
			rows = append(rows, []string{a.GetAgentInfo().GetHostname(), resources.ReservedRole(r),
				r.GetDisk().GetPersistence().GetId(), trimFloat(r.GetScalar().GetValue()), r.GetDisk().GetVolume().GetContainerPath(),
				r.GetDisk().GetPersistence().GetPrincipal()})
		}
	}
	return c.show(cmd, resp, "AGENT\tROLE\tID\tSIZE (MB)\tCONTAINER PATH\tPRINCIPAL", rows)
}

// runLogs finds the task's agent and sandbox through the master, then
// reads the file from the agent's /files/read, from the start or, with
// -f, following it as it grows.
func runLogs(cmd *cobra.Command, args []string) error {
	c, err := newOperatorClient(cmd)
	if err != nil {
		return err
	}
	resp, err := c.call(&masterpb.Call{Type: masterpb.Call_GET_TASKS.Enum()})
	if err != nil {
		return err
	}
	tasks := resp.GetGetTasks()
	var task *mesospb.Task
	for _, list := range [][]*mesospb.Task{tasks.GetTasks(), tasks.GetCompletedTasks(), tasks.GetUnreachableTasks()} {
		for _, t := range list {
			if t.GetTaskId().GetValue() == args[0] {
				task = t
			}
		}
	}
	if task == nil {
		return fmt.Errorf("no task %q at the master (see `corral tasks`)", args[0])
	}
	a, err := findAgent(c, task.GetAgentId().GetValue())
	if err != nil {
		return err
	}
	addr := strings.TrimPrefix(a.GetPid(), "agent@")
	executor := task.GetExecutorId().GetValue()
	if executor == "" {
		executor = task.GetTaskId().GetValue() // the command executor's ID is the task's
	}
	file := "stdout"
	if e, _ := cmd.Flags().GetBool("stderr"); e {
		file = "stderr"
	}
	path := fmt.Sprintf("/frameworks/%s/executors/%s/runs/latest/%s", task.GetFrameworkId().GetValue(), executor, file)
	follow, _ := cmd.Flags().GetBool("follow")
	ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	// Agents serve TLS when the master does, with the same CA.
	scheme, _, _ := strings.Cut(c.base, "://")
	offset := 0
	for {
		chunk, err := readAgentFile(ctx, c.http, scheme, addr, path, offset)
		if err != nil {
			return err
		}
		if _, err := io.WriteString(cmd.OutOrStdout(), chunk); err != nil {
			return err
		}
		offset += len(chunk)
		if chunk != "" {
			continue // there may be more right away
		}
		if !follow {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func readAgentFile(ctx context.Context, client *http.Client, scheme, addr, path string, offset int) (string, error) {
	u := fmt.Sprintf("%s://%s/files/read?path=%s&offset=%d", scheme, addr, url.QueryEscape(path), offset)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return "", err
	}
	resp, err := client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return "", nil
		}
		return "", fmt.Errorf("cannot reach the task's agent at %s: %w", addr, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		return "", fmt.Errorf("reading %s from %s: %s: %s", path, addr, resp.Status, strings.TrimSpace(string(b)))
	}
	var v struct {
		Data   string `json:"data"`
		Offset int    `json:"offset"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		return "", fmt.Errorf("reading %s: %w", path, err)
	}
	return v.Data, nil
}

// runTop redraws agents' allocation and task counts until interrupted.
func runTop(cmd *cobra.Command, _ []string) error {
	c, err := newOperatorClient(cmd)
	if err != nil {
		return err
	}
	interval, _ := cmd.Flags().GetDuration("interval")
	iterations, _ := cmd.Flags().GetInt("iterations")
	if interval <= 0 {
		return errors.New("--interval must be positive")
	}
	out := cmd.OutOrStdout()
	tty := isTerminal(out)
	ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	for i := 1; ; i++ {
		agents, err := c.call(&masterpb.Call{Type: masterpb.Call_GET_AGENTS.Enum()})
		if err != nil {
			return err
		}
		tasks, err := c.call(&masterpb.Call{Type: masterpb.Call_GET_TASKS.Enum()})
		if err != nil {
			return err
		}
		if tty {
			fmt.Fprint(out, "\033[H\033[2J")
		}
		byState := map[string]int{}
		for _, t := range tasks.GetGetTasks().GetTasks() {
			byState[t.GetState().String()]++
		}
		var states []string
		for _, s := range slices.Sorted(maps.Keys(byState)) {
			states = append(states, fmt.Sprintf("%s %d", strings.TrimPrefix(s, "TASK_"), byState[s]))
		}
		fmt.Fprintf(out, "corral top  %s  tasks: %s\n\n", time.Now().Format("15:04:05"), strings.Join(states, ", "))
		tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "AGENT\tCPUS\tMEM\tDISK\tTASKS")
		perAgent := map[string]int{}
		for _, t := range tasks.GetGetTasks().GetTasks() {
			perAgent[t.GetAgentId().GetValue()]++
		}
		for _, a := range agents.GetGetAgents().GetAgents() {
			total, used := resources.Resources(a.GetTotalResources()), resources.Resources(a.GetAllocatedResources())
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\n", a.GetAgentInfo().GetHostname(), bar(used, total, "cpus"), bar(used, total, "mem"),
				bar(used, total, "disk"), perAgent[a.GetAgentInfo().GetId().GetValue()])
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		if iterations > 0 && i >= iterations {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(interval):
		}
	}
}

// bar draws "used/total" with a ten-character gauge.
func bar(used, total resources.Resources, name string) string {
	u, t := used.ScalarValue(name), total.ScalarValue(name)
	filled := 0
	if t > 0 {
		filled = min(10, int(10*u/t+0.5))
	}
	return fmt.Sprintf("[%s%s] %s/%s", strings.Repeat("#", filled), strings.Repeat(".", 10-filled), trimFloat(u), trimFloat(t))
}
