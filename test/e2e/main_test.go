package e2e

import (
	"os"
	"testing"

	"github.com/corral-sched/corral/agent/containerizer"
)

func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "init" {
		containerizer.Init() // this test binary, re-executed as a linux container's init
	}
	os.Exit(m.Run())
}
