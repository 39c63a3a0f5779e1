//go:build linux && cgo && corralinit

package main

// The packages corral's binary is made of, for their initialisation: a
// container's init re-executes the binary that made it, so corral's
// agents pay for all of these in every container.
import (
	_ "github.com/corral-sched/corral/agent"
	_ "github.com/corral-sched/corral/auth/acl"
	_ "github.com/corral-sched/corral/dns"
	_ "github.com/corral-sched/corral/election/leader"
	_ "github.com/corral-sched/corral/frameworks/batch"
	_ "github.com/corral-sched/corral/frameworks/pets"
	_ "github.com/corral-sched/corral/frameworks/service"
	_ "github.com/corral-sched/corral/master"
	_ "github.com/corral-sched/corral/master/ha"
	_ "github.com/prometheus/client_golang/prometheus/collectors"
	_ "github.com/spf13/viper"
)
