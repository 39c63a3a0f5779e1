package master

import (
	"path"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/proto/mesospb"
	"github.com/corral-sched/corral/resources"
)

// The registry's layout is a contract with masters of other versions: the
// tests name its keys literally.
const (
	registryFrameworks = "registry/frameworks"
	registryRemoved    = "registry/removed-frameworks"
)

func fwInfo(mutate func(*mesospb.FrameworkInfo)) *mesospb.FrameworkInfo {
	info := &mesospb.FrameworkInfo{User: proto.String("root"), Name: proto.String("test")}
	if mutate != nil {
		mutate(info)
	}
	return info
}

func multiRole(info *mesospb.FrameworkInfo) {
	info.Capabilities = append(info.Capabilities, &mesospb.FrameworkInfo_Capability{
		Type: mesospb.FrameworkInfo_Capability_MULTI_ROLE.Enum(),
	})
}

func lastComponent(key string) string { return path.Base(key) }

// findVolume is the persistent volume id reserved to role in r, or nil.
func findVolume(r resources.Resources, role, id string) *mesospb.Resource {
	for _, x := range r {
		if resources.IsVolume(x) && x.GetDisk().GetPersistence().GetId() == id && resources.ReservedRole(x) == role {
			return x
		}
	}
	return nil
}
