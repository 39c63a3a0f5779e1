package pets

import (
	"context"
	"net"
	"net/http"
	"strconv"
	"time"
)

// HTTP and TCP readiness checks are made by the framework (as Marathon
// does), against the pet's host and port: readiness gates the order of
// launches and rolling updates, which the framework owns.

// startProbe polls a running pet's readiness check until it passes, the
// task changes, or the framework stops.
func (f *Framework) startProbe(p *Pet, rc ReadinessCheck) {
	id := p.TaskID
	if f.probes[id] != nil || p.Placement == nil {
		return
	}
	i := checkPort(rc.PortName, rc.PortIndex, f.sets[p.Set].specAt(p.Revision).Ports)
	if i < 0 || i >= len(p.Placement.Ports) {
		return
	}
	addr := net.JoinHostPort(p.Placement.Hostname, strconv.FormatUint(p.Placement.Ports[i], 10))
	ctx, cancel := context.WithCancel(f.ctx)
	f.probes[id] = cancel
	go f.probe(ctx, p.Name, id, addr, rc)
}

func (f *Framework) stopProbe(taskID string) {
	if cancel := f.probes[taskID]; cancel != nil {
		cancel()
		delete(f.probes, taskID)
	}
}

func (f *Framework) probe(ctx context.Context, name, taskID, addr string, rc ReadinessCheck) {
	interval := time.Duration(rc.IntervalSeconds * float64(time.Second))
	for {
		if f.probeOnce(ctx, addr, rc) {
			f.mu.Lock()
			if p := f.pets[name]; p != nil && p.TaskID == taskID && p.running() && !p.Ready {
				f.markReady(p, f.cfg.Now())
			}
			delete(f.probes, taskID)
			f.mu.Unlock()
			f.poke()
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(interval):
		}
	}
}

func (f *Framework) probeOnce(ctx context.Context, addr string, rc ReadinessCheck) bool {
	ctx, cancel := context.WithTimeout(ctx, time.Duration(rc.TimeoutSeconds*float64(time.Second)))
	defer cancel()
	if rc.Protocol == "TCP" {
		c, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
		if err != nil {
			return false
		}
		c.Close()
		return true
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+rc.Path, nil)
	if err != nil {
		return false
	}
	resp, err := f.cfg.HTTPClient.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode >= 200 && resp.StatusCode < 300
}
