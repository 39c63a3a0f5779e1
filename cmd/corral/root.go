package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/corral-sched/corral/internal/version"
)

func newRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "corral",
		Short: "corral: a two-level, resource-offer cluster manager",
		Long: "corral runs tasks on a cluster of machines. A master offers the agents' resources\n" +
			"to frameworks, which decide what runs where, over the Mesos v1 scheduler API.",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	for _, c := range newOperatorCommands() {
		addClusterFlags(c)
		root.AddCommand(c)
	}
	root.AddCommand(newFrameworkCommands()...)
	root.AddCommand(newAppCommand(), newPetsetCommand(), newDNSCommand())
	root.AddCommand(newMasterCommand(), newAgentCommand(), newDevCommand(), newJobCommand(), &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			fmt.Fprintln(cmd.OutOrStdout(), "corral", version.String())
		},
	})
	return root
}
