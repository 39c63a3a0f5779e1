// Command corral is corral's single binary: the master, the agent, a
// whole local cluster (dev), and the command line client.
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/corral-sched/corral/agent/containerizer"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "init" {
		// Re-executed by libcontainer as a container's init.
		containerizer.Init()
	}
	if err := newRootCommand().Execute(); err != nil {
		var status interface{ ExitCode() int }
		if errors.As(err, &status) {
			os.Exit(status.ExitCode()) // a remote command's (corral exec): its own words were its output
		}
		fmt.Fprintln(os.Stderr, "corral:", err)
		os.Exit(1)
	}
}
