package isolators

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/proto/mesospb"
)

func TestImageOf(t *testing.T) {
	mesos := func(img *mesospb.Image) *mesospb.ContainerInfo {
		return &mesospb.ContainerInfo{Type: mesospb.ContainerInfo_MESOS.Enum(), Mesos: &mesospb.ContainerInfo_MesosInfo{Image: img}}
	}
	dockerImage := func(name string) *mesospb.Image {
		return &mesospb.Image{Type: mesospb.Image_DOCKER.Enum(), Docker: &mesospb.Image_Docker{Name: proto.String(name)}}
	}
	docker := func(d *mesospb.ContainerInfo_DockerInfo) *mesospb.ContainerInfo {
		return &mesospb.ContainerInfo{Type: mesospb.ContainerInfo_DOCKER.Enum(), Docker: d}
	}
	uncached := dockerImage("web:1")
	uncached.Cached = proto.Bool(false)
	withSecret := dockerImage("web:1")
	withSecret.Docker.Config = &mesospb.Secret{}
	for _, c := range []struct {
		name string
		info *mesospb.ContainerInfo
		want *ImageRef
		err  string
	}{
		{"none", nil, nil, ""},
		// A type left unset is MESOS, not the enum's first value.
		{"no type", &mesospb.ContainerInfo{Hostname: proto.String("web-0")}, nil, ""},
		{"mesos without image", &mesospb.ContainerInfo{Type: mesospb.ContainerInfo_MESOS.Enum()}, nil, ""},
		{"mesos docker image", mesos(dockerImage("127.0.0.1:5000/web:1")), &ImageRef{Name: "127.0.0.1:5000/web:1"}, ""},
		{"cached false", mesos(uncached), &ImageRef{Name: "web:1", Fresh: true}, ""},
		{"appc", mesos(&mesospb.Image{Type: mesospb.Image_APPC.Enum(), Appc: &mesospb.Image_Appc{Name: proto.String("a")}}), nil, "APPC"},
		{"docker without name", mesos(&mesospb.Image{Type: mesospb.Image_DOCKER.Enum()}), nil, "docker.name"},
		{"registry secret", mesos(withSecret), nil, "mesos.image.docker.config"},
		{"docker type", docker(&mesospb.ContainerInfo_DockerInfo{Image: proto.String("web:1")}), &ImageRef{Name: "web:1"}, ""},
		{"force pull", docker(&mesospb.ContainerInfo_DockerInfo{Image: proto.String("web:1"), ForcePullImage: proto.Bool(true)}),
			&ImageRef{Name: "web:1", Fresh: true}, ""},
		{"docker type without image", docker(nil), nil, "docker.image"},
		{"privileged", docker(&mesospb.ContainerInfo_DockerInfo{Image: proto.String("web:1"), Privileged: proto.Bool(true)}), nil, "docker.privileged"},
		{"parameters", docker(&mesospb.ContainerInfo_DockerInfo{Image: proto.String("web:1"),
			Parameters: []*mesospb.Parameter{{Key: proto.String("ulimit"), Value: proto.String("x")}}}), nil, "docker.parameters (ulimit"},
		{"bridge", docker(&mesospb.ContainerInfo_DockerInfo{Image: proto.String("web:1"), Network: mesospb.ContainerInfo_DockerInfo_BRIDGE.Enum()}),
			nil, "docker.network BRIDGE"},
		{"port mappings", docker(&mesospb.ContainerInfo_DockerInfo{Image: proto.String("web:1"),
			PortMappings: []*mesospb.ContainerInfo_DockerInfo_PortMapping{{HostPort: proto.Uint32(1), ContainerPort: proto.Uint32(2)}}}), nil, "port_mappings"},
		{"both images", &mesospb.ContainerInfo{Type: mesospb.ContainerInfo_DOCKER.Enum(), Docker: &mesospb.ContainerInfo_DockerInfo{Image: proto.String("a")},
			Mesos: &mesospb.ContainerInfo_MesosInfo{Image: dockerImage("b")}}, nil, "not mesos.image"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := ImageOf(c.info)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("ImageOf = %+v, %v; want an error containing %q", got, err, c.err)
				}
				return
			}
			if err != nil || (got == nil) != (c.want == nil) || (got != nil && *got != *c.want) {
				t.Fatalf("ImageOf = %+v, %v; want %+v", got, err, c.want)
			}
		})
	}
}

func TestHasImage(t *testing.T) {
	docker := mesospb.ContainerInfo_DOCKER.Enum()
	for info, want := range map[*mesospb.ContainerInfo]bool{
		nil:            false,
		{}:             false, // type unset: MESOS, though GetType says DOCKER
		{Type: docker}: true,
		{Type: mesospb.ContainerInfo_MESOS.Enum()}:                         false,
		{Mesos: &mesospb.ContainerInfo_MesosInfo{Image: &mesospb.Image{}}}: true,
	} {
		if got := HasImage(info); got != want {
			t.Errorf("HasImage(%v) = %v, want %v", info, got, want)
		}
	}
}
