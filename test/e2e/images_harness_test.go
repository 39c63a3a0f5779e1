package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/corral-sched/corral/internal/testkit"

	"github.com/google/go-containerregistry/pkg/authn"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/agent/containerizer"
	"github.com/corral-sched/corral/frameworks/sdk"
	"github.com/corral-sched/corral/frameworks/service"
	"github.com/corral-sched/corral/images/rootfs"
	"github.com/corral-sched/corral/internal/testkit/imagetest"
	"github.com/corral-sched/corral/internal/testkit/registrytest"
	"github.com/corral-sched/corral/proto/mesospb"
	"github.com/corral-sched/corral/proto/schedulerpb"
	"github.com/corral-sched/corral/resources"
	"github.com/corral-sched/corral/store"
)

// requireImages fails (CI) or skips a test that needs linux containers,
// a registry and busybox-static, naming what is missing.
func requireImages(t *testing.T) {
	t.Helper()
	missing := containerizer.LinuxAvailable()
	if missing == "" {
		missing = registrytest.Available()
	}
	if _, err := os.Stat(imagetest.BusyboxPath); missing == "" && err != nil {
		missing = "busybox-static is not installed (apt-get install busybox-static)"
	}
	if missing == "" {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("image tests need it: %s", missing)
	}
	t.Skip(missing)
}

// imageFramework drives launches step by step: offers by agent, and
// every status update kept per task.
type imageFramework struct {
	s      *sdk.Scheduler
	offers chan *mesospb.Offer

	mu      sync.Mutex
	updates map[string][]*mesospb.TaskStatus // guarded by mu
}

func startImageFramework(t *testing.T, master string) *imageFramework {
	t.Helper()
	f := &imageFramework{offers: make(chan *mesospb.Offer), updates: map[string][]*mesospb.TaskStatus{}}
	info := &mesospb.FrameworkInfo{User: proto.String("root"), Name: proto.String("images"),
		Role: proto.String("db"), Principal: proto.String("db-principal")}
	s, err := sdk.New(sdk.Config{Master: master, Framework: info, Logger: slog.New(slog.DiscardHandler)},
		sdk.HandlerFunc(func(ctx context.Context, ev *schedulerpb.Event) error {
			for _, o := range ev.GetOffers().GetOffers() {
				// Only to a test waiting for one: held offers would starve
				// the other frameworks, and go stale.
				select {
				case f.offers <- o:
				default:
					if err := f.s.Decline(ctx, []*mesospb.OfferID{o.GetId()}, 0); err != nil {
						return err
					}
				}
			}
			if st := ev.GetUpdate().GetStatus(); st != nil {
				f.mu.Lock()
				f.updates[st.GetTaskId().GetValue()] = append(f.updates[st.GetTaskId().GetValue()], st)
				f.mu.Unlock()
			}
			return nil
		}))
	if err != nil {
		t.Fatal(err)
	}
	f.s = s
	t.Cleanup(testkit.RunInBackground(s.Run))
	return f
}

// offer waits for an offer from agent with room for n tasks and disk MB
// of disk, declining the others.
func (f *imageFramework) offer(t *testing.T, agent string, n int, disk float64) *mesospb.Offer {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		select {
		case o := <-f.offers:
			r := resources.Resources(o.GetResources())
			if o.GetAgentId().GetValue() == agent && r.ScalarValue("cpus") >= 0.1*float64(n)+0.01 &&
				r.ScalarValue("mem") >= 32*float64(n) && r.ScalarValue("disk") >= disk {
				return o
			}
			if err := f.s.Decline(context.Background(), []*mesospb.OfferID{o.GetId()}, 0); err != nil {
				t.Fatal(err)
			}
		case <-deadline:
			t.Fatalf("no offer from agent %s within 30s", agent)
			return nil
		}
	}
}

// final waits for task id's terminal update.
func (f *imageFramework) final(t *testing.T, id string) *mesospb.TaskStatus {
	t.Helper()
	var st *mesospb.TaskStatus
	waitFor(t, 60*time.Second, "task "+id+" to end", func() bool {
		for _, u := range f.statuses(id) {
			if mesospb.IsTerminal(u.GetState()) {
				st = u
				return true
			}
		}
		return false
	})
	return st
}

