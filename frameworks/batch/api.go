package batch

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/corral-sched/corral/frameworks/kit"
)

// Handler serves the REST API:
//
//	GET/POST       /v1/jobs
//	GET/PUT/DELETE /v1/jobs/{id}
//	POST           /v1/jobs/{id}/trigger
//	GET            /v1/jobs/{id}/runs
//	GET            /v1/jobs/{id}/runs/{run}
//
// and /health and /metrics: the framework's own metrics and gatherer's
// (which may be nil).
func (f *Framework) Handler(gatherer prometheus.Gatherer) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/jobs", f.listJobs)
	mux.HandleFunc("POST /v1/jobs", f.createJob)
	mux.HandleFunc("GET /v1/jobs/{id}", f.getJob)
	mux.HandleFunc("PUT /v1/jobs/{id}", f.putJob)
	mux.HandleFunc("DELETE /v1/jobs/{id}", f.deleteJob)
	mux.HandleFunc("POST /v1/jobs/{id}/trigger", f.trigger)
	mux.HandleFunc("GET /v1/jobs/{id}/runs", f.listRuns)
	mux.HandleFunc("GET /v1/jobs/{id}/runs/{run}", f.getRun)
	api := kit.API{FrameworkID: f.FrameworkID, Metrics: f.metrics(), Gatherer: gatherer, Credentials: f.cfg.APICredentials}
	return api.Handler(mux)
}

// JobView is a job with its schedule's bookkeeping and latest run.
type JobView struct {
	Job
	NextRun string   `json:"nextRun,omitempty"`
	Missed  int      `json:"missedRuns"`
	Skipped int      `json:"skippedRuns"`
	LastRun *RunView `json:"lastRun,omitempty"`
}

func (f *Framework) jobView(js *jobState) JobView {
	v := JobView{Job: js.Spec, Missed: js.Missed, Skipped: js.Skipped}
	if !js.NextRun.IsZero() {
		v.NextRun = js.NextRun.Format("2006-01-02T15:04:05Z07:00")
	}
	if r := f.runs[js.LastRun]; r != nil {
		v.LastRun = r.view(false)
	}
	return v
}

func (f *Framework) listJobs(w http.ResponseWriter, r *http.Request) {
	kit.View(w, &f.mu, func() (any, *kit.Error) { return kit.Sorted(f.jobs, f.jobView), nil })
}

// jobLocked returns the job named in the URL.
func (f *Framework) jobLocked(r *http.Request) (*jobState, *kit.Error) {
	id := r.PathValue("id")
	if js := f.jobs[id]; js != nil {
		return js, nil
	}
	return nil, kit.Errorf(http.StatusNotFound, "job %q does not exist", id)
}

func (f *Framework) getJob(w http.ResponseWriter, r *http.Request) {
	kit.View(w, &f.mu, func() (any, *kit.Error) {
		js, e := f.jobLocked(r)
		if e != nil {
			return nil, e
		}
		return f.jobView(js), nil
	})
}

// readJob decodes and validates a job; unknown fields are errors, so
// that a misspelt setting is not silently ignored.
func readJob(w http.ResponseWriter, r *http.Request) (*Job, bool) {
	body, ok := kit.ReadBody(w, r, "job")
	if !ok {
		return nil, false
	}
	j := &Job{}
	if err := kit.DecodeStrict(body, j); err != nil {
		if errors.Is(err, kit.ErrTrailingData) {
			err = errors.New("trailing data after the job")
		}
		kit.WriteError(w, http.StatusBadRequest, "invalid job JSON: %v", err)
		return nil, false
	}
	if err := j.normalize(); err != nil {
		kit.WriteError(w, http.StatusUnprocessableEntity, "invalid job: %v", err)
		return nil, false
	}
	return j, true
}

// checkDependencies refuses unknown parents and cycles (naming the cycle)
// for job as it would be with spec.
func (f *Framework) checkDependencies(spec *Job) error {
	deps := func(id string) []string {
		if id == spec.ID {
			return spec.DependsOn
		}
		if js := f.jobs[id]; js != nil {
			return js.Spec.DependsOn
		}
		return nil
	}
	for _, p := range spec.DependsOn {
		if p != spec.ID && f.jobs[p] == nil {
			return fmt.Errorf("dependsOn: job %q does not exist", p)
		}
	}
	var path []string
	onPath := map[string]bool{}
	seen := map[string]bool{}
	var visit func(id string) error
	visit = func(id string) error {
		if onPath[id] {
			cycle := append(path[slices.Index(path, id):], id)
			return fmt.Errorf("dependsOn: cycle %s", strings.Join(cycle, " → "))
		}
		if seen[id] {
			return nil
		}
		seen[id], onPath[id] = true, true
		path = append(path, id)
		for _, p := range deps(id) {
			if err := visit(p); err != nil {
				return err
			}
		}
		path = path[:len(path)-1]
		onPath[id] = false
		return nil
	}
	return visit(spec.ID)
}

