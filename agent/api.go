package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/agent/containerizer"
	"github.com/corral-sched/corral/agent/statusupdate"
	"github.com/corral-sched/corral/auth"
	corralflags "github.com/corral-sched/corral/internal/flags"
	"github.com/corral-sched/corral/internal/httpbody"
	"github.com/corral-sched/corral/internal/version"
	"github.com/corral-sched/corral/proto/agentapipb"
	"github.com/corral-sched/corral/proto/mesospb"
	"github.com/corral-sched/corral/resources"
)

// serveAPI is POST /api/v1: the Mesos v1 agent operator API, for the
// calls an operator (or the master's UI) needs to look inside an agent.
func (a *Agent) serveAPI(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "Expecting a 'POST' request, received '"+r.Method+"'", http.StatusMethodNotAllowed)
		return
	}
	if isStreamingRequest(r) {
		a.serveAttachInput(w, r) // attach.go: its body is a stream of calls
		return
	}
	call := &agentapipb.Call{}
	in, ok := httpbody.ReadCall(w, r, maxAPICallBytes, call)
	if !ok {
		return
	}
	switch call.GetType() {
	case agentapipb.Call_ATTACH_CONTAINER_OUTPUT:
		a.attachOutput(w, r, call) // a streaming response, negotiated its own way
		return
	case agentapipb.Call_LAUNCH_NESTED_CONTAINER_SESSION:
		a.launchSession(w, r, call)
		return
	}
	out, ok := httpbody.AcceptCodec(w, r, in)
	if !ok {
		return
	}
	var resp *agentapipb.Response
	status, msg := http.StatusOK, ""
	switch call.GetType() {
	case agentapipb.Call_UNKNOWN:
		status, msg = http.StatusBadRequest, "Expecting 'type' to be present and known"
	case agentapipb.Call_GET_HEALTH:
		resp = &agentapipb.Response{Type: agentapipb.Response_GET_HEALTH.Enum(), GetHealth: &agentapipb.Response_GetHealth{Healthy: proto.Bool(true)}}
	case agentapipb.Call_GET_FLAGS:
		resp = a.flagsResponse()
	case agentapipb.Call_GET_VERSION:
		resp = &agentapipb.Response{Type: agentapipb.Response_GET_VERSION.Enum(),
			GetVersion: &agentapipb.Response_GetVersion{VersionInfo: &mesospb.VersionInfo{Version: proto.String(version.Version)}}}
	case agentapipb.Call_LIST_FILES:
		resp, status, msg = a.listFiles(r.Context(), call.GetListFiles().GetPath())
	case agentapipb.Call_READ_FILE:
		resp, status, msg = a.readFile(r.Context(), call.GetReadFile())
	case agentapipb.Call_GET_AGENT, agentapipb.Call_GET_STATE, agentapipb.Call_GET_TASKS,
		agentapipb.Call_GET_FRAMEWORKS, agentapipb.Call_GET_CONTAINERS:
		v := viewer{acls: a.cfg.ACLs, principal: auth.Principal(r.Context())}
		procs := make(map[string]*containerizer.Process)
		if err := a.do(r.Context(), func() { resp = a.stateResponse(call.GetType(), v, procs) }); err != nil {
			status, msg = http.StatusServiceUnavailable, "Agent is not running: "+err.Error()
		} else if call.GetType() == agentapipb.Call_GET_CONTAINERS {
			addUsage(r.Context(), resp.GetGetContainers(), procs)
		}
	case agentapipb.Call_WAIT_NESTED_CONTAINER:
		resp, status, msg = a.waitNested(r.Context(), call)
	case agentapipb.Call_KILL_NESTED_CONTAINER:
		if status, msg = a.killNested(r.Context(), call); status == http.StatusOK {
			w.WriteHeader(http.StatusOK) // Mesos answers it without a body
			return
		}
	case agentapipb.Call_ATTACH_CONTAINER_INPUT:
		status, msg = http.StatusBadRequest, "Expecting ATTACH_CONTAINER_INPUT as a streaming request: 'Content-Type: "+recordIOMediaType+"' and a RecordIO stream of calls"
	default:
		status, msg = http.StatusNotImplemented, fmt.Sprintf("Agent call %v is not implemented", call.GetType())
	}
	if status != http.StatusOK {
		http.Error(w, msg, status)
		return
	}
	httpbody.WriteResponse(w, out, resp)
}

// flagsResponse answers GET_FLAGS: the agent's settings, with its
// isolation expanded to the isolators it runs.
func (a *Agent) flagsResponse() *agentapipb.Response {
	flags := maps.Clone(a.cfg.Flags)
	if flags == nil {
		flags = make(map[string]string)
	}
	flags["isolation"] = a.containers.Isolation().String()
	out := &agentapipb.Response_GetFlags{}
	for _, name := range slices.Sorted(maps.Keys(flags)) {
		out.Flags = append(out.Flags, &mesospb.Flag{Name: proto.String(name), Value: proto.String(corralflags.Redact(name, flags[name]))})
	}
	return &agentapipb.Response{Type: agentapipb.Response_GET_FLAGS.Enum(), GetFlags: out}
}

