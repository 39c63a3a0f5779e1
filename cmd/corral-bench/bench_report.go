package main

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/spf13/cobra"
)

// The scenarios of corral-bench beyond agents and scale: each prints
// one JSON line (what test/bench/report writes into docs/PERFORMANCE.md)
// and then a markdown table for people.
func addBenchScenarios(bench *cobra.Command) {
	bench.AddCommand(newBenchLaunchCommand(), newBenchChurnCommand(), newBenchFailoverCommand())
}

// Agents' resources: simulated agents are large machines, real ones the
// shape `corral dev` gives them.
const (
	simResources   = "cpus:8;mem:16384;disk:100000;ports:[31000-32000]"
	posixResources = "cpus:4;mem:4096;disk:10000;ports:[31000-32000]"
)

func profileFlags(cmd *cobra.Command) {
	cmd.Flags().String("cpuprofile", "", "write a CPU profile to this file (in-process scenarios: the whole process, the master's goroutines labelled component=master)")
	cmd.Flags().String("memprofile", "", "write a heap profile to this file at the end")
}

// startProfiles starts the profiles a command's --cpuprofile and
// --memprofile ask for; the function returned ends them.
func startProfiles(cmd *cobra.Command) (func() error, error) {
	cpu, _ := cmd.Flags().GetString("cpuprofile")
	mem, _ := cmd.Flags().GetString("memprofile")
	return profiles(cpu, mem)
}

// report prints a result as one JSON line, a blank line and a markdown
// table.
func report(w io.Writer, result any, table string) error {
	b, err := json.Marshal(result)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n\n%s", b, table)
	return err
}