func (f *imageFramework) statuses(id string) []*mesospb.TaskStatus {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*mesospb.TaskStatus(nil), f.updates[id]...)
}

// launch launches tasks on agent, each built with its share of an offer.
func (f *imageFramework) launch(t *testing.T, agent string, build ...func(o *mesospb.Offer, space *sdk.Space) *mesospb.TaskInfo) {
	t.Helper()
	o := f.offer(t, agent, len(build), 0)
	space := sdk.NewSpace(o)
	var tasks []*mesospb.TaskInfo
	for _, b := range build {
		tasks = append(tasks, b(o, space))
	}
	if err := f.s.Launch(context.Background(), o, 0, tasks...); err != nil {
		t.Fatal(err)
	}
}

// imageTask is a task running cmd (nil: the image's own command) in a
// root made from image.
func imageTask(id string, container *mesospb.ContainerInfo, cmd *mesospb.CommandInfo) func(*mesospb.Offer, *sdk.Space) *mesospb.TaskInfo {
	return func(o *mesospb.Offer, space *sdk.Space) *mesospb.TaskInfo {
		res, ok := space.Take(0.1, 32, 0, 0)
		if !ok {
			panic("the offer is too small for " + id)
		}
		if cmd == nil {
			cmd = &mesospb.CommandInfo{Shell: proto.Bool(false)}
		}
		return &mesospb.TaskInfo{Name: proto.String(id), TaskId: &mesospb.TaskID{Value: proto.String(id)}, AgentId: o.GetAgentId(),
			Resources: res, Command: cmd, Container: container}
	}
}

// mesosImage is a MESOS ContainerInfo naming a Docker image.
func mesosImage(name string) *mesospb.ContainerInfo {
	return &mesospb.ContainerInfo{Type: mesospb.ContainerInfo_MESOS.Enum(), Mesos: &mesospb.ContainerInfo_MesosInfo{
		Image: &mesospb.Image{Type: mesospb.Image_DOCKER.Enum(), Docker: &mesospb.Image_Docker{Name: proto.String(name)}}}}
}

func shell(script string, env ...string) *mesospb.CommandInfo {
	c := &mesospb.CommandInfo{Value: proto.String(script)}
	for _, kv := range env {
		name, value, _ := strings.Cut(kv, "=")
		if c.Environment == nil {
			c.Environment = &mesospb.Environment{}
		}
		c.Environment.Variables = append(c.Environment.Variables, &mesospb.Environment_Variable{Name: proto.String(name), Value: proto.String(value)})
	}
	return c
}

// sandboxFile reads a file of task id's latest sandbox on the agent with
// work dir workDir.
func sandboxFile(t *testing.T, workDir, id, name string) string {
	t.Helper()
	paths, _ := filepath.Glob(filepath.Join(workDir, "agents", "*", "frameworks", "*", "executors", id, "runs", "latest", name))
	if len(paths) != 1 {
		t.Fatalf("task %s: %d sandbox files named %s", id, len(paths), name)
	}
	b, err := os.ReadFile(paths[0])
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// mountsUnder lists this mount namespace's mount points under dir.
func mountsUnder(t *testing.T, dir string) []string {
	t.Helper()
	points, err := rootfs.MountPoints()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for p := range points {
		if strings.HasPrefix(p, dir+"/") {
			out = append(out, p)
		}
	}
	return out
}

// registryProxy fronts a registry: it counts requests by method and
// path, and for the repository "corrupt" rewrites each gzip blob's header
// so that it no longer matches its digest (the tar inside is unchanged).
type registryProxy struct {
	*httptest.Server
	mu       sync.Mutex
	requests map[string]int // "GET /v2/busybox/manifests/1"; guarded by mu
}

func newRegistryProxy(t *testing.T, reg *registrytest.Registry) *registryProxy {
	t.Helper()
	target, _ := url.Parse("http://" + reg.Addr)
	p := &registryProxy{requests: map[string]int{}}
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.ModifyResponse = func(resp *http.Response) error {
		if !strings.HasPrefix(resp.Request.URL.Path, "/v2/corrupt/blobs/") || resp.StatusCode != http.StatusOK {
			return nil
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return err
		}
		if len(body) > 8 && body[0] == 0x1f && body[1] == 0x8b {
			body[4] ^= 0xff // the gzip header's mtime
		}
		resp.Body = io.NopCloser(bytes.NewReader(body))
		resp.ContentLength = int64(len(body))
		return nil
	}
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		p.requests[r.Method+" "+r.URL.Path]++
		p.mu.Unlock()
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(p.Close)
	return p
}

func (p *registryProxy) host() string { return strings.TrimPrefix(p.URL, "http://") }

// count is how many method requests path had.
func (p *registryProxy) count(method, path string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.requests[method+" "+path]
}

// paths counts the GETs of each path under prefix.
func (p *registryProxy) paths(prefix string) map[string]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := map[string]int{}
	for k, n := range p.requests {
		if path, ok := strings.CutPrefix(k, "GET "); ok && strings.HasPrefix(path, prefix) {
			out[path] = n
		}
	}
	return out
}

