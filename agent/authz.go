package agent

import (
	"context"
	"net/http"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/corral-sched/corral/agent/statusupdate"
	"github.com/corral-sched/corral/auth"
	"github.com/corral-sched/corral/auth/acl"
	"github.com/corral-sched/corral/proto/mesospb"
	"github.com/corral-sched/corral/resources"
)

// Operators are authorized the way Mesos' agent does it with the local
// authorizer: access_sandboxes, whose object is the user the sandbox's
// executor runs as, decides whether a sandbox may be read at all (403
// otherwise); view_frameworks, view_tasks, view_executors and
// view_containers leave out of the state endpoints what the principal may
// not see, rather than refusing the request; get_endpoints guards
// /metrics (Mesos' /metrics/snapshot).

// operators wraps the operator endpoints in authentication when it is on.
func (a *Agent) operators(h http.Handler) http.Handler {
	if !a.cfg.AuthenticateHTTP {
		return h
	}
	return auth.Require(a.cfg.Credentials, "corral", h)
}

// anyOrigin lets the master's web UI, served from another origin, read
// the files endpoints, and see why a request failed (a 401 included).
// Credentials are never sent with it (no Access-Control-Allow-Credentials):
// a page from any origin could otherwise read sandboxes with the
// operator's cached agent credentials.
func anyOrigin(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Access-Control-Allow-Origin", "*")
		h.ServeHTTP(w, r)
	})
}

// runUser is the user a command runs as: its own, else its framework's
// (Mesos' rule for executors and command tasks).
func runUser(cmd *mesospb.CommandInfo, fw *mesospb.FrameworkInfo) string {
	if u := cmd.GetUser(); u != "" {
		return u
	}
	return fw.GetUser()
}

// user is the user t runs as: the object of view_tasks and
// view_executors for it.
func (t *taskRun) user() string {
	if t.exec != nil {
		return runUser(t.exec.info.GetCommand(), t.framework)
	}
	return runUser(t.info.GetCommand(), t.framework)
}

// executorOf names the executor whose sandboxes hold path: the segments
// <agent>/frameworks/<framework>/executors/<executor> under the agents
// root (resolved says whether path and so the root have had their
// symlinks resolved). ok is false outside any one executor's directory.
func (a *Agent) executorOf(path string, resolved bool) (k execKey, ok bool) {
	root, err := filepath.Abs(filepath.Join(a.cfg.WorkDir, "agents"))
	if err != nil {
		return execKey{}, false
	}
	if resolved {
		if root, err = filepath.EvalSymlinks(root); err != nil {
			return execKey{}, false
		}
	}
	rel, err := filepath.Rel(root, path)
	if err != nil {
		return execKey{}, false
	}
	parts := strings.Split(rel, string(filepath.Separator))
	if len(parts) < 5 || parts[1] != "frameworks" || parts[3] != "executors" || parts[0] == ".." {
		return execKey{}, false
	}
	return execKey{framework: parts[2], executor: parts[4]}, true
}

// executorUser is the user executor k runs as, if the agent knows it;
// it runs on the loop.
func (a *Agent) executorUser(k execKey) (string, bool) {
	if e := a.executors[k]; e != nil {
		return runUser(e.info.GetCommand(), e.framework), true
	}
	// A command task's executor is named after the task: no scan.
	if t := a.tasks[statusupdate.Key{FrameworkID: k.framework, TaskID: k.executor}]; t != nil && t.executorID() == k.executor {
		return t.user(), true
	}
	for key, t := range a.tasks { // the default executor of a task group
		if key.FrameworkID == k.framework && t.executorID() == k.executor {
			return t.user(), true
		}
	}
	return "", false
}

// sandboxUser is the access_sandboxes object for path: the user of the
// executor whose sandboxes hold it; for an executor the agent no longer
// tracks (its tasks finished and were acknowledged), the owner of the run
// directory, to which the launcher gave the sandbox when it switched
// users. acl.Any when neither is known, or path is not inside one
// executor's sandboxes (such as a listing of all executors, or a volume
// asked for by its own path): only principals allowed every user's
// sandboxes see those.
func (a *Agent) sandboxUser(ctx context.Context, path string, resolved bool) (string, error) {
	k, ok := a.executorOf(path, resolved)
	if !ok {
		return acl.Any, nil
	}
	var (
		u     string
		known bool
	)
	if err := a.do(ctx, func() { u, known = a.executorUser(k) }); err != nil {
		return "", err
	}
	if known {
		return u, nil
	}
	return ownerOfRun(path), nil
}

