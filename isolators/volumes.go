package isolators

import (
	"fmt"

	"github.com/corral-sched/corral/proto/mesospb"
	"github.com/corral-sched/corral/resources"
)

// VolumesOf reads a ContainerInfo's volumes into Volumes for the volume
// isolators to resolve (SANDBOX_PATH, HOST_PATH) and a file system
// isolator to make appear. What corral cannot do is an error naming the
// volume: it must never be ignored.
func VolumesOf(info *mesospb.ContainerInfo) ([]Volume, error) {
	var out []Volume
	for _, v := range info.GetVolumes() {
		target := v.GetContainerPath()
		if target == "" {
			return nil, fmt.Errorf("a volume needs 'container_path'")
		}
		if target[0] != '/' {
			if err := resources.ValidateContainerPath(target); err != nil {
				return nil, fmt.Errorf("volume %q: %w", target, err)
			}
		}
		vol := Volume{Target: target, ReadOnly: v.GetMode() == mesospb.Volume_RO}
		switch src := v.GetSource(); {
		case src.GetType() == mesospb.Volume_Source_SANDBOX_PATH:
			if src.GetSandboxPath().GetType() == mesospb.Volume_Source_SandboxPath_PARENT {
				return nil, fmt.Errorf("volume %q: SANDBOX_PATH volumes of type PARENT need a nested container, which corral does not run", target)
			}
			vol.Kind, vol.Path = SandboxPathVolume, src.GetSandboxPath().GetPath()
		case src.GetType() == mesospb.Volume_Source_HOST_PATH:
			vol.Kind, vol.Path = HostPathVolume, src.GetHostPath().GetPath()
		case v.Source == nil && v.GetHostPath() != "":
			vol.Kind, vol.Path = HostPathVolume, v.GetHostPath() // the older field
		default:
			return nil, fmt.Errorf("volume %q: source type %v is not supported", target, src.GetType())
		}
		out = append(out, vol)
	}
	return out, nil
}
