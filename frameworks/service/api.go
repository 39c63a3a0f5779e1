package service

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/corral-sched/corral/frameworks/kit"
)

// maxAppBytes bounds an app submission.
const maxAppBytes = 1 << 20

// Handler serves Marathon's REST API:
//
//	GET/POST       /v2/apps                 (?label=, ?id=, ?cmd=, ?embed=)
//	GET/PUT/DELETE /v2/apps/{id}            (?force=, ?partialUpdate=)
//	POST           /v2/apps/{id}/restart
//	GET/DELETE     /v2/apps/{id}/tasks      (?host=, ?scale=)
//	DELETE         /v2/apps/{id}/tasks/{task}
//	GET            /v2/apps/{id}/versions[/{version}]
//	GET            /v2/tasks
//	GET/DELETE     /v2/deployments[/{id}]   (?force=)
//	POST           /v2/tasks/delete         (?scale=, ?wipe=, ?force=)
//	GET/POST/PUT/DELETE /v2/groups[/{id}]   (?force=)
//	GET            /v2/queue, DELETE /v2/queue/{id}/delay
//	GET            /v2/events               (Server-Sent Events; ?corral_events=true)
//	GET/POST/DELETE /v2/eventSubscriptions  (?callbackUrl=)
//	GET/DELETE     /v2/leader
//	GET            /v2/info, /ping, /health, /metrics
//
// gatherer may be nil; the framework's own metrics are added to it.
func (f *Framework) Handler(gatherer prometheus.Gatherer) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v2/apps", f.listApps)
	mux.HandleFunc("POST /v2/apps", f.createApp)
	mux.HandleFunc("/v2/apps/", f.appRoutes)
	mux.HandleFunc("GET /v2/tasks", f.listTasks)
	mux.HandleFunc("POST /v2/tasks/delete", f.deleteTasks)
	mux.HandleFunc("/v2/groups", f.groupRoutes)
	mux.HandleFunc("/v2/groups/", f.groupRoutes)
	mux.HandleFunc("/v2/eventSubscriptions", f.eventSubscriptions)
	mux.HandleFunc("GET /v2/leader", f.leader)
	mux.HandleFunc("DELETE /v2/leader", f.abdicate)
	mux.HandleFunc("GET /v2/deployments", f.listDeployments)
	mux.HandleFunc("DELETE /v2/deployments/{id}", f.deleteDeployment)
	mux.HandleFunc("GET /v2/queue", f.queue)
	mux.HandleFunc("DELETE /v2/queue/", f.resetDelay)
	mux.HandleFunc("GET /v2/events", f.serveEvents)
	mux.HandleFunc("GET /v2/info", f.info)
	mux.HandleFunc("GET /ping", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, "pong\n")
	})
	api := kit.API{FrameworkID: f.FrameworkID, Metrics: f.metrics(), Gatherer: gatherer,
		Credentials: f.cfg.APICredentials, Open: []string{"/ping"}}
	return api.Handler(mux)
}

// writeFailure maps the framework's errors to Marathon's statuses.
func writeFailure(w http.ResponseWriter, err error) {
	var verr *ValidationError
	var conflict *ConflictError
	switch {
	case errors.As(err, &verr):
		kit.WriteJSON(w, http.StatusUnprocessableEntity, map[string]any{"message": "Object is not valid", "details": verr.Details})
	case errors.As(err, &conflict):
		kit.WriteJSON(w, http.StatusConflict, map[string]any{"message": conflict.Error(), "deployments": []map[string]string{{"id": conflict.DeploymentID}}})
	case errors.Is(err, ErrNotFound):
		kit.WriteError(w, http.StatusNotFound, "%v", strings.TrimSuffix(err.Error(), ": "+ErrNotFound.Error()))
	case errors.Is(err, ErrExists), errors.Is(err, ErrNoRollback):
		kit.WriteError(w, http.StatusConflict, "%v", err)
	default:
		kit.WriteError(w, http.StatusServiceUnavailable, "the change could not be stored (it is retried): %v", err)
	}
}

