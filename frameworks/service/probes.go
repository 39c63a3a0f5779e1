package service

import (
	"context"
	"net/http"
	"slices"
	"time"

	"github.com/corral-sched/corral/frameworks/kit"
)

// HTTPDoer sends readiness probes and event callbacks.
type HTTPDoer = kit.HTTPDoer

func defaultProbeClient() HTTPDoer {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
}

// ensureProbes starts a readiness prober for every healthy instance of the
// current runtime that is not ready yet. Readiness is checked by the
// framework (as Marathon does), not the agent: it gates deployments.
func (f *Framework) ensureProbes(ctx context.Context, as *appState, cur []*Instance) {
	app := as.Spec
	if len(app.ReadinessChecks) == 0 {
		return
	}
	rc := app.ReadinessChecks[0]
	for _, in := range cur {
		if in.Ready || f.probes.Running(in.ID) || !in.healthy(app) {
			continue
		}
		target := app.readinessTarget(in, rc.PortName)
		if target == "" {
			continue // its port (or its address) is not known yet
		}
		f.probe(ctx, in.ID, "http://"+target+rc.Path, rc)
	}
}

// probe polls url until it answers with a ready status code, then marks
// the instance ready.
func (f *Framework) probe(ctx context.Context, taskID, url string, rc ReadinessCheck) {
	check := func(ctx context.Context) bool {
		return kit.HTTPReady(ctx, f.cfg.HTTPClient, url, seconds(*rc.TimeoutSeconds), func(code int) bool {
			return slices.Contains(rc.HTTPStatusCodesForReady, code)
		})
	}
	f.probes.Start(ctx, taskID, seconds(*rc.IntervalSeconds), check, func() {
		if in := f.instances[taskID]; in != nil {
			in.Ready = true
			f.instanceRecords.Mark(taskID)
			f.bus.publish(corralEvent("instance_ready"), map[string]any{"appId": in.AppID, "taskId": taskID, "timestamp": f.cfg.Now()})
		}
	})
}