// ownerOfRun is the user owning the run directory (…/runs/<id>) that
// holds path, acl.Any if path is not inside one or the owner has no name.
func ownerOfRun(path string) string {
	parts := strings.Split(path, string(filepath.Separator))
	for i := len(parts) - 2; i >= 0; i-- {
		if parts[i] != "runs" {
			continue
		}
		info, err := os.Stat(strings.Join(parts[:i+2], string(filepath.Separator)))
		if err != nil {
			return acl.Any
		}
		st, ok := info.Sys().(*syscall.Stat_t)
		if !ok {
			return acl.Any
		}
		u, err := user.LookupId(strconv.FormatUint(uint64(st.Uid), 10))
		if err != nil {
			return acl.Any
		}
		return u.Username
	}
	return acl.Any
}

// authorizeSandbox checks access_sandboxes for a files request, before
// its path is resolved (so that a refused principal learns nothing of
// what exists). It answers an HTTP status and why.
func (a *Agent) authorizeSandbox(ctx context.Context, path string) (int, string) {
	return a.authorizeSandboxAt(ctx, path, path, false)
}

// authorizeLink checks access_sandboxes once more when links in the
// requested path lead out of its executor's sandboxes: into another
// executor's sandbox, that sandbox's user decides; into a persistent
// volume, the request stands only if the volume is one of the executor's
// own (the agent links those into the sandbox), else it needs
// access_sandboxes for ANY user. So a task cannot expose another user's
// sandbox, or another role's volume, by planting a link.
func (a *Agent) authorizeLink(ctx context.Context, requested, real string) (int, string) {
	if !a.cfg.ACLs.Enforced(acl.AccessSandboxes) {
		return http.StatusOK, ""
	}
	reqKey, inSandbox := a.executorOf(requested, false)
	if realKey, ok := a.executorOf(real, true); ok {
		if realKey != reqKey {
			return a.authorizeSandboxAt(ctx, requested, real, true)
		}
		return http.StatusOK, ""
	}
	own := false
	if inSandbox {
		if err := a.do(ctx, func() { own = a.ownsVolumePath(reqKey, real) }); err != nil {
			return http.StatusServiceUnavailable, "Agent is not running: " + err.Error()
		}
	}
	if own {
		return http.StatusOK, ""
	}
	return a.authorizeUser(ctx, requested, acl.Any)
}

// ownsVolumePath reports whether real (symlinks resolved) lies in one of
// the persistent volumes of executor k or its tasks; it runs on the loop.
func (a *Agent) ownsVolumePath(k execKey, real string) bool {
	var volumes []*mesospb.Resource
	if e := a.executors[k]; e != nil {
		volumes = append(volumes, e.info.GetResources()...)
	}
	for key, t := range a.tasks {
		if key.FrameworkID == k.framework && t.executorID() == k.executor {
			volumes = append(volumes, t.info.GetResources()...)
		}
	}
	for _, v := range volumes {
		if !resources.IsVolume(v) {
			continue
		}
		root, err := filepath.EvalSymlinks(a.volumePath(v))
		if err != nil {
			continue
		}
		if rel, err := filepath.Rel(root, real); err == nil && rel != ".." && !strings.HasPrefix(rel, "../") {
			return true
		}
	}
	return false
}

func (a *Agent) authorizeSandboxAt(ctx context.Context, requested, path string, resolved bool) (int, string) {
	if !a.cfg.ACLs.Enforced(acl.AccessSandboxes) {
		return http.StatusOK, ""
	}
	u, err := a.sandboxUser(ctx, path, resolved)
	if err != nil {
		return http.StatusServiceUnavailable, "Agent is not running: " + err.Error()
	}
	return a.authorizeUser(ctx, requested, u)
}

// authorizeUser asks access_sandboxes for the sandboxes of user u.
func (a *Agent) authorizeUser(ctx context.Context, requested, u string) (int, string) {
	principal := auth.Principal(ctx)
	if a.cfg.ACLs.Allowed(principal, acl.AccessSandboxes, u) {
		return http.StatusOK, ""
	}
	who := "Principal '" + principal + "'"
	if principal == "" {
		who = "An unauthenticated request"
	}
	if u == acl.Any {
		return http.StatusForbidden, who + " is not authorized to access " + requested + ": access_sandboxes for any user is needed"
	}
	return http.StatusForbidden, who + " is not authorized to access the sandboxes of user '" + u + "'"
}

// viewer filters state by the view_* actions for a principal; it runs on
// the loop.
type viewer struct {
	acls      *acl.ACLs
	principal string
}

func (v viewer) framework(fw *mesospb.FrameworkInfo) bool {
	return v.acls.Allowed(v.principal, acl.ViewFrameworks, fw.GetUser())
}

func (v viewer) task(t *taskRun) bool {
	return v.acls.Allowed(v.principal, acl.ViewTasks, t.user())
}

// executor decides whether t's container is listed (GET_CONTAINERS). Mesos
// asks view_containers there; view_executors guarded it here first, so
// both must allow it.
func (v viewer) executor(t *taskRun) bool {
	return v.acls.Allowed(v.principal, acl.ViewExecutors, t.user()) && v.acls.Allowed(v.principal, acl.ViewContainers, t.user())
}