func (f *Framework) createJob(w http.ResponseWriter, r *http.Request) {
	j, ok := readJob(w, r)
	if !ok {
		return
	}
	kit.Change(w, r, f.durable, http.StatusCreated, func() (any, *kit.Error) {
		if f.jobs[j.ID] != nil {
			return nil, kit.Errorf(http.StatusConflict, "job %q exists; PUT /v1/jobs/%s to change it", j.ID, j.ID)
		}
		if err := f.checkDependencies(j); err != nil {
			return nil, kit.Errorf(http.StatusUnprocessableEntity, "invalid job: %v", err)
		}
		js := &jobState{Spec: *j}
		f.jobs[j.ID] = js
		f.jobRecords.Mark(j.ID)
		return f.jobView(js), nil
	})
}

func (f *Framework) putJob(w http.ResponseWriter, r *http.Request) {
	j, ok := readJob(w, r)
	if !ok {
		return
	}
	if j.ID != r.PathValue("id") {
		kit.WriteError(w, http.StatusBadRequest, "the job's id %q does not match the URL's %q", j.ID, r.PathValue("id"))
		return
	}
	f.mu.Lock()
	if err := f.checkDependencies(j); err != nil {
		f.mu.Unlock()
		kit.WriteError(w, http.StatusUnprocessableEntity, "invalid job: %v", err)
		return
	}
	js := f.jobs[j.ID]
	status := http.StatusOK
	if js == nil {
		js, status = &jobState{}, http.StatusCreated
		f.jobs[j.ID] = js
	}
	if js.Spec.Schedule == nil || j.Schedule == nil || *js.Spec.Schedule != *j.Schedule {
		js.NextRun = time.Time{} // recomputed from the new schedule
	}
	js.Spec = *j // runs in progress keep the spec they started with
	f.jobRecords.Mark(j.ID)
	b := kit.Encode(f.jobView(js))
	f.mu.Unlock()
	kit.CommitRaw(w, r, f.durable, status, b)
}

func (f *Framework) deleteJob(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	f.mu.Lock()
	if _, e := f.jobLocked(r); e != nil {
		f.mu.Unlock()
		e.Write(w)
		return
	}
	for _, other := range sortedKeys(f.jobs) {
		if slices.Contains(f.jobs[other].Spec.DependsOn, id) {
			f.mu.Unlock()
			kit.WriteError(w, http.StatusConflict, "job %q depends on %q; change or delete it first", other, id)
			return
		}
	}
	now := f.cfg.Now()
	for rid, run := range f.runs {
		if run.JobID != id {
			continue
		}
		if run.active() {
			f.finishRun(run, Failed, "job deleted", now)
		}
		delete(f.runs, rid)
		f.runRecords.Remove(rid)
	}
	delete(f.jobs, id)
	f.jobRecords.Remove(id)
	f.mu.Unlock()
	if !kit.Commit(w, r, f.durable) {
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (f *Framework) trigger(w http.ResponseWriter, r *http.Request) {
	kit.Change(w, r, f.durable, http.StatusCreated, func() (any, *kit.Error) {
		js, e := f.jobLocked(r)
		if e != nil {
			return nil, e
		}
		return f.startRun(js, "manual", f.cfg.Now(), time.Time{}).view(false), nil
	})
}

func (f *Framework) listRuns(w http.ResponseWriter, r *http.Request) {
	kit.View(w, &f.mu, func() (any, *kit.Error) {
		js, e := f.jobLocked(r)
		if e != nil {
			return nil, e
		}
		out := []*RunView{}
		for _, run := range f.runs {
			if run.JobID == js.Spec.ID {
				out = append(out, run.view(false))
			}
		}
		slices.SortFunc(out, func(a, b *RunView) int { return b.Number - a.Number })
		return out, nil
	})
}

func (f *Framework) getRun(w http.ResponseWriter, r *http.Request) {
	kit.View(w, &f.mu, func() (any, *kit.Error) {
		run := f.runs[r.PathValue("run")]
		if run == nil || run.JobID != r.PathValue("id") {
			return nil, kit.Errorf(http.StatusNotFound, "job %q has no run %q", r.PathValue("id"), r.PathValue("run"))
		}
		return run.view(true), nil
	})
}
