package netinfo_test

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/isolators/cni/netinfo"
	"github.com/corral-sched/corral/proto/mesospb"
	"github.com/corral-sched/corral/resources"
)

func pm(host, container uint32, protocol string) *mesospb.NetworkInfo_PortMapping {
	m := &mesospb.NetworkInfo_PortMapping{HostPort: proto.Uint32(host), ContainerPort: proto.Uint32(container)}
	if protocol != "" {
		m.Protocol = proto.String(protocol)
	}
	return m
}

func named(name string, mappings ...*mesospb.NetworkInfo_PortMapping) *mesospb.NetworkInfo {
	ni := &mesospb.NetworkInfo{PortMappings: mappings}
	if name != "" {
		ni.Name = proto.String(name)
	}
	return ni
}

func TestValidateNetworkInfosNamesTheField(t *testing.T) {
	offered := []*mesospb.Resource{resources.Scalar("cpus", 1), resources.Range("ports", 31000, 31009)}
	cases := []struct {
		name  string
		ci    *mesospb.ContainerInfo
		wants []string // one per problem; none means valid
	}{
		{"one network with mappings in the offer", &mesospb.ContainerInfo{NetworkInfos: []*mesospb.NetworkInfo{
			named("corral-net", pm(31000, 80, "tcp"), pm(31000, 53, "udp"), pm(31001, 8080, ""))}}, nil},
		{"host network", &mesospb.ContainerInfo{NetworkInfos: []*mesospb.NetworkInfo{named("")}}, nil},
		{"no network_infos", &mesospb.ContainerInfo{}, nil},
		{"host port outside the offer", &mesospb.ContainerInfo{NetworkInfos: []*mesospb.NetworkInfo{named("corral-net", pm(8080, 80, "tcp"))}},
			[]string{"container.network_infos[0].port_mappings[0].host_port 8080: not among the task's ports resources ([31000-31009])"}},
		{"container port mapped twice", &mesospb.ContainerInfo{NetworkInfos: []*mesospb.NetworkInfo{named("corral-net", pm(31000, 80, "tcp"), pm(31001, 80, "TCP"))}},
			[]string{"container.network_infos[0].port_mappings[1].container_port 80/tcp: already mapped by port_mappings[0]"}},
		{"host port used twice", &mesospb.ContainerInfo{NetworkInfos: []*mesospb.NetworkInfo{named("a", pm(31000, 80, "")), named("b", pm(31000, 81, ""))}},
			[]string{"container.network_infos[1].port_mappings[0].host_port 31000/tcp: already mapped by container.network_infos[0].port_mappings[0]"}},
		{"host and CNI networks at once", &mesospb.ContainerInfo{NetworkInfos: []*mesospb.NetworkInfo{named("corral-net"), named("")}},
			[]string{"container.network_infos: a container joins the host network (no name) or CNI networks, not both"}},
		{"mappings on the host network", &mesospb.ContainerInfo{NetworkInfos: []*mesospb.NetworkInfo{named("", pm(31000, 80, ""))}},
			[]string{"container.network_infos[0].port_mappings: port mappings need a named CNI network"}},
		{"docker host network with a CNI network", &mesospb.ContainerInfo{
			Docker:       &mesospb.ContainerInfo_DockerInfo{Image: proto.String("x"), Network: mesospb.ContainerInfo_DockerInfo_HOST.Enum()},
			NetworkInfos: []*mesospb.NetworkInfo{named("corral-net")}},
			[]string{"container.docker.network HOST conflicts with container.network_infos[0].name"}},
		{"same network twice", &mesospb.ContainerInfo{NetworkInfos: []*mesospb.NetworkInfo{named("corral-net"), named("corral-net")}},
			[]string{`container.network_infos[1].name "corral-net": the container is already on that network`}},
		{"bad name, addresses, groups", &mesospb.ContainerInfo{NetworkInfos: []*mesospb.NetworkInfo{{
			Name: proto.String("../etc"), Groups: []string{"g"},
			IpAddresses: []*mesospb.NetworkInfo_IPAddress{{IpAddress: proto.String("198.18.0.9")}}}}},
			[]string{`container.network_infos[0].name "../etc"`, "container.network_infos[0].ip_addresses:", "container.network_infos[0].groups:"}},
		{"ports out of range and a bad protocol", &mesospb.ContainerInfo{NetworkInfos: []*mesospb.NetworkInfo{named("corral-net", pm(0, 70000, "sctp"))}},
			[]string{`port_mappings[0].protocol "sctp": use tcp or udp`, "port_mappings[0].container_port 70000: must be 1-65535", "port_mappings[0].host_port 0: must be 1-65535"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := netinfo.Validate(c.ci, offered)
			if len(c.wants) == 0 {
				if err != nil {
					t.Fatalf("err = %v, want none", err)
				}
				return
			}
			ve, ok := err.(*netinfo.ValidationError)
			if !ok {
				t.Fatalf("err = %v (%T), want a ValidationError", err, err)
			}
			if len(ve.Problems) != len(c.wants) {
				t.Fatalf("problems %q, want %d", ve.Problems, len(c.wants))
			}
			for i, want := range c.wants {
				if !strings.Contains(ve.Problems[i], want) {
					t.Errorf("problem %d = %q, want it to contain %q", i, ve.Problems[i], want)
				}
			}
		})
	}
}
