// Command corral is corral's single binary: the master, the agent, a
// whole local cluster (dev), and the command line client.
package main

import (
	"fmt"
	"os"
)

func main() {
	if err := newRootCommand().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "corral:", err)
		os.Exit(1)
	}
}
