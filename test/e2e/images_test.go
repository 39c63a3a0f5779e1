package e2e

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/agent"
	"github.com/corral-sched/corral/frameworks/sdk"
	"github.com/corral-sched/corral/internal/testkit/imagetest"
	"github.com/corral-sched/corral/internal/testkit/registrytest"
	"github.com/corral-sched/corral/internal/testkit/testcluster"
	"github.com/corral-sched/corral/proto/mesospb"
)

// imageCluster is one cluster for the image tests, its agents set up for
// what each test needs:
//
//	0: linux, images from registries (credentials for the auth registry)
//	1: linux, images from a directory of archives (Mesos' local registry),
//	   unused images collected at once
//	2: linux, images, a short pull timeout (the hanging registry)
//	3: posix, images asked for: refused, as images need filesystem/linux
type imageCluster struct {
	c       *testcluster.Cluster
	f       *imageFramework
	reg     *registrytest.Registry // no auth
	auth    *registrytest.Registry
	proxy   *registryProxy // in front of reg
	archive string
}

func (ic *imageCluster) agentID(i int) string { return ic.c.Agents[i].ID() }

func startImageCluster(t *testing.T) *imageCluster {
	t.Helper()
	requireImages(t)
	ic := &imageCluster{reg: registrytest.Start(t), auth: registrytest.Start(t, registrytest.WithAuth("corral", "s3cret")),
		archive: t.TempDir()}
	ic.proxy = newRegistryProxy(t, ic.reg)
	cgroupRoot := fmt.Sprintf("/corral-e2e-images-%d", time.Now().UnixNano())
	t.Cleanup(func() {
		dirs, _ := filepath.Glob("/sys/fs/cgroup/*" + cgroupRoot)
		for _, d := range dirs {
			_ = os.Remove(d)
		}
	})
	ic.c = testcluster.Start(t, testcluster.Options{Agents: 4, AgentResources: "cpus:4;mem:4096;disk:2000;ports:[31000-32000]",
		Agent: func(i int, cfg *agent.Config) {
			cfg.Isolation, cfg.CgroupsRoot = "linux", cgroupRoot
			cfg.ImageProviders, cfg.DockerPullTimeout = []string{"docker"}, time.Minute
			switch i {
			case 0:
				cfg.DockerConfig = ic.auth.DockerConfig()
			case 1:
				// Collected as soon as unused, to see the collector run.
				cfg.DockerRegistry, cfg.ImageGC = ic.archive, agent.ImageGC{Interval: 100 * time.Millisecond, MaxUnused: time.Millisecond}
			case 2:
				cfg.DockerPullTimeout = 2 * time.Second
			case 3:
				cfg.Isolation = "posix"
			}
		}})
	ic.f = startImageFramework(t, ic.c.MasterAddr)
	return ic
}

