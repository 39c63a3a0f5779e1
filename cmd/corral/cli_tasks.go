package main

import (
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/corral-sched/corral/proto/masterpb"
	"github.com/corral-sched/corral/proto/mesospb"
	"github.com/corral-sched/corral/resources"
)

// newTasksCommand lists the tasks the leading master knows; --all adds the
// finished ones it remembers (its bounded history), newest first, with
// how each ended.
func newTasksCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "tasks", Short: "List tasks (--all: finished ones too, with why they ended)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			all, _ := cmd.Flags().GetBool("all")
			c, err := newOperatorClient(cmd)
			if err != nil {
				return err
			}
			resp, err := c.call(&masterpb.Call{Type: masterpb.Call_GET_TASKS.Enum()})
			if err != nil {
				return err
			}
			got := resp.GetGetTasks()
			// Tasks on unreachable agents are listed too, as TASK_UNREACHABLE:
			// they may well still run.
			list := slices.Concat(got.GetTasks(), got.GetUnreachableTasks())
			header := "ID\tFRAMEWORK\tAGENT\tSTATE\tCPUS\tMEM\tIP\tIMAGE"
			if all {
				list = append(list, got.GetCompletedTasks()...)
				header += "\tREASON\tMESSAGE"
			}
			var rows [][]string
			for _, t := range list {
				res := resources.Resources(t.GetResources())
				row := []string{t.GetTaskId().GetValue(), t.GetFrameworkId().GetValue(), t.GetAgentId().GetValue(),
					t.GetState().String(), trimFloat(res.ScalarValue("cpus")), trimFloat(res.ScalarValue("mem")), taskIPs(t), taskImage(t)}
				if all {
					reason, msg := ending(t)
					row = append(row, reason, msg)
				}
				rows = append(rows, row)
			}
			return c.show(cmd, resp, header, rows)
		}}
	cmd.Flags().Bool("all", false, "also list finished tasks (the master's history), newest first, with their reason and message")
	return cmd
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
