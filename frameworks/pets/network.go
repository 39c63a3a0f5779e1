package pets

import (
	"regexp"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/proto/mesospb"
)

// networkName is the CNI rule for a network's name.
var networkName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.\-]*$`)

// petNetwork puts a pet on a CNI network: an address of its own, which
// its stable name (db-0.db.pets.corral) resolves to, and each of its host
// ports mapped to the same port on that address, so that PORT0 means the
// same on either.
func petNetwork(name string, ports []uint64) *mesospb.NetworkInfo {
	ni := &mesospb.NetworkInfo{Name: proto.String(name)}
	for _, p := range ports {
		ni.PortMappings = append(ni.PortMappings, &mesospb.NetworkInfo_PortMapping{
			HostPort: proto.Uint32(uint32(p)), ContainerPort: proto.Uint32(uint32(p)), Protocol: proto.String("tcp")})
	}
	return ni
}
