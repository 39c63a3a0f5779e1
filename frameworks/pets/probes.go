package pets

import (
	"context"
	"net"
	"strconv"
	"time"

	"github.com/corral-sched/corral/frameworks/kit"
)

// HTTP and TCP readiness checks are made by the framework (as Marathon
// does), against the pet's host and port: readiness gates the order of
// launches and rolling updates, which the framework owns.

// startProbe polls a running pet's readiness check until it passes, the
// task changes, or the framework stops.
func (f *Framework) startProbe(p *Pet, rc ReadinessCheck) {
	taskID, name := p.TaskID, p.Name
	if f.probes.Running(taskID) || p.Placement == nil {
		return
	}
	i := checkPort(rc.PortName, rc.PortIndex, f.sets[p.Set].specAt(p.Revision).Ports)
	if i < 0 || i >= len(p.Placement.Ports) {
		return
	}
	addr := net.JoinHostPort(p.Placement.Hostname, strconv.FormatUint(p.Placement.Ports[i], 10))
	timeout := time.Duration(rc.TimeoutSeconds * float64(time.Second))
	check := func(ctx context.Context) bool {
		if rc.Protocol == "TCP" {
			return kit.TCPReady(ctx, addr, timeout)
		}
		return kit.HTTPReady(ctx, f.cfg.HTTPClient, "http://"+addr+rc.Path, timeout, func(code int) bool { return code >= 200 && code < 300 })
	}
	f.probes.Start(f.ctx, taskID, time.Duration(rc.IntervalSeconds*float64(time.Second)), check, func() {
		if p := f.pets[name]; p != nil && p.TaskID == taskID && p.running() && !p.Ready {
			f.markReady(p, f.cfg.Now())
		}
	})
}
