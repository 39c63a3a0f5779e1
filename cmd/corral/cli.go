package main

import (
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/corral-sched/corral/proto/masterpb"
)

// The operator commands are clients of the master's operator API
// (POST /api/v1), like the web UI: nothing private. This is their table;
// what each does is in the file of its subject (cli_agents.go,
// cli_roles.go, cli_tasks.go, cli_top.go, maintenance.go, exec.go).
func newOperatorCommands() []*cobra.Command {
	roleFlag := func(f *pflag.FlagSet) { f.String("role", "", "the role the resources are (to be) reserved for") }
	return commands(
		cmdSpec{use: "agents", short: "List agents and their resources", args: cobra.NoArgs, run: listing(masterpb.Call_GET_AGENTS, agentsTable)},
		cmdSpec{use: "volumes", short: "List persistent volumes", args: cobra.NoArgs, run: listing(masterpb.Call_GET_AGENTS, volumesTable)},
		cmdSpec{use: "reserve AGENT RESOURCES --role ROLE", short: "Reserve an agent's resources for a role (AGENT: ID or hostname)",
			args: cobra.ExactArgs(2), run: withOperator(reservation(true)), flags: roleFlag, required: []string{"role"}},
		cmdSpec{use: "unreserve AGENT RESOURCES --role ROLE", short: "Give reserved resources back to the pool",
			args: cobra.ExactArgs(2), run: withOperator(reservation(false)), flags: roleFlag, required: []string{"role"}},
		cmdSpec{use: "frameworks", short: "List frameworks", args: cobra.NoArgs, run: listing(masterpb.Call_GET_FRAMEWORKS, frameworksTable)},
		cmdSpec{use: "roles", short: "List roles with their weights and holdings", args: cobra.NoArgs, run: listing(masterpb.Call_GET_ROLES, rolesTable)},
		cmdSpec{use: "weights", short: "Show role weights", args: cobra.NoArgs, run: listing(masterpb.Call_GET_WEIGHTS, weightsTable),
			subs: []cmdSpec{{use: "set ROLE=WEIGHT...", short: "Set role weights", args: cobra.MinimumNArgs(1), run: sending(weightsCall)}}},
		cmdSpec{use: "quota", short: "Show role quotas", args: cobra.NoArgs, run: listing(masterpb.Call_GET_QUOTA, quotaTable),
			subs: []cmdSpec{
				{use: "set ROLE", short: "Set a role's quota (replacing it)", args: cobra.ExactArgs(1), run: sending(quotaCall),
					flags: func(f *pflag.FlagSet) {
						f.String("guarantee", "", `guaranteed resources, e.g. "cpus:4;mem:8192"`)
						f.String("limit", "", `resource limits, e.g. "cpus:8"`)
					}},
				{use: "rm ROLE", short: "Remove a role's quota", args: cobra.ExactArgs(1), run: sending(removeQuotaCall)},
			}},
		cmdSpec{use: "tasks", short: "List tasks (--all: finished ones too, with why they ended)", args: cobra.NoArgs,
			run: listing(masterpb.Call_GET_TASKS, tasksTable), flags: func(f *pflag.FlagSet) {
				f.Bool("all", false, "also list finished tasks (the master's history), newest first, with their reason and message")
			}},
		cmdSpec{use: "logs TASK", short: "Print a task's stdout (or --stderr); -f follows it", args: cobra.ExactArgs(1),
			run: withOperator(runLogs), flags: func(f *pflag.FlagSet) {
				f.BoolP("follow", "f", false, "keep printing what the task writes")
				f.Bool("stderr", false, "stderr instead of stdout")
			}},
		cmdSpec{use: "top", short: "A live view of agents' allocation and the cluster's tasks", args: cobra.NoArgs,
			run: withOperator(runTop), flags: func(f *pflag.FlagSet) {
				f.Duration("interval", 2*time.Second, "refresh interval")
				f.IntP("iterations", "n", 0, "stop after this many refreshes (0: until interrupted)")
			}},
		cmdSpec{use: "maintenance", short: "Show machines draining or down for maintenance", args: cobra.NoArgs,
			run: withOperator(runMaintenanceStatus), subs: []cmdSpec{
				{use: "schedule HOST...", short: "Schedule machines for maintenance (they start draining)", args: cobra.MinimumNArgs(1),
					run: withOperator(runMaintenanceSchedule), flags: func(f *pflag.FlagSet) {
						f.String("start", "", "when the window starts (RFC 3339; default now)")
						f.Duration("duration", time.Hour, "how long the machines are unavailable")
					}},
				{use: "start HOST...", short: "Take scheduled machines down: their agents stop, their tasks are gone", args: cobra.MinimumNArgs(1),
					run: sending(startMaintenanceCall)},
				{use: "stop HOST...", short: "Bring machines back up (and out of the schedule)", args: cobra.MinimumNArgs(1),
					run: sending(stopMaintenanceCall)},
			}},
		// exec and attach: a nested container session on the task's agent,
		// and the task's own stdio, through Mesos' v1 agent API.
		cmdSpec{use: "exec TASK -- COMMAND [ARGS...]", short: "Run a command inside a running task's container",
			long: "Run a command inside a running task's container (its namespaces and root on a linux agent;\n" +
				"on the host with its environment and sandbox on a posix one). Its exit status is corral's.\n" +
				"-i sends stdin, -t gives it a terminal (with -i, an interactive shell: corral exec -it TASK -- sh).",
			args: cobra.MinimumNArgs(2), run: inTask(runExec), flags: func(f *pflag.FlagSet) {
				f.BoolP("stdin", "i", false, "pass stdin to the command")
				f.BoolP("tty", "t", false, "give the command a terminal")
			}},
		cmdSpec{use: "attach TASK", short: "Attach to a running task's output (and, -i, its terminal's input)",
			long: "Attach to a running task's output. A task launched with a terminal (ContainerInfo.tty_info)\n" +
				"also takes input with -i; Ctrl-P Ctrl-Q detaches and leaves it running.",
			args: cobra.ExactArgs(1), run: inTask(runAttach), flags: func(f *pflag.FlagSet) {
				f.BoolP("stdin", "i", false, "pass stdin to the task's terminal")
			}},
	)
}

func addClusterFlags(cmd *cobra.Command) {
	f := cmd.PersistentFlags()
	addMasterClientFlags(f)
	f.StringP("output", "o", "table", "table, json or yaml")
}

// addMasterClientFlags adds how a client finds the leading master and
// calls it.
func addMasterClientFlags(f *pflag.FlagSet) {
	f.String("master", "127.0.0.1:5050", "host:port of a master (a standby redirects to the leader)")
	f.String("zk", "", "ZooKeeper URL to find the leading master (zk://host:port,.../path)")
	addClientFlags(f, "the master")
}
