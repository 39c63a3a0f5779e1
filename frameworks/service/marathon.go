package service

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/corral-sched/corral/frameworks/kit"
	"github.com/corral-sched/corral/internal/version"
)

// The parts of Marathon's API that clients such as go-marathon call
// besides apps: the leader, tasks by ID, the info document and HTTP
// callback subscriptions.

// advertisedHost is host:port clients reach this API at.
func (f *Framework) advertisedHost(r *http.Request) string {
	if u, err := url.Parse(f.cfg.WebUIURL); err == nil && u.Host != "" {
		return u.Host
	}
	return r.Host
}

// leader answers GET /v2/leader: this instance serves the API, so it
// leads (a standby redirects to the leader before the request gets here).
func (f *Framework) leader(w http.ResponseWriter, r *http.Request) {
	kit.WriteJSON(w, http.StatusOK, map[string]string{"leader": f.advertisedHost(r)})
}

// abdicate answers DELETE /v2/leader: under ZooKeeper the instance steps
// down and another takes over (or this one again, if alone); without an
// election there is nothing to abdicate, and Marathon then answers 404.
func (f *Framework) abdicate(w http.ResponseWriter, r *http.Request) {
	if f.cfg.Abdicate == nil || !f.cfg.Abdicate() {
		kit.WriteError(w, http.StatusNotFound, "There is no leader election to abdicate from: this instance runs without --zk")
		return
	}
	kit.WriteJSON(w, http.StatusOK, map[string]string{"message": "Leadership abdicated"})
}

// info answers GET /v2/info with the fields Marathon's clients read.
func (f *Framework) info(w http.ResponseWriter, r *http.Request) {
	host := f.advertisedHost(r)
	hostname, portText, _ := net.SplitHostPort(host)
	port, _ := strconv.Atoi(portText)
	httpPort, httpsPort := port, 0
	if strings.HasPrefix(f.cfg.WebUIURL, "https:") {
		httpPort, httpsPort = 0, port
	}
	kit.WriteJSON(w, http.StatusOK, map[string]any{
		"name": f.cfg.Name, "version": version.String(), "buildref": version.GitSHA,
		"frameworkId": f.FrameworkID(), "elected": true, "leader": host,
		"http_config": map[string]any{"http_port": httpPort, "https_port": httpsPort},
		"event_subscriber": map[string]any{
			"type": "http_callback", "http_endpoints": f.callbacks.list(),
		},
		"marathon_config": map[string]any{
			"framework_name": f.cfg.Name, "failover_timeout": f.cfg.FailoverTimeout.Seconds(), "webui_url": f.cfg.WebUIURL,
			"checkpoint": true, "executor": "//cmd", "ha": f.cfg.Abdicate != nil, "hostname": hostname,
			"master": f.cfg.Master, "mesos_role": DefaultRole, "mesos_user": f.cfg.User,
			"reconciliation_interval": f.cfg.ReconcileInterval.Milliseconds(),
		},
		"zookeeper_config": map[string]any{"zk": f.cfg.ZK},
	})
}

// deleteTasks answers POST /v2/tasks/delete {"ids": [...]}: kill tasks of
// any apps; ?scale=true lowers their apps' instance counts (one
// deployment), ?wipe=true forgets them at once so that replacements
// start without waiting for the kills.
func (f *Framework) deleteTasks(w http.ResponseWriter, r *http.Request) {
	scale, err := boolParam(r, "scale", false)
	wipe, err2 := boolParam(r, "wipe", false)
	force, err3 := boolParam(r, "force", false)
	if err = errors.Join(err, err2, err3); err != nil {
		kit.WriteError(w, http.StatusBadRequest, "%v", err)
		return
	}
	if scale && wipe {
		kit.WriteError(w, http.StatusBadRequest, "scale and wipe cannot be used together")
		return
	}
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	var req struct {
		IDs []string `json:"ids"`
	}
	d := json.NewDecoder(bytes.NewReader(body))
	d.DisallowUnknownFields()
	if err := d.Decode(&req); err != nil {
		writeFailure(w, decodeError(err))
		return
	}
	if len(req.IDs) == 0 {
		kit.WriteError(w, http.StatusBadRequest, `say which tasks: {"ids": ["<task id>", ...]}`)
		return
	}
	killed, dep, err := f.KillTaskIDs(r.Context(), req.IDs, scale, wipe, force)
	if err != nil {
		writeFailure(w, err)
		return
	}
	if dep != nil {
		kit.WriteJSON(w, http.StatusOK, map[string]string{"deploymentId": dep.planID(), "version": dep.Version})
		return
	}
	views := make([]TaskView, 0, len(killed))
	for i := range killed {
		views = append(views, taskView(&killed[i]))
	}
	kit.WriteJSON(w, http.StatusOK, map[string]any{"tasks": views})
}

