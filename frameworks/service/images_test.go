package service

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/proto/mesospb"
)

// An app's container.docker becomes the image its tasks run from, by
// Marathon's rules: DOCKER on the host network is Mesos' Docker
// ContainerInfo, MESOS (or a container network) the unified
// containerizer's image; forcePullImage looks the image up again; no cmd
// runs the image's own command, args follow its Entrypoint.
func TestAppImagesBecomeContainerInfos(t *testing.T) {
	f := &Framework{}
	o := &mesospb.Offer{AgentId: &mesospb.AgentID{Value: proto.String("a1")}}
	decode := func(js string) *App {
		t.Helper()
		app, err := DecodeApp(strings.NewReader(js))
		if err == nil {
			err = app.Normalize()
		}
		if err != nil {
			t.Fatalf("%s: %v", js, err)
		}
		return app
	}
	docker := decode(`{"id": "/d", "args": ["-f"], "container": {"type": "DOCKER", "docker": {"image": "reg:5000/web:1", "forcePullImage": true},
		"volumes": [{"containerPath": "/data", "hostPath": "/srv", "mode": "RO"}]}}`)
	ti := f.taskInfo(docker, &Instance{ID: "d.1", AppID: "/d"}, o, nil)
	c := ti.GetContainer()
	if c.GetType() != mesospb.ContainerInfo_DOCKER || c.GetDocker().GetImage() != "reg:5000/web:1" || !c.GetDocker().GetForcePullImage() ||
		c.GetDocker().GetNetwork() != mesospb.ContainerInfo_DockerInfo_HOST || len(c.GetVolumes()) != 1 {
		t.Fatalf("DOCKER app: container %v", c)
	}
	if cmd := ti.GetCommand(); cmd.GetShell() || cmd.Value != nil || strings.Join(cmd.GetArguments(), " ") != "-f" {
		t.Fatalf("DOCKER app with args: command %v, want the image's Entrypoint with the args", cmd)
	}
	mesos := decode(`{"id": "/m", "container": {"type": "MESOS", "docker": {"image": "web:2"}}}`)
	ti = f.taskInfo(mesos, &Instance{ID: "m.1", AppID: "/m"}, o, nil)
	img := ti.GetContainer().GetMesos().GetImage()
	if ti.GetContainer().GetType() != mesospb.ContainerInfo_MESOS || img.GetType() != mesospb.Image_DOCKER || img.GetDocker().GetName() != "web:2" ||
		img.Cached != nil {
		t.Fatalf("MESOS app: container %v", ti.GetContainer())
	}
	if cmd := ti.GetCommand(); cmd.GetShell() || cmd.Value != nil || len(cmd.GetArguments()) != 0 || len(cmd.GetEnvironment().GetVariables()) == 0 {
		t.Fatalf("MESOS app without cmd: command %v, want the image's own command with Marathon's env", cmd)
	}
	shell := decode(`{"id": "/s", "cmd": "exec httpd", "container": {"docker": {"image": "web:2", "forcePullImage": true}}}`)
	ti = f.taskInfo(shell, &Instance{ID: "s.1", AppID: "/s"}, o, nil)
	if !ti.GetCommand().GetShell() || ti.GetCommand().GetValue() != "exec httpd" || ti.GetContainer().GetMesos().GetImage().GetCached() {
		t.Fatalf("cmd with an image: %v, %v", ti.GetCommand(), ti.GetContainer())
	}
	for js, want := range map[string]string{
		`{"id": "/b", "cmd": "x", "container": {"type": "DOCKER"}}`:                                         "/container/docker: a DOCKER container needs docker.image",
		`{"id": "/b", "cmd": "x", "container": {"type": "APPC"}}`:                                           `/container/type: must be MESOS or DOCKER, got "APPC"`,
		`{"id": "/b", "container": {"docker": {"image": "web:1", "network": "BRIDGE"}}}`:                    "/container/docker/network: only HOST",
		`{"id": "/b", "container": {"docker": {"image": "web:1", "pullConfig": {"secret": "pull"}}}}`:       "/container/docker/pullConfig",
		`{"id": "/b", "container": {"docker": {"image": ""}}}`:                                              "/container/docker/image: is required",
		`{"id": "/b", "container": {"type": "MESOS", "volumes": []}}`:                                       "/cmd: an app needs cmd or args",
		`{"id": "/b", "container": {"docker": {"image": "w", "parameters": [{"key": "a", "value": "b"}]}}}`: "/container/docker/parameters",
	} {
		app, err := DecodeApp(strings.NewReader(js))
		if err == nil {
			err = app.Normalize()
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", js, err, want)
		}
	}
}