// boolParam reads ?name=true|false.
func boolParam(r *http.Request, name string, def bool) (bool, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("query parameter %s=%q: want true or false", name, v)
	}
	return b, nil
}

// readBody reads a bounded request body.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		kit.WriteError(w, http.StatusUnsupportedMediaType, "send the app as application/json, not %q", ct)
		return nil, false
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxAppBytes))
	if err != nil {
		kit.WriteError(w, http.StatusRequestEntityTooLarge, "reading the body: %v (at most %d bytes)", err, maxAppBytes)
		return nil, false
	}
	return b, true
}

// deployDecoded deploys an app the request carried, once decoded (err
// says why not) and normalized, and publishes the API's event; a failure
// is answered and reported false.
func (f *Framework) deployDecoded(w http.ResponseWriter, r *http.Request, app *App, err error, create, force bool) (*Deployment, bool) {
	if err == nil {
		err = app.Normalize()
	}
	if err != nil {
		writeFailure(w, err)
		return nil, false
	}
	d, err := f.Deploy(r.Context(), app, create, force)
	if err != nil {
		writeFailure(w, err)
		return nil, false
	}
	f.publishAPIPost(r, app)
	return d, true
}

func (f *Framework) createApp(w http.ResponseWriter, r *http.Request) {
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	app, err := DecodeApp(bytes.NewReader(body))
	d, ok := f.deployDecoded(w, r, app, err, true, false)
	if !ok {
		return
	}
	w.Header().Set("Location", "/v2/apps"+app.ID)
	w.Header().Set("Marathon-Deployment-Id", d.planID())
	f.mu.Lock()
	view := f.appView(f.apps[app.ID], embedAll)
	f.mu.Unlock()
	kit.WriteJSON(w, http.StatusCreated, view)
}

// appRoutes dispatches /v2/apps/{id...}[/restart|/tasks[/{task}]|/versions[/{v}]].
func (f *Framework) appRoutes(w http.ResponseWriter, r *http.Request) {
	rest := strings.TrimPrefix(r.URL.Path, "/v2/apps")
	id, suffix, arg := rest, "", ""
	parts := strings.Split(strings.Trim(rest, "/"), "/")
	for i, p := range parts {
		if i == 0 || (p != "restart" && p != "tasks" && p != "versions") {
			continue
		}
		id, suffix = "/"+strings.Join(parts[:i], "/"), p
		arg = strings.Join(parts[i+1:], "/")
		break
	}
	appID, err := CanonicalID(id)
	if err != nil {
		kit.WriteError(w, http.StatusBadRequest, "app id: %v", err)
		return
	}
	route := r.Method + " " + suffix
	if arg != "" {
		route += "/*"
	}
	switch route {
	case "GET ":
		f.getApp(w, r, appID)
	case "PUT ":
		f.putApp(w, r, appID)
	case "DELETE ":
		f.deployApp(w, r, appID, f.Delete)
	case "POST restart":
		f.deployApp(w, r, appID, f.Restart)
	case "GET tasks":
		f.appTasks(w, r, appID)
	case "DELETE tasks", "DELETE tasks/*":
		f.killTasks(w, r, appID, arg)
	case "GET versions":
		f.appVersions(w, r, appID)
	case "GET versions/*":
		f.appVersion(w, r, appID, arg)
	default:
		kit.WriteError(w, http.StatusMethodNotAllowed, "%s is not supported on %s", r.Method, r.URL.Path)
	}
}

// viewApp answers a view of an app, Marathon's 404 if there is none.
func (f *Framework) viewApp(w http.ResponseWriter, id string, view func(*appState) any) {
	kit.View(w, &f.mu, func() (any, *kit.Error) {
		as := f.apps[id]
		if as == nil {
			return nil, kit.Errorf(http.StatusNotFound, "App '%s' does not exist", id)
		}
		return view(as), nil
	})
}