// imagetestAuth pushes to a registry with its credentials.
func imagetestAuth(r *registrytest.Registry) remote.Option {
	return remote.WithAuth(&authn.Basic{Username: r.User, Password: r.Password})
}

// withConfig is img with cfg as its runtime config (same layers).
func withConfig(t *testing.T, cfg v1.Config) v1.Image {
	t.Helper()
	img := imagetest.Busybox(t)
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	return imagetest.Image(t, cfg, layers...)
}

// metricValue reads one sample of an agent's /metrics, or -1.
func metricValue(t *testing.T, addr, name string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, name+" "); ok {
			var v float64
			if _, err := fmt.Sscan(rest, &v); err == nil {
				return v
			}
		}
	}
	return -1
}

// serviceApp is an app deployed through an in-process service framework.
type serviceApp struct {
	f    *service.Framework
	api  string
	stop func()
}

// deployApp starts the service framework and deploys the app JSON.
func deployApp(t *testing.T, master, app string) *serviceApp {
	t.Helper()
	st, err := store.OpenLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	f, err := service.New(ctx, service.Config{Master: master, Store: st, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	api := httptest.NewServer(f.Handler(nil))
	done := make(chan struct{})
	go func() { _ = f.Run(ctx); close(done) }()
	a := &serviceApp{f: f, api: api.URL, stop: func() { cancel(); <-done; api.Close(); st.Close() }}
	t.Cleanup(a.stop)
	resp, err := http.Post(api.URL+"/v2/apps", "application/json", strings.NewReader(app))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("deploying the app: %d %s", resp.StatusCode, b)
	}
	return a
}

// ports waits for n running tasks of /web and returns their first ports.
func (a *serviceApp) ports(t *testing.T, n int) []int {
	t.Helper()
	var ports []int
	waitFor(t, 60*time.Second, fmt.Sprintf("%d running tasks of /web", n), func() bool {
		var v struct {
			Tasks []service.TaskView `json:"tasks"`
		}
		resp, err := http.Get(a.api + "/v2/apps/web/tasks")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		if json.NewDecoder(resp.Body).Decode(&v) != nil {
			return false
		}
		ports = ports[:0]
		for _, tv := range v.Tasks {
			if tv.State == "TASK_RUNNING" && len(tv.Ports) > 0 {
				ports = append(ports, tv.Ports[0])
			}
		}
		return len(ports) == n
	})
	return ports
}

// remove deletes /web and waits until its tasks are gone.
func (a *serviceApp) remove(t *testing.T) {
	t.Helper()
	// Forced: its deployment may still wait for health checks.
	req, _ := http.NewRequest(http.MethodDelete, a.api+"/v2/apps/web?force=true", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Fatalf("deleting /web: %s", resp.Status)
	}
	waitFor(t, 30*time.Second, "/web to be gone", func() bool {
		resp, err := http.Get(a.api + "/v2/apps/web")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusNotFound
	})
}