// stateResponse answers the state calls on the loop, with what v may
// see; procs receives the running containers' processes, by container
// ID, for measuring off the loop.
func (a *Agent) stateResponse(t agentapipb.Call_Type, v viewer, procs map[string]*containerizer.Process) *agentapipb.Response {
	info := proto.CloneOf(a.info)
	if id := a.ID(); id != "" {
		info.Id = &mesospb.AgentID{Value: proto.String(id)}
	}
	tasks := &agentapipb.Response_GetTasks{}
	frameworks := &agentapipb.Response_GetFrameworks{}
	containers := &agentapipb.Response_GetContainers{}
	seen := map[string]bool{}
	for _, key := range sortedTaskKeys(a.tasks) {
		tr := a.tasks[key]
		switch {
		case !v.task(tr):
		case mesospb.IsTerminal(tr.state):
			tasks.TerminatedTasks = append(tasks.TerminatedTasks, tr.report(a.ID()))
		default:
			tasks.LaunchedTasks = append(tasks.LaunchedTasks, tr.report(a.ID()))
		}
		if !seen[key.FrameworkID] && v.framework(tr.framework) {
			seen[key.FrameworkID] = true
			frameworks.Frameworks = append(frameworks.Frameworks, &agentapipb.Response_GetFrameworks_Framework{FrameworkInfo: tr.framework})
		}
		if tr.running() && v.executor(tr) {
			res := resources.Resources(tr.info.GetResources())
			var disk float64
			for _, r := range res {
				if r.GetName() == "disk" && !resources.IsVolume(r) {
					disk += r.GetScalar().GetValue()
				}
			}
			containers.Containers = append(containers.Containers, &agentapipb.Response_GetContainers_Container{
				FrameworkId:  tr.framework.GetId(),
				ExecutorId:   &mesospb.ExecutorID{Value: proto.String(key.TaskID)},
				ExecutorName: proto.String("Command Executor (Task: " + key.TaskID + ")"),
				ContainerId:  &mesospb.ContainerID{Value: proto.String(tr.containerID)},
				ContainerStatus: &mesospb.ContainerStatus{
					ContainerId: &mesospb.ContainerID{Value: proto.String(tr.containerID)},
					ExecutorPid: proto.Uint32(uint32(tr.proc.Pid)),
				},
				ResourceStatistics: &mesospb.ResourceStatistics{
					Timestamp:      proto.Float64(float64(time.Now().UnixNano()) / 1e9),
					CpusLimit:      proto.Float64(res.ScalarValue("cpus")),
					MemLimitBytes:  proto.Uint64(uint64(res.ScalarValue("mem") * (1 << 20))),
					DiskLimitBytes: proto.Uint64(uint64(disk * (1 << 20))),
				},
			})
			procs[tr.containerID] = tr.proc
		}
	}
	resp := &agentapipb.Response{}
	switch t {
	case agentapipb.Call_GET_AGENT:
		resp.Type, resp.GetAgent = agentapipb.Response_GET_AGENT.Enum(), &agentapipb.Response_GetAgent{AgentInfo: info}
	case agentapipb.Call_GET_STATE:
		resp.Type, resp.GetState = agentapipb.Response_GET_STATE.Enum(), &agentapipb.Response_GetState{GetTasks: tasks, GetFrameworks: frameworks}
	case agentapipb.Call_GET_TASKS:
		resp.Type, resp.GetTasks = agentapipb.Response_GET_TASKS.Enum(), tasks
	case agentapipb.Call_GET_FRAMEWORKS:
		resp.Type, resp.GetFrameworks = agentapipb.Response_GET_FRAMEWORKS.Enum(), frameworks
	case agentapipb.Call_GET_CONTAINERS:
		resp.Type, resp.GetContainers = agentapipb.Response_GET_CONTAINERS.Enum(), containers
	}
	return resp
}

// addUsage measures each container through its isolators (off the loop).
func addUsage(ctx context.Context, c *agentapipb.Response_GetContainers, procs map[string]*containerizer.Process) {
	for _, ct := range c.GetContainers() {
		p := procs[ct.GetContainerId().GetValue()]
		if p == nil {
			continue
		}
		u, _ := p.Usage(ctx) // what some isolator could not measure stays unset
		st := ct.ResourceStatistics
		if u.Processes > 0 {
			st.Processes = proto.Uint32(uint32(u.Processes))
		}
		if u.CPUSeconds > 0 {
			st.CpusUserTimeSecs = proto.Float64(u.CPUSeconds)
		}
		if u.MemoryBytes > 0 {
			st.MemRssBytes = proto.Uint64(u.MemoryBytes)
		}
		st.DiskUsedBytes = proto.Uint64(u.DiskBytes)
	}
}

