package isolators

import (
	"fmt"
	"strings"

	"github.com/corral-sched/corral/proto/mesospb"
)

// ContainerSandbox is where the sandbox appears in a container whose
// root comes from an image, as in Mesos: MESOS_SANDBOX names it there.
const ContainerSandbox = "/mnt/mesos/sandbox"

// ImageRef is the image a container's root file system comes from.
type ImageRef struct {
	// Name is the image's name: [registry/]repository[:tag|@digest].
	Name string
	// Fresh looks the name up in the registry again even if the store
	// resolved it before (Image.cached: false, or the Docker
	// containerizer's force_pull_image).
	Fresh bool
}

// ImageOf reads the image a ContainerInfo names, nil for none: a MESOS
// container's mesos.image of type DOCKER, or a DOCKER container's
// docker.image, which corral runs through its own runtime as Mesos' Docker
// containerizer would run it with `docker run`. What corral cannot honour
// is an error naming the field: running such a task on the host's root
// would not be what its framework asked for.
func ImageOf(info *mesospb.ContainerInfo) (*ImageRef, error) {
	if info == nil {
		return nil, nil
	}
	if DockerContainer(info) {
		d := info.GetDocker()
		if d == nil || strings.TrimSpace(d.GetImage()) == "" {
			return nil, fmt.Errorf("a DOCKER container needs docker.image")
		}
		if err := dockerUnsupported(d); err != nil {
			return nil, err
		}
		if info.GetMesos().GetImage() != nil {
			return nil, fmt.Errorf("a DOCKER container names its image in docker.image, not mesos.image")
		}
		return &ImageRef{Name: d.GetImage(), Fresh: d.GetForcePullImage()}, nil
	}
	img := info.GetMesos().GetImage()
	if img == nil {
		return nil, nil
	}
	switch img.GetType() {
	case mesospb.Image_DOCKER:
	case mesospb.Image_APPC:
		return nil, fmt.Errorf("image of type APPC: corral provisions Docker/OCI images only (mesos.image.type DOCKER)")
	default:
		return nil, fmt.Errorf("image of unknown type %v", img.GetType())
	}
	name := img.GetDocker().GetName()
	switch {
	case strings.TrimSpace(name) == "":
		return nil, fmt.Errorf("mesos.image of type DOCKER needs docker.name")
	case img.GetDocker().GetConfig() != nil:
		return nil, fmt.Errorf("image %s: mesos.image.docker.config (registry credentials as a secret) is not supported: the agent's --docker-config holds credentials", name)
	}
	return &ImageRef{Name: name, Fresh: img.Cached != nil && !img.GetCached()}, nil
}

// DockerContainer reports whether info is Mesos' Docker containerizer's
// (type DOCKER). A type left unset is MESOS, though DOCKER is the enum's
// first value and so what GetType answers for it.
func DockerContainer(info *mesospb.ContainerInfo) bool {
	return info != nil && info.Type != nil && info.GetType() == mesospb.ContainerInfo_DOCKER
}

// HasImage reports whether info gives its container a root from an image
// (valid or not: ImageOf says).
func HasImage(info *mesospb.ContainerInfo) bool {
	return info.GetMesos().GetImage() != nil || DockerContainer(info)
}

// dockerUnsupported names what of Mesos' Docker containerizer corral's
// runtime does not do.
func dockerUnsupported(d *mesospb.ContainerInfo_DockerInfo) error {
	switch {
	case d.GetPrivileged():
		return fmt.Errorf("image %s: docker.privileged is not supported: corral does not run privileged containers", d.GetImage())
	case len(d.GetParameters()) > 0:
		return fmt.Errorf("image %s: docker.parameters (%s ...) are `docker run` options, which corral's runtime does not take", d.GetImage(), d.GetParameters()[0].GetKey())
	case d.GetNetwork() != mesospb.ContainerInfo_DockerInfo_HOST:
		return fmt.Errorf("image %s: docker.network %v is not supported: DOCKER containers use the host's network (use type MESOS with network_infos for a container network)", d.GetImage(), d.GetNetwork())
	case len(d.GetPortMappings()) > 0:
		return fmt.Errorf("image %s: docker.port_mappings need a BRIDGE network, which DOCKER containers do not get here", d.GetImage())
	}
	return nil
}
