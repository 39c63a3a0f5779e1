package main

import (
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// serverCommands are the long-running subcommands whose flags
// docs/configuration.md documents.
var serverCommands = []string{"master", "agent", "service", "pets", "batch", "dns", "dev"}

// configurationDoc renders docs/configuration.md from the commands' own
// flags, so that the documentation cannot drift from the code.
func configurationDoc(root *cobra.Command) string {
	var b strings.Builder
	b.WriteString(`# Configuring corral

<!-- Generated from the flags by ` + "`go test ./cmd/corral -run TestConfigurationDoc -update`" + `; do not edit. -->

Every server subcommand reads its settings from, in order of precedence:

1. flags (` + "`--work-dir /var/lib/corral`" + `),
2. environment variables ` + "`CORRAL_<FLAG>`" + ` with dashes as underscores
   (` + "`CORRAL_WORK_DIR=/var/lib/corral`" + `),
3. a YAML file given with ` + "`--config`" + ` whose keys are flag names (an unknown
   key is an error, not ignored),
4. the defaults below.

Durations are Go durations (` + "`500ms`, `15s`, `168h`" + `). Example files for each
server are in [examples/config/](../examples/config/).
`)
	for _, name := range serverCommands {
		cmd, _, err := root.Find([]string{name})
		if err != nil || cmd.Name() != name {
			continue
		}
		fmt.Fprintf(&b, "\n## corral %s\n\n%s\n\n| flag | default | meaning |\n|---|---|---|\n", name, cmd.Short)
		var flags []*pflag.Flag
		cmd.Flags().VisitAll(func(f *pflag.Flag) {
			if f.Name != "help" {
				flags = append(flags, f)
			}
		})
		slices.SortStableFunc(flags, func(x, y *pflag.Flag) int { return strings.Compare(x.Name, y.Name) })
		for _, f := range flags {
			fmt.Fprintf(&b, "| `--%s` | %s | %s |\n", f.Name, cell(f.DefValue), cell(f.Usage))
		}
	}
	return b.String()
}

// cell escapes a markdown table cell.
func cell(s string) string {
	if s == "" {
		return ""
	}
	s = strings.ReplaceAll(s, "|", `\|`)
	s = strings.ReplaceAll(s, "\n", " ")
	return s
}
