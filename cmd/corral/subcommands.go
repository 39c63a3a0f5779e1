package main

import (
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// cmdSpec is a client command as data: the client commands (app, petset,
// job and the operator commands) are tables of them.
type cmdSpec struct {
	use, short, long string
	args             cobra.PositionalArgs
	// run is nil for a command that only groups its subcommands.
	run func(cmd *cobra.Command, args []string) error
	// file, when set, is the help of the required -f FILE the command
	// reads what it submits from.
	file string
	// flags adds the command's other flags; required names those that
	// must be given.
	flags    func(f *pflag.FlagSet)
	required []string
	subs     []cmdSpec
}

func (c cmdSpec) command() *cobra.Command {
	cmd := &cobra.Command{Use: c.use, Short: c.short, Long: c.long, Args: c.args, RunE: c.run}
	if c.file != "" {
		cmd.Flags().StringP("file", "f", "", c.file)
		_ = cmd.MarkFlagRequired("file")
	}
	if c.flags != nil {
		c.flags(cmd.Flags())
	}
	for _, name := range c.required {
		_ = cmd.MarkFlagRequired(name)
	}
	return addCommands(cmd, c.subs...)
}

// addCommands adds the specs' commands to parent and returns parent.
func addCommands(parent *cobra.Command, specs ...cmdSpec) *cobra.Command {
	for _, c := range specs {
		parent.AddCommand(c.command())
	}
	return parent
}

// commands makes the specs' commands.
func commands(specs ...cmdSpec) []*cobra.Command {
	cmds := make([]*cobra.Command, len(specs))
	for i, c := range specs {
		cmds[i] = c.command()
	}
	return cmds
}