func (f *Framework) getApp(w http.ResponseWriter, r *http.Request, id string) {
	f.viewApp(w, id, func(as *appState) any { return map[string]any{"app": f.appView(as, embedAll)} })
}

// putApp replaces an app, or creates it. Like Marathon, a PUT is a partial
// update by default: fields left out keep their values (so
// {"instances": 5} scales).
func (f *Framework) putApp(w http.ResponseWriter, r *http.Request, id string) {
	force, err := boolParam(r, "force", false)
	partial, err2 := boolParam(r, "partialUpdate", true)
	if err = errors.Join(err, err2); err != nil {
		kit.WriteError(w, http.StatusBadRequest, "%v", err)
		return
	}
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	f.mu.Lock()
	var current []byte
	if as := f.apps[id]; as != nil && partial {
		cp := *as.Spec
		cp.Version = ""
		current, _ = json.Marshal(cp)
	}
	f.mu.Unlock()
	if current != nil {
		if body, err = mergeJSON(current, body); err != nil {
			writeFailure(w, err)
			return
		}
	}
	app, err := DecodeApp(bytes.NewReader(body))
	if err == nil {
		if app.ID == "" {
			app.ID = id
		}
		if canon, cerr := CanonicalID(app.ID); cerr == nil && canon != id {
			err = &ValidationError{Details: []Violation{{Path: "/id", Errors: []string{fmt.Sprintf("the body's id %s does not match the path's %s", canon, id)}}}}
		}
	}
	d, ok := f.deployDecoded(w, r, app, err, false, force)
	if !ok {
		return
	}
	kit.WriteJSON(w, http.StatusOK, map[string]string{"deploymentId": d.planID(), "version": d.Version})
}

// mergeJSON overlays the top-level fields of patch on base.
func mergeJSON(base, patch []byte) ([]byte, error) {
	var b, p map[string]json.RawMessage
	if err := json.Unmarshal(base, &b); err != nil {
		return nil, err
	}
	if err := json.Unmarshal(patch, &p); err != nil {
		return nil, decodeError(err)
	}
	for k, v := range p {
		b[k] = v
	}
	return json.Marshal(b)
}

// deployApp answers DELETE /v2/apps/{id} (deploy is Delete) and POST
// /v2/apps/{id}/restart (Restart): both take ?force= and answer the
// deployment they started.
func (f *Framework) deployApp(w http.ResponseWriter, r *http.Request, id string, deploy func(context.Context, string, bool) (*Deployment, error)) {
	force, err := boolParam(r, "force", false)
	if err != nil {
		kit.WriteError(w, http.StatusBadRequest, "%v", err)
		return
	}
	d, err := deploy(r.Context(), id, force)
	if err != nil {
		writeFailure(w, err)
		return
	}
	kit.WriteJSON(w, http.StatusOK, map[string]string{"deploymentId": d.planID(), "version": d.Version})
}

func (f *Framework) appTasks(w http.ResponseWriter, r *http.Request, id string) {
	f.viewApp(w, id, func(*appState) any { return map[string]any{"tasks": f.taskViews(id)} })
}

func (f *Framework) listTasks(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var all []TaskView
	for _, id := range f.sortedAppIDs() {
		all = append(all, f.taskViews(id)...)
	}
	if all == nil {
		all = []TaskView{}
	}
	kit.WriteJSON(w, http.StatusOK, map[string]any{"tasks": all})
}

