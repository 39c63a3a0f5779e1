// Command corral-bench measures a corral master under load: simulated
// agents registering at scale, task launch and churn, and leader failover
// under ZooKeeper. It is kept out of the corral binary, which ships, so
// that its test harnesses (a ZooKeeper launcher) do not.
package main

import (
	"fmt"
	"os"

	"github.com/corral-sched/corral/agent/containerizer"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "init" {
		// Re-executed by libcontainer as a container's init: the launch
		// benchmark runs real agents in this process.
		containerizer.Init()
	}
	if err := newRootCommand().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "corral-bench:", err)
		os.Exit(1)
	}
}
