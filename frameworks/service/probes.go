package service

import (
	"context"
	"net/http"
	"slices"
	"time"
)

// HTTPDoer sends readiness probes.
type HTTPDoer interface {
	Do(*http.Request) (*http.Response, error)
}

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
		if in.Ready || f.probes[in.ID] != nil || !in.healthy(app) {
			continue
		}
		target := app.readinessTarget(in, rc.PortName)
		if target == "" {
			continue // its port (or its address) is not known yet
		}
		pctx, cancel := context.WithCancel(ctx)
		f.probes[in.ID] = cancel
		url := "http://" + target + rc.Path
		go f.probe(pctx, in.ID, url, rc)
	}
}

// probe polls url until it answers with a ready status code, then marks
// the instance ready.
func (f *Framework) probe(ctx context.Context, taskID, url string, rc ReadinessCheck) {
	interval := seconds(*rc.IntervalSeconds)
	for {
		if f.probeOnce(ctx, url, rc) {
			f.mu.Lock()
			if in := f.instances[taskID]; in != nil {
				in.Ready = true
				f.dirtyInst[taskID] = true
				f.bus.publish(corralEvent("instance_ready"), map[string]any{"appId": in.AppID, "taskId": taskID, "timestamp": f.cfg.Now()})
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

func (f *Framework) probeOnce(ctx context.Context, url string, rc ReadinessCheck) bool {
	ctx, cancel := context.WithTimeout(ctx, seconds(*rc.TimeoutSeconds))
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false
	}
	resp, err := f.cfg.HTTPClient.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return slices.Contains(rc.HTTPStatusCodesForReady, resp.StatusCode)
}
