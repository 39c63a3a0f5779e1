package service

import (
	"encoding/json"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/proto/mesospb"
)

// Apps from images (issue 19): Marathon's container.docker. With type
// MESOS the agent's unified containerizer runs the image (Mesos'
// ContainerInfo.mesos.image); with type DOCKER, Mesos' Docker
// containerizer's ContainerInfo, which corral's agents run through the same
// runtime. forcePullImage looks the image up in the registry again
// (Image.cached: false). What `docker run` alone could do (privileged,
// parameters, a registry secret, bridge networking) is refused by name.

// Docker is Marathon's container.docker.
type Docker struct {
	Image          string `json:"image"`
	ForcePullImage bool   `json:"forcePullImage,omitempty"`
	// Network is Marathon's legacy docker network: HOST only (networks
	// says where an app runs).
	Network    string            `json:"network,omitempty"`
	Privileged bool              `json:"privileged,omitempty"`
	Parameters []DockerParameter `json:"parameters,omitempty"`
	PullConfig json.RawMessage   `json:"pullConfig,omitempty"`
}

// DockerParameter is a `docker run` option, which corral refuses.
type DockerParameter struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// image is the image the app's instances run from, "" for none.
func (a *App) image() string {
	if a.Container == nil || a.Container.Docker == nil {
		return ""
	}
	return a.Container.Docker.Image
}

// normalizeImage checks container.docker.
func (a *App) normalizeImage(v *ValidationError) {
	c := a.Container
	switch {
	case c.Type != "MESOS" && c.Type != "DOCKER":
		v.add("/container/type", "must be MESOS or DOCKER, got %q", c.Type)
		return
	case c.Docker == nil && c.Type == "DOCKER":
		v.add("/container/docker", "a DOCKER container needs docker.image")
		return
	case c.Docker == nil:
		return
	}
	d := c.Docker
	if d.Image == "" {
		v.add("/container/docker/image", "is required")
	}
	if d.Network != "" && d.Network != "HOST" {
		v.add("/container/docker/network", "only HOST: for a container network use networks [{mode: container, name: ...}], got %q", d.Network)
	}
	if d.Privileged {
		v.add("/container/docker/privileged", "corral does not run privileged containers")
	}
	if len(d.Parameters) > 0 {
		v.add("/container/docker/parameters", "are `docker run` options, which corral's runtime does not take")
	}
	if len(d.PullConfig) > 0 && string(d.PullConfig) != "null" {
		v.add("/container/docker/pullConfig", "registry credentials come from the agents' --docker-config, not a secret")
	}
}

// applyImage makes ti run from the app's image, with Marathon's command
// rules for images: no cmd and no args runs the image's own command;
// args replace its Cmd (after its Entrypoint); cmd runs in /bin/sh -c.
func applyImage(ti *mesospb.TaskInfo, app *App) {
	d := app.Container.Docker
	if d == nil {
		return
	}
	switch {
	case app.Cmd == "" && len(app.Args) == 0:
		ti.Command.Shell, ti.Command.Value = proto.Bool(false), nil
	case len(app.Args) > 0:
		ti.Command.Shell, ti.Command.Value, ti.Command.Arguments = proto.Bool(false), nil, app.Args
	}
	if ti.Container == nil {
		ti.Container = &mesospb.ContainerInfo{}
	}
	ci := ti.Container
	if app.Container.Type == "DOCKER" && len(ci.NetworkInfos) == 0 {
		ci.Type = mesospb.ContainerInfo_DOCKER.Enum()
		ci.Docker = &mesospb.ContainerInfo_DockerInfo{Image: proto.String(d.Image), ForcePullImage: proto.Bool(d.ForcePullImage),
			Network: mesospb.ContainerInfo_DockerInfo_HOST.Enum()}
		return
	}
	// On a container network, or asked for: the unified containerizer's
	// image, which corral runs the same way.
	ci.Type = mesospb.ContainerInfo_MESOS.Enum()
	img := &mesospb.Image{Type: mesospb.Image_DOCKER.Enum(), Docker: &mesospb.Image_Docker{Name: proto.String(d.Image)}}
	if d.ForcePullImage {
		img.Cached = proto.Bool(false)
	}
	ci.Mesos = &mesospb.ContainerInfo_MesosInfo{Image: img}
}