func (f *Framework) killTasks(w http.ResponseWriter, r *http.Request, id, taskID string) {
	scale, err := boolParam(r, "scale", false)
	force, err2 := boolParam(r, "force", false)
	if err = errors.Join(err, err2); err != nil {
		kit.WriteError(w, http.StatusBadRequest, "%v", err)
		return
	}
	host := r.URL.Query().Get("host")
	if taskID == "" && host == "" {
		kit.WriteError(w, http.StatusBadRequest, "say which tasks: DELETE /v2/apps%s/tasks/{taskId} or ?host=", id)
		return
	}
	killed, d, err := f.KillTasks(r.Context(), id, func(in *Instance) bool {
		return (taskID == "" || in.ID == taskID) && (host == "" || host == "*" || in.Host == host)
	}, scale, force)
	if err != nil {
		writeFailure(w, err)
		return
	}
	if taskID != "" && len(killed) == 0 {
		kit.WriteError(w, http.StatusNotFound, "Task '%s' does not exist in app %s (or is already being killed)", taskID, id)
		return
	}
	if d != nil {
		kit.WriteJSON(w, http.StatusOK, map[string]string{"deploymentId": d.planID(), "version": d.Version})
		return
	}
	f.mu.Lock()
	views := make([]TaskView, 0, len(killed))
	for i := range killed {
		views = append(views, taskView(&killed[i]))
	}
	f.mu.Unlock()
	if taskID != "" {
		kit.WriteJSON(w, http.StatusOK, map[string]any{"task": views[0]})
		return
	}
	kit.WriteJSON(w, http.StatusOK, map[string]any{"tasks": views})
}

func (f *Framework) appVersions(w http.ResponseWriter, r *http.Request, id string) {
	f.viewApp(w, id, func(as *appState) any {
		versions := slices.Clone(as.Versions)
		slices.Reverse(versions) // newest first, as Marathon lists them
		return map[string]any{"versions": versions}
	})
}

func (f *Framework) appVersion(w http.ResponseWriter, r *http.Request, id, version string) {
	app, err := f.AppVersion(r.Context(), id, version)
	if err != nil {
		writeFailure(w, err)
		return
	}
	kit.WriteJSON(w, http.StatusOK, app)
}

func (f *Framework) listDeployments(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	views := []DeploymentView{}
	seen := make(map[string]bool)
	for _, d := range f.deployments {
		if id := d.planID(); !seen[id] {
			seen[id] = true
			views = append(views, f.planView(id))
		}
	}
	slices.SortFunc(views, func(a, b DeploymentView) int { return strings.Compare(a.Version, b.Version) })
	kit.WriteJSON(w, http.StatusOK, views)
}

func (f *Framework) deleteDeployment(w http.ResponseWriter, r *http.Request) {
	force, err := boolParam(r, "force", false)
	if err != nil {
		kit.WriteError(w, http.StatusBadRequest, "%v", err)
		return
	}
	d, err := f.Rollback(r.Context(), r.PathValue("id"), force)
	if err != nil {
		writeFailure(w, err)
		return
	}
	if d == nil {
		w.WriteHeader(http.StatusAccepted)
		return
	}
	kit.WriteJSON(w, http.StatusOK, map[string]string{"deploymentId": d.planID(), "version": d.Version})
}

func (f *Framework) resetDelay(w http.ResponseWriter, r *http.Request) {
	rest, ok := strings.CutSuffix(strings.TrimPrefix(r.URL.Path, "/v2/queue"), "/delay")
	if !ok {
		kit.WriteError(w, http.StatusNotFound, "use DELETE /v2/queue/{appId}/delay")
		return
	}
	id, err := CanonicalID(rest)
	if err != nil {
		kit.WriteError(w, http.StatusBadRequest, "app id: %v", err)
		return
	}
	if err := f.ResetDelay(r.Context(), id); err != nil {
		writeFailure(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// publishAPIPost tells subscribers an app was submitted, as Marathon's
// api_post_event does.
func (f *Framework) publishAPIPost(r *http.Request, app *App) {
	f.bus.publish("api_post_event", map[string]any{"clientIp": clientIP(r), "uri": r.URL.Path, "appDefinition": app, "timestamp": f.cfg.Now()})
}
