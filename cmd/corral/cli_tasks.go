package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/corral-sched/corral/proto/masterpb"
	"github.com/corral-sched/corral/proto/mesospb"
	"github.com/corral-sched/corral/resources"
)

// tasksTable lists the tasks the leading master knows; --all adds the
// finished ones it remembers (its bounded history), newest first, with
// how each ended.
func tasksTable(cmd *cobra.Command, resp *masterpb.Response) *table {
	all, _ := cmd.Flags().GetBool("all")
	got := resp.GetGetTasks()
	// Tasks on unreachable agents are listed too, as TASK_UNREACHABLE:
	// they may well still run.
	list := slices.Concat(got.GetTasks(), got.GetUnreachableTasks())
	t := newTable("ID", "FRAMEWORK", "AGENT", "STATE", "CPUS", "MEM", "IP", "IMAGE")
	if all {
		list = append(list, got.GetCompletedTasks()...)
		t.header = append(t.header, "REASON", "MESSAGE")
	}
	for _, task := range list {
		res := resources.Resources(task.GetResources())
		row := []any{task.GetTaskId().GetValue(), task.GetFrameworkId().GetValue(), task.GetAgentId().GetValue(),
			task.GetState(), trimFloat(res.ScalarValue("cpus")), trimFloat(res.ScalarValue("mem")), taskIPs(task), taskImage(task)}
		if all {
			reason, msg := ending(task)
			row = append(row, reason, msg)
		}
		t.add(row...)
	}
	return t
}

// taskImage names the image a task runs from (mesos.image, or a DOCKER
// container's docker.image), "-" for none.
func taskImage(t *mesospb.Task) string {
	c := t.GetContainer()
	if name := c.GetMesos().GetImage().GetDocker().GetName(); name != "" {
		return name
	}
	if name := c.GetDocker().GetImage(); name != "" {
		return name
	}
	return "-"
}

// ending is how a task ended: its last status' reason and message.
func ending(t *mesospb.Task) (string, string) {
	if !mesospb.IsTerminal(t.GetState()) || len(t.GetStatuses()) == 0 {
		return "", ""
	}
	st := t.GetStatuses()[len(t.GetStatuses())-1]
	reason := ""
	if st.Reason != nil {
		reason = strings.TrimPrefix(st.GetReason().String(), "REASON_")
	}
	msg := strings.Join(strings.Fields(st.GetMessage()), " ") // one line in the table
	if len(msg) > 80 {
		msg = msg[:77] + "..."
	}
	return reason, msg
}

// taskIPs are a task's container addresses on CNI networks, from its
// latest status (container_status.network_infos), or "-" when it has none
// of its own (the host's network).
func taskIPs(t *mesospb.Task) string {
	var ips []string
	if n := len(t.GetStatuses()); n > 0 {
		for _, ni := range t.GetStatuses()[n-1].GetContainerStatus().GetNetworkInfos() {
			for _, ip := range ni.GetIpAddresses() {
				ips = append(ips, ip.GetIpAddress())
			}
		}
	}
	if len(ips) == 0 {
		return "-"
	}
	return strings.Join(ips, ",")
}

// findTask finds a task by ID in the lists it is given (parts of the
// master's GET_TASKS answer); nil if none has it.
func findTask(id string, lists ...[]*mesospb.Task) *mesospb.Task {
	var task *mesospb.Task
	for _, list := range lists {
		for _, t := range list {
			if t.GetTaskId().GetValue() == id {
				task = t // the last listed, as the master lists them
			}
		}
	}
	return task
}

// runLogs finds the task's agent and sandbox through the master, then
// reads the file from the agent's /files/read, from the start or, with
// -f, following it as it grows.
func runLogs(cmd *cobra.Command, c *operatorClient, args []string) error {
	resp, err := c.get(masterpb.Call_GET_TASKS)
	if err != nil {
		return err
	}
	tasks := resp.GetGetTasks()
	task := findTask(args[0], tasks.GetTasks(), tasks.GetCompletedTasks(), tasks.GetUnreachableTasks())
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
	ctx, stop := untilSignalled(cmd)
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