// Tasks run from images pushed to a real registry (Debian's
// docker-registry): the image's files, not the host's; its whiteouts
// applied; the sandbox at /mnt/mesos/sandbox; Mesos' rules for
// Entrypoint, Cmd, Env, WorkingDir and User; an image without a shell;
// Mesos' DOCKER containers; a persistent volume in the image's root; a
// task group with an image per task; twenty launches of one image making
// one pull, with its progress on TASK_STARTING; and failures that name
// the image. No mount is left behind.
func TestImages(t *testing.T) {
	ic := startImageCluster(t)
	a0 := ic.agentID(0)
	px := ic.proxy.host()
	imagetest.Push(t, imagetest.Busybox(t), ic.reg.Addr+"/busybox:1")
	cmdOnly := withConfig(t, v1.Config{Cmd: []string{"/bin/sh", "-c", "id -u; pwd"}, Env: []string{"PATH=/bin"}, User: "nobody"})
	imagetest.Push(t, cmdOnly, ic.reg.Addr+"/cmdonly:1")
	noShell := imagetest.Image(t, v1.Config{Entrypoint: []string{"/bin/busybox"}, Cmd: []string{"echo", "no-shell"}},
		imagetest.Layer(t, imagetest.File{Name: "bin/", Typeflag: tar.TypeDir}, imagetest.File{Name: "bin/busybox", Body: busybox(t), Mode: 0o755}))
	imagetest.Push(t, noShell, ic.reg.Addr+"/noshell:1")

	t.Run("twenty launches, one pull, with progress", func(t *testing.T) {
		// Its own top layer: nothing of it is in the store yet.
		many := imagetest.Image(t, imagetest.Config, append(layersOf(t, imagetest.Busybox(t)),
			imagetest.Layer(t, imagetest.File{Name: "many", Body: []byte("many\n")}))...)
		imagetest.Push(t, many, ic.reg.Addr+"/many:1")
		var build []func(*mesospb.Offer, *sdk.Space) *mesospb.TaskInfo
		for i := range 20 {
			build = append(build, imageTask(fmt.Sprintf("many-%02d", i), mesosImage(px+"/many:1"), shell("test -e /many")))
		}
		ic.f.launch(t, a0, build...)
		progress := 0
		for i := range 20 {
			id := fmt.Sprintf("many-%02d", i)
			if st := ic.f.final(t, id); st.GetState() != mesospb.TaskState_TASK_FINISHED {
				t.Fatalf("%s", sdk.Describe(st))
			}
			for _, st := range ic.f.statuses(id) {
				// "pulling <image>" while its manifest is looked up, then
				// "(n of m layers, x/y MB)" as layers come, a few a second.
				if st.GetState() == mesospb.TaskState_TASK_STARTING && strings.HasPrefix(st.GetMessage(), "pulling "+px+"/many:1") {
					progress++
					break
				}
			}
		}
		if progress == 0 {
			t.Errorf("no task's TASK_STARTING said how the pull went; %s's updates: %v", "many-00", ic.f.statuses("many-00"))
		}
		if n := ic.proxy.count("GET", "/v2/many/manifests/1"); n != 1 {
			t.Errorf("the registry served many:1's manifest %d times for twenty launches, want once", n)
		}
		for path, n := range ic.proxy.paths("/v2/many/blobs/") {
			if n != 1 {
				t.Errorf("%s fetched %d times", path, n)
			}
		}
	})

	t.Run("the image's files and the sandbox", func(t *testing.T) {
		ic.f.launch(t, a0, imageTask("files", mesosImage(px+"/busybox:1"), shell(
			`cat /etc/corral-image; test ! -e /etc/doomed && echo doomed-gone; ls /data; echo "sandbox=$MESOS_SANDBOX home=$HOME"; `+
				`pwd; test ! -e /usr && echo no-host-usr; test -e $MESOS_SANDBOX/stdout && echo sees-its-sandbox`)))
		if st := ic.f.final(t, "files"); st.GetState() != mesospb.TaskState_TASK_FINISHED {
			t.Fatalf("%s", sdk.Describe(st))
		}
		want := strings.Join([]string{strings.TrimSpace(imagetest.MarkerContent), "doomed-gone", "c",
			"sandbox=/mnt/mesos/sandbox home=/mnt/mesos/sandbox", "/data", "no-host-usr", "sees-its-sandbox"}, "\n") + "\n"
		if got := sandboxFile(t, ic.c.Agents[0].WorkDir(), "files", "stdout"); got != want {
			t.Fatalf("the task saw\n%s\nwant\n%s", got, want)
		}
	})

	t.Run("Mesos' rules for the image's config", func(t *testing.T) {
		user := func(c *mesospb.CommandInfo, u string) *mesospb.CommandInfo { c.User = proto.String(u); return c }
		argv := func(value string, args ...string) *mesospb.CommandInfo {
			c := &mesospb.CommandInfo{Shell: proto.Bool(false), Arguments: args}
			if value != "" {
				c.Value = proto.String(value)
			}
			return c
		}
		withEnv := func(c *mesospb.CommandInfo, kv ...string) *mesospb.CommandInfo {
			c.Environment = shell("", kv...).Environment
			return c
		}
		docker := &mesospb.ContainerInfo{Type: mesospb.ContainerInfo_DOCKER.Enum(),
			Docker: &mesospb.ContainerInfo_DockerInfo{Image: proto.String(px + "/busybox:1"), ForcePullImage: proto.Bool(true)}}
		cases := []struct {
			id        string
			container *mesospb.ContainerInfo
			cmd       *mesospb.CommandInfo
			state     mesospb.TaskState
			stdout    string
		}{
			// Entrypoint [/bin/sh -c] and Cmd [cat /etc/corral-image]; WorkingDir /data, Env, User root.
			{"image-command", mesosImage(px + "/busybox:1"), argv(""), mesospb.TaskState_TASK_FINISHED, imagetest.MarkerContent},
			{"entrypoint-with-arguments", mesosImage(px + "/busybox:1"), withEnv(argv("", `echo $IMAGE_VAR $TASK_VAR $(pwd) $(id -u)`), "TASK_VAR=t"),
				mesospb.TaskState_TASK_FINISHED, "from-image t /data 0\n"},
			{"shell-ignores-entrypoint", mesosImage(px + "/busybox:1"), shell(`echo $IMAGE_VAR $0`, "IMAGE_VAR=from-task"),
				mesospb.TaskState_TASK_FINISHED, "from-task /bin/sh\n"},
			// Cmd only, User nobody, no WorkingDir: the sandbox.
			{"image-cmd-and-user", mesosImage(px + "/cmdonly:1"), argv(""), mesospb.TaskState_TASK_FINISHED, "65534\n/mnt/mesos/sandbox\n"},
			{"task-user-wins", mesosImage(px + "/cmdonly:1"), user(argv(""), "root"), mesospb.TaskState_TASK_FINISHED, "0\n/mnt/mesos/sandbox\n"},
			{"value-and-arguments", mesosImage(px + "/cmdonly:1"), argv("/bin/echo", "echo", "argv", "value"), mesospb.TaskState_TASK_FINISHED, "argv value\n"},
			// No shell in the image: the exit-status wrapper brings its own.
			{"no-shell", mesosImage(px + "/noshell:1"), argv(""), mesospb.TaskState_TASK_FINISHED, "no-shell\n"},
			{"no-shell-fails", mesosImage(px + "/noshell:1"), argv("", "false"), mesospb.TaskState_TASK_FAILED, ""},
			// Mesos' Docker containerizer's ContainerInfo, run by corral's runtime.
			{"docker-containerinfo", docker, argv(""), mesospb.TaskState_TASK_FINISHED, imagetest.MarkerContent},
		}
		manifests := ic.proxy.count("GET", "/v2/busybox/manifests/1")
		var build []func(*mesospb.Offer, *sdk.Space) *mesospb.TaskInfo
		for _, c := range cases {
			build = append(build, imageTask(c.id, c.container, c.cmd))
		}
		ic.f.launch(t, a0, build...)
		for _, c := range cases {
			st := ic.f.final(t, c.id)
			if st.GetState() != c.state {
				t.Errorf("%s: %s, want %s", c.id, sdk.Describe(st), c.state)
				continue
			}
			if got := sandboxFile(t, ic.c.Agents[0].WorkDir(), c.id, "stdout"); c.stdout != "" && got != c.stdout {
				t.Errorf("%s printed %q, want %q", c.id, got, c.stdout)
			}
		}
		if got := sandboxFile(t, ic.c.Agents[0].WorkDir(), "no-shell", ".corral_exit_status"); got != "0\n" {
			t.Errorf("the shell-less image's exit status file holds %q", got)
		}
		if st := ic.f.final(t, "no-shell-fails"); !strings.Contains(st.GetMessage(), "status 1") {
			t.Errorf("no-shell-fails: %s, want its exit status 1", sdk.Describe(st))
		}
		if n := ic.proxy.count("GET", "/v2/busybox/manifests/1"); n <= manifests {
			t.Errorf("force_pull_image did not look busybox:1 up again (%d manifest GETs before, %d after)", manifests, n)
		}
	})

	t.Run("a persistent volume in the image's root", func(t *testing.T) {
		o := ic.f.offer(t, a0, 1, 10)
		cpus, mem, disk := reserved("cpus", 0.1), reserved("mem", 32), reserved("disk", 10)
		vol := proto.CloneOf(disk)
		vol.Disk = &mesospb.Resource_DiskInfo{
			Persistence: &mesospb.Resource_DiskInfo_Persistence{Id: proto.String("image-data"), Principal: proto.String("db-principal")},
			Volume:      &mesospb.Volume{ContainerPath: proto.String("data"), Mode: mesospb.Volume_RW.Enum()},
		}
		task := imageTask("volume", mesosImage(px+"/busybox:1"), shell(`echo kept > $MESOS_SANDBOX/data/greeting`))(o, sdk.NewSpace(o))
		task.Resources = []*mesospb.Resource{cpus, mem, vol}
		err := ic.f.s.Accept(context.Background(), []*mesospb.OfferID{o.GetId()}, []*mesospb.Offer_Operation{
			{Type: mesospb.Offer_Operation_RESERVE.Enum(), Reserve: &mesospb.Offer_Operation_Reserve{Resources: []*mesospb.Resource{cpus, mem, disk}}},
			{Type: mesospb.Offer_Operation_CREATE.Enum(), Create: &mesospb.Offer_Operation_Create{Volumes: []*mesospb.Resource{vol}}},
			sdk.LaunchOperation(task),
		}, 0)
		if err != nil {
			t.Fatal(err)
		}
		if st := ic.f.final(t, "volume"); st.GetState() != mesospb.TaskState_TASK_FINISHED {
			t.Fatalf("%s", sdk.Describe(st))
		}
		data := filepath.Join(ic.c.Agents[0].WorkDir(), "volumes", "roles", "db", "image-data", "greeting")
		if b, err := os.ReadFile(data); err != nil || string(b) != "kept\n" {
			t.Fatalf("the volume holds %q (%v), want what the task wrote at /mnt/mesos/sandbox/data", b, err)
		}
	})

	t.Run("a task group, an image per task", func(t *testing.T) {
		o := ic.f.offer(t, a0, 3, 0)
		space := sdk.NewSpace(o)
		exRes, _ := space.Take(0.1, 32, 0, 0)
		one := imageTask("pod-busybox", mesosImage(px+"/busybox:1"), shell("cat /etc/corral-image"))(o, space)
		two := imageTask("pod-cmdonly", mesosImage(px+"/cmdonly:1"), nil)(o, space)
		op := &mesospb.Offer_Operation{Type: mesospb.Offer_Operation_LAUNCH_GROUP.Enum(), LaunchGroup: &mesospb.Offer_Operation_LaunchGroup{
			Executor: &mesospb.ExecutorInfo{Type: mesospb.ExecutorInfo_DEFAULT.Enum(),
				ExecutorId: &mesospb.ExecutorID{Value: proto.String("image-pod")}, Resources: exRes},
			TaskGroup: &mesospb.TaskGroupInfo{Tasks: []*mesospb.TaskInfo{one, two}},
		}}
		if err := ic.f.s.Accept(context.Background(), []*mesospb.OfferID{o.GetId()}, []*mesospb.Offer_Operation{op}, 0); err != nil {
			t.Fatal(err)
		}
		for id, want := range map[string]string{"pod-busybox": imagetest.MarkerContent, "pod-cmdonly": "65534\n/mnt/mesos/sandbox\n"} {
			if st := ic.f.final(t, id); st.GetState() != mesospb.TaskState_TASK_FINISHED {
				t.Fatalf("%s", sdk.Describe(st))
			}
			got := sandboxFile(t, ic.c.Agents[0].WorkDir(), "image-pod", filepath.Join("tasks", id, "stdout"))
			if got != want {
				t.Errorf("%s printed %q, want %q", id, got, want)
			}
		}
	})

	t.Run("registries with credentials and archives", func(t *testing.T) {
		imagetest.Push(t, imagetest.Busybox(t), ic.auth.Addr+"/private:1", imagetestAuth(ic.auth))
		if resp, err := http.Get("http://" + ic.auth.Addr + "/v2/"); err != nil || resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("the auth registry answers %v, %v without credentials; want 401", resp, err)
		}
		imagetest.SaveDocker(t, imagetest.Busybox(t), ic.archive, "archived:1")
		ic.f.launch(t, a0, imageTask("private", mesosImage(ic.auth.Addr+"/private:1"), shell("cat /etc/corral-image")))
		ic.f.launch(t, ic.agentID(1), imageTask("archived", mesosImage("archived:1"), shell("cat /etc/corral-image")))
		for i, id := range map[int]string{0: "private", 1: "archived"} {
			if st := ic.f.final(t, id); st.GetState() != mesospb.TaskState_TASK_FINISHED {
				t.Fatalf("%s", sdk.Describe(st))
			}
			if got := sandboxFile(t, ic.c.Agents[i].WorkDir(), id, "stdout"); got != imagetest.MarkerContent {
				t.Errorf("%s printed %q", id, got)
			}
		}
		// Once its task is gone, the archived image is unused: collected.
		addr := ic.c.Agents[1].Addr()
		waitFor(t, 30*time.Second, "the archived image to be collected", func() bool {
			return metricValue(t, addr, "corral_agent_image_store_layers") == 0 &&
				metricValue(t, addr, "corral_agent_image_gc_removed_layers_total") == 2
		})
	})

	t.Run("the Marathon example app through the service framework", func(t *testing.T) {
		// examples/images/web.json, as a user deploys it, from an image
		// like examples/images/build.sh's: httpd serving /www.
		web := imagetest.Image(t, imagetest.Config, append(layersOf(t, imagetest.Busybox(t)), imagetest.Layer(t,
			imagetest.File{Name: "bin/httpd", Typeflag: tar.TypeSymlink, Link: "busybox", Mode: 0o777},
			imagetest.File{Name: "www/", Typeflag: tar.TypeDir},
			imagetest.File{Name: "www/index.html", Body: []byte("hello from an image\n")}))...)
		imagetest.Push(t, web, ic.reg.Addr+"/busybox-web:1")
		example, err := os.ReadFile("../../examples/images/web.json")
		if err != nil {
			t.Fatal(err)
		}
		app := strings.Replace(string(example), "127.0.0.1:5000/busybox:1", px+"/busybox-web:1", 1)
		app = strings.Replace(app, `"cpus"`, `"constraints": [["hostname", "CLUSTER", "agent-0"]], "cpus"`, 1) // the registry agent
		deployed := deployApp(t, ic.c.MasterAddr, app)
		for _, port := range deployed.ports(t, 2) {
			var got string
			waitFor(t, 30*time.Second, fmt.Sprintf("httpd on port %d", port), func() bool {
				resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/", port))
				if err != nil {
					return false // a task runs before its httpd listens
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				got = string(b)
				return true
			})
			if got != "hello from an image\n" {
				t.Errorf("port %d serves %q, want the image's /www/index.html", port, got)
			}
		}
		deployed.remove(t)
	})

	t.Run("failures name the image", func(t *testing.T) {
		// A layer of its own: layers already in the store are not fetched.
		corrupt := imagetest.Image(t, imagetest.Config, append(layersOf(t, imagetest.Busybox(t)),
			imagetest.Layer(t, imagetest.File{Name: "corrupt", Body: []byte("corrupt\n")}))...)
		imagetest.Push(t, corrupt, ic.reg.Addr+"/corrupt:1")
		garbage := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/vnd.docker.distribution.manifest.v2+json")
			_, _ = w.Write([]byte("{this is not json"))
		}))
		defer garbage.Close()
		release := make(chan struct{})
		hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/v2/" {
				select {
				case <-release:
				case <-r.Context().Done():
				}
			}
		}))
		defer hang.Close()
		defer close(release)
		host := func(s *httptest.Server) string { return strings.TrimPrefix(s.URL, "http://") }
		cases := []struct {
			id, image, want string
			agent           int
		}{
			{"bad-name", px + "/Not A Name:1", "malformed name", 0},
			{"unknown-tag", px + "/busybox:no-such-tag", "not found", 0},
			{"garbage", host(garbage) + "/web:1", "not a valid image", 0},
			{"digest-mismatch", px + "/corrupt:1", "digest mismatch", 0},
			{"hanging", host(hang) + "/web:1", "pull timed out", 2},
			{"refused", ic.auth.Addr + "/private:1", "registry refused access", 2}, // agent 2 has no credentials
			{"posix-agent", px + "/busybox:1", "images need the filesystem/linux isolator", 3},
		}
		for _, c := range cases {
			ic.f.launch(t, ic.agentID(c.agent), imageTask(c.id, mesosImage(c.image), shell("true")))
		}
		for _, c := range cases {
			st := ic.f.final(t, c.id)
			if st.GetState() != mesospb.TaskState_TASK_FAILED || st.GetReason() != mesospb.TaskStatus_REASON_CONTAINER_LAUNCH_FAILED ||
				!strings.Contains(st.GetMessage(), c.image) || !strings.Contains(st.GetMessage(), c.want) {
				t.Errorf("%s: %s; want TASK_FAILED (REASON_CONTAINER_LAUNCH_FAILED) naming %s and %q", c.id, sdk.Describe(st), c.image, c.want)
			}
		}
	})

	// What the agent counted, and what it leaves once every task is gone.
	addr := ic.c.Agents[0].Addr()
	if n := metricValue(t, addr, `corral_agent_image_pulls_total{result="ok"}`); n < 5 {
		t.Errorf("corral_agent_image_pulls_total{result=\"ok\"} = %v, want a pull per image", n)
	}
	if n := metricValue(t, addr, `corral_agent_image_cache_hits_total{kind="image"}`); n < 3 {
		t.Errorf("image cache hits = %v", n)
	}
	if n := metricValue(t, addr, "corral_agent_image_store_bytes"); n <= 0 {
		t.Errorf("store bytes = %v", n)
	}
	store := filepath.Join(ic.c.Agents[0].WorkDir(), "store", "docker")
	waitFor(t, 30*time.Second, "every image root to be unmounted", func() bool { return len(mountsUnder(t, store)) == 0 })
	roots, _ := os.ReadDir(filepath.Join(store, "rootfs", "overlay"))
	if len(roots) != 0 {
		t.Errorf("%d root filesystems left in the store", len(roots))
	}
}

func layersOf(t *testing.T, img v1.Image) []v1.Layer {
	t.Helper()
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	return layers
}

func busybox(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile(imagetest.BusyboxPath)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