// KillTaskIDs kills tasks by ID, whatever their apps; unknown IDs and
// tasks already being killed are skipped. With scale the apps shrink by
// as many, in one deployment (returned); with wipe the instances are
// forgotten at once.
func (f *Framework) KillTaskIDs(ctx context.Context, ids []string, scale, wipe, force bool) ([]Instance, *Deployment, error) {
	f.mu.Lock()
	now := f.cfg.Now()
	byApp := make(map[string]int)
	var killed []Instance
	for _, id := range ids {
		in := f.instances[id]
		if in == nil || in.killing() || f.apps[in.AppID] == nil {
			continue
		}
		byApp[in.AppID]++
		killed = append(killed, *in)
	}
	var deps []*Deployment
	if scale {
		for _, appID := range sortedKeys(byApp) {
			if err := f.takeOver(appID, force); err != nil {
				f.mu.Unlock()
				return nil, nil, err
			}
		}
		for _, appID := range sortedKeys(byApp) {
			app := *f.apps[appID].Spec
			n := max(0, app.instances()-byApp[appID])
			app.Instances = &n
			d, err := f.deployLocked(&app, false, true, "")
			if err != nil {
				f.mu.Unlock()
				return nil, nil, err
			}
			deps = append(deps, d)
		}
		f.startPlan(deps, now)
	}
	for _, k := range killed {
		in := f.instances[k.ID]
		if wipe {
			f.kill(in, "wiped through the API", now)
			f.forget(in.ID)
			continue
		}
		f.kill(in, "killed through the API", now)
	}
	f.mu.Unlock()
	f.loop.Poke()
	var dep *Deployment
	if len(deps) > 0 {
		dep = deps[0]
	}
	return killed, dep, f.durable.Flush(ctx)
}

// eventSubscriptions serves /v2/eventSubscriptions: GET lists the
// callback URLs, POST and DELETE ?callbackUrl= add and remove one.
func (f *Framework) eventSubscriptions(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet {
		kit.WriteJSON(w, http.StatusOK, map[string]any{"callbackUrls": f.callbacks.list()})
		return
	}
	u := r.URL.Query().Get("callbackUrl")
	if u == "" {
		kit.WriteError(w, http.StatusBadRequest, "say which URL: ?callbackUrl=http://host:port/path")
		return
	}
	if err := checkCallbackURL(u); err != nil {
		kit.WriteError(w, http.StatusUnprocessableEntity, "%v", err)
		return
	}
	var err error
	typ := "subscribe_event"
	switch r.Method {
	case http.MethodPost:
		err = f.Subscribe(r.Context(), u)
	case http.MethodDelete:
		typ = "unsubscribe_event"
		err = f.Unsubscribe(r.Context(), u)
	default:
		kit.WriteError(w, http.StatusMethodNotAllowed, "%s is not supported on /v2/eventSubscriptions", r.Method)
		return
	}
	if err != nil {
		writeFailure(w, err)
		return
	}
	ev := map[string]any{"callbackUrl": u, "clientIp": clientIP(r), "timestamp": f.cfg.Now()}
	f.bus.publish(typ, ev)
	kit.WriteJSON(w, http.StatusOK, ev)
}

// Subscribe registers an HTTP callback; it is durable when this returns.
func (f *Framework) Subscribe(ctx context.Context, u string) error {
	added, err := f.callbacks.add(u)
	if err != nil {
		return &ValidationError{Details: []Violation{{Path: "/callbackUrl", Errors: []string{err.Error()}}}}
	}
	if !added {
		return nil
	}
	f.mu.Lock()
	f.durable.Put(callbackKey(u), []byte(u))
	f.mu.Unlock()
	if err := f.durable.Flush(ctx); err != nil {
		f.callbacks.remove(u)
		return err
	}
	return nil
}

// Unsubscribe removes an HTTP callback.
func (f *Framework) Unsubscribe(ctx context.Context, u string) error {
	if !f.callbacks.remove(u) {
		return fmt.Errorf("callback %s %w", u, ErrNotFound)
	}
	f.mu.Lock()
	f.durable.Delete(callbackKey(u))
	f.mu.Unlock()
	return f.durable.Flush(ctx)
}

func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
