package main

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/corral-sched/corral/proto/masterpb"
	"github.com/corral-sched/corral/resources"
)

// runTop redraws agents' allocation and task counts until interrupted.
func runTop(cmd *cobra.Command, c *operatorClient, _ []string) error {
	interval, _ := cmd.Flags().GetDuration("interval")
	iterations, _ := cmd.Flags().GetInt("iterations")
	if interval <= 0 {
		return errors.New("--interval must be positive")
	}
	out := cmd.OutOrStdout()
	tty := isTerminal(out)
	ctx, stop := untilSignalled(cmd)
	defer stop()
	for i := 1; ; i++ {
		agents, tasks, err := c.getBoth(masterpb.Call_GET_AGENTS, masterpb.Call_GET_TASKS)
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
		perAgent := map[string]int{}
		for _, t := range tasks.GetGetTasks().GetTasks() {
			perAgent[t.GetAgentId().GetValue()]++
		}
		t := newTable("AGENT", "CPUS", "MEM", "DISK", "TASKS")
		for _, a := range agents.GetGetAgents().GetAgents() {
			total, used := resources.Resources(a.GetTotalResources()), resources.Resources(a.GetAllocatedResources())
			t.add(a.GetAgentInfo().GetHostname(), bar(used, total, "cpus"), bar(used, total, "mem"),
				bar(used, total, "disk"), perAgent[a.GetAgentInfo().GetId().GetValue()])
		}
		if err := t.print(out); err != nil {
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
	return gauge(filled, 10) + " " + trimFloat(u) + "/" + trimFloat(t)
}
