// Command corral is corral's single binary: the master, the agent, a
// whole local cluster (dev), and the command line client.
package main

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"

	"github.com/corral-sched/corral/agent/containerizer"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "init" {
		// Re-executed by libcontainer as a container's init.
		containerizer.Init()
	}
	stopProfiles, err := startProfiles(os.Getenv("CORRAL_CPUPROFILE"), os.Getenv("CORRAL_MEMPROFILE"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "corral:", err)
		os.Exit(1)
	}
	err = newRootCommand().Execute()
	if perr := stopProfiles(); perr != nil {
		fmt.Fprintln(os.Stderr, "corral:", perr)
	}
	if err != nil {
		var status interface{ ExitCode() int }
		if errors.As(err, &status) {
			os.Exit(status.ExitCode()) // a remote command's (corral exec): its own words were its output
		}
		fmt.Fprintln(os.Stderr, "corral:", err)
		os.Exit(1)
	}
}

// startProfiles profiles the whole process when CORRAL_CPUPROFILE or
// CORRAL_MEMPROFILE name files: the failover benchmark (corral-bench)
// kills masters with SIGKILL, so they must be processes of this binary,
// and this is how the one that takes over is profiled. The heap profile is
// written when the command returns (a master: on SIGTERM).
func startProfiles(cpu, mem string) (stop func() error, err error) {
	var cpuFile *os.File
	if cpu != "" {
		if cpuFile, err = os.Create(cpu); err != nil {
			return nil, fmt.Errorf("CORRAL_CPUPROFILE: %w", err)
		}
		if err := pprof.StartCPUProfile(cpuFile); err != nil {
			cpuFile.Close()
			return nil, fmt.Errorf("CORRAL_CPUPROFILE: %w", err)
		}
	}
	return func() error {
		if cpuFile != nil {
			pprof.StopCPUProfile()
			if err := cpuFile.Close(); err != nil {
				return fmt.Errorf("CORRAL_CPUPROFILE: %w", err)
			}
		}
		if mem == "" {
			return nil
		}
		f, err := os.Create(mem)
		if err != nil {
			return fmt.Errorf("CORRAL_MEMPROFILE: %w", err)
		}
		runtime.GC() // the profile shows what is live, not what was last collected
		if err := pprof.WriteHeapProfile(f); err != nil {
			f.Close()
			return fmt.Errorf("CORRAL_MEMPROFILE: %w", err)
		}
		return f.Close()
	}, nil
}