// listFiles and readFile are /files/browse and /files/read in protobuf.
func (a *Agent) listFiles(ctx context.Context, path string) (*agentapipb.Response, int, string) {
	real, info, status, msg := a.resolvePath(ctx, path)
	if status != http.StatusOK {
		return nil, status, msg
	}
	if !info.IsDir() {
		return nil, http.StatusBadRequest, path + " is not a directory"
	}
	entries, err := a.readDir(real)
	if err != nil {
		status, msg := openError("directory", err)
		return nil, status, msg
	}
	out := &agentapipb.Response_ListFiles{}
	for _, e := range entries {
		fi, err := a.entryInfo(real, e)
		if err != nil {
			continue
		}
		pb := &mesospb.FileInfo{Path: proto.String(filepath.Join(filepath.Clean(path), e.Name())), Size: proto.Uint64(uint64(fi.Size())),
			Mtime: &mesospb.TimeInfo{Nanoseconds: proto.Int64(fi.ModTime().UnixNano())}, Mode: proto.Uint32(uint32(fi.Mode()))}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			pb.Nlink = proto.Int32(int32(st.Nlink))
			pb.Uid, pb.Gid = proto.String(strconv.Itoa(int(st.Uid))), proto.String(strconv.Itoa(int(st.Gid)))
		}
		out.FileInfos = append(out.FileInfos, pb)
	}
	return &agentapipb.Response{Type: agentapipb.Response_LIST_FILES.Enum(), ListFiles: out}, http.StatusOK, ""
}

func (a *Agent) readFile(ctx context.Context, rf *agentapipb.Call_ReadFile) (*agentapipb.Response, int, string) {
	real, info, status, msg := a.resolvePath(ctx, rf.GetPath())
	if status != http.StatusOK {
		return nil, status, msg
	}
	if info.IsDir() {
		return nil, http.StatusBadRequest, rf.GetPath() + " is a directory"
	}
	size := uint64(info.Size())
	length := min(rf.GetLength(), uint64(maxReadLength))
	if rf.Length == nil {
		length = maxReadLength
	}
	var data []byte
	if off := rf.GetOffset(); off < size {
		f, err := a.openServable(real)
		if err != nil {
			status, msg := openError("file", err)
			return nil, status, msg
		}
		defer f.Close()
		data = make([]byte, min(length, size-off))
		n, err := f.ReadAt(data, int64(off))
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, http.StatusInternalServerError, "Cannot read the file: " + err.Error()
		}
		data = data[:n]
	}
	return &agentapipb.Response{Type: agentapipb.Response_READ_FILE.Enum(),
		ReadFile: &agentapipb.Response_ReadFile{Size: proto.Uint64(size), Data: data}}, http.StatusOK, ""
}

// resolvePath checks a requested path (of the /files endpoints or the v1
// API) and returns it with symlinks resolved, or the status and message
// that refuse it.
func (a *Agent) resolvePath(ctx context.Context, p string) (string, os.FileInfo, int, string) {
	if p == "" || !filepath.IsAbs(p) {
		return "", nil, http.StatusBadRequest, "Expecting 'path' to be an absolute path on the agent"
	}
	p = a.hostPath(p)
	if !a.servable(filepath.Clean(p), false) {
		return "", nil, http.StatusForbidden, "Access to " + p + " is not allowed: only sandboxes and volumes are served"
	}
	if status, msg := a.authorizeSandbox(ctx, filepath.Clean(p)); status != http.StatusOK {
		return "", nil, status, msg
	}
	real, err := filepath.EvalSymlinks(filepath.Clean(p))
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil, http.StatusNotFound, "No such file or directory: " + p
	}
	if err != nil {
		return "", nil, http.StatusBadRequest, "Cannot resolve " + p + ": " + err.Error()
	}
	if !a.servable(real, true) {
		return "", nil, http.StatusForbidden, "Access to " + p + " is not allowed: only sandboxes and volumes are served"
	}
	if status, msg := a.authorizeLink(ctx, filepath.Clean(p), real); status != http.StatusOK {
		return "", nil, status, msg
	}
	info, err := os.Stat(real)
	if err != nil {
		return "", nil, http.StatusNotFound, "Cannot stat " + p
	}
	if !info.Mode().IsRegular() && !info.IsDir() {
		return "", nil, http.StatusForbidden, "Access to " + p + " is not allowed: " + errNotRegular.Error()
	}
	return real, info, http.StatusOK, ""
}

func sortedTaskKeys[V any](m map[statusupdate.Key]V) []statusupdate.Key {
	keys := make([]statusupdate.Key, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(x, y statusupdate.Key) int {
		if c := strings.Compare(x.FrameworkID, y.FrameworkID); c != 0 {
			return c
		}
		return strings.Compare(x.TaskID, y.TaskID)
	})
	return keys
}
