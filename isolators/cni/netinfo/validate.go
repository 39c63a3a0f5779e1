// Package netinfo checks a container's network_infos before anything is
// made: pure validation that the master (which must not link the CNI
// library) and the agent's network/cni isolator share. Its errors name the
// field, as TASK_ERROR reasons do.
package netinfo

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/corral-sched/corral/proto/mesospb"
	"github.com/corral-sched/corral/resources"
)

// ValidationError lists what is wrong with a task's networks, one problem
// per entry, each naming the field.
type ValidationError struct{ Problems []string }

func (e *ValidationError) Error() string { return strings.Join(e.Problems, "; ") }

// validName is libcni's rule for names and container IDs: a network's
// name also names files in the agent's state directory.
var validName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.\-]*$`)

// Validate checks the network_infos of a task's ContainerInfo
// before anything is made: names, settings that contradict each other,
// port mappings (ports in range, no container port mapped twice, no host
// port used twice, every host port among the task's resources, which came
// from its offer). It knows nothing of the configured networks: an
// unknown name is the agent's to refuse. nil means nothing to say.
func Validate(ci *mesospb.ContainerInfo, taskResources []*mesospb.Resource) error {
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	infos := ci.GetNetworkInfos()
	offered := resources.Resources(taskResources).Ranges("ports")
	named, unnamed := 0, 0
	names := map[string]int{}
	hostPorts := map[string]string{}
	for i, ni := range infos {
		field := fmt.Sprintf("container.network_infos[%d]", i)
		name := ni.GetName()
		switch {
		case name == "":
			unnamed++
			if len(ni.GetPortMappings()) > 0 {
				bad("%s.port_mappings: port mappings need a named CNI network (on the host network a task uses its host ports directly)", field)
			}
		case !validName.MatchString(name):
			bad("%s.name %q: use letters, digits, '_', '.' and '-', starting with a letter or digit", field, name)
		default:
			named++
			if j, dup := names[name]; dup {
				bad("%s.name %q: the container is already on that network (network_infos[%d])", field, name, j)
			}
			names[name] = i
		}
		if len(ni.GetIpAddresses()) > 0 {
			bad("%s.ip_addresses: addresses are assigned by the network's IPAM plugin, not requested by the task", field)
		}
		if len(ni.GetGroups()) > 0 {
			bad("%s.groups: network groups are not supported", field)
		}
		containerPorts := map[string]int{}
		for j, pm := range ni.GetPortMappings() {
			pf := fmt.Sprintf("%s.port_mappings[%d]", field, j)
			proto := strings.ToLower(pm.GetProtocol())
			if proto == "" {
				proto = "tcp"
			}
			if proto != "tcp" && proto != "udp" {
				bad("%s.protocol %q: use tcp or udp", pf, pm.GetProtocol())
			}
			cp, hp := pm.GetContainerPort(), pm.GetHostPort()
			if cp == 0 || cp > 65535 {
				bad("%s.container_port %d: must be 1-65535", pf, cp)
			}
			if hp == 0 || hp > 65535 {
				bad("%s.host_port %d: must be 1-65535", pf, hp)
				continue
			}
			key := strconv.FormatUint(uint64(cp), 10) + "/" + proto
			if k, dup := containerPorts[key]; dup {
				bad("%s.container_port %d/%s: already mapped by port_mappings[%d]", pf, cp, proto, k)
			}
			containerPorts[key] = j
			hkey := strconv.FormatUint(uint64(hp), 10) + "/" + proto
			if prev, dup := hostPorts[hkey]; dup {
				bad("%s.host_port %d/%s: already mapped by %s", pf, hp, proto, prev)
			}
			hostPorts[hkey] = pf
			if !inRanges(uint64(hp), offered) {
				bad("%s.host_port %d: not among the task's ports resources (%s)", pf, hp, rangesText(offered))
			}
		}
	}
	if named > 0 && unnamed > 0 {
		bad("container.network_infos: a container joins the host network (no name) or CNI networks, not both")
	}
	if d := ci.GetDocker(); named > 0 && d != nil && d.Network != nil && d.GetNetwork() != mesospb.ContainerInfo_DockerInfo_USER {
		bad("container.docker.network %v conflicts with container.network_infos[%d].name: use USER or leave it unset", d.GetNetwork(), firstNamed(infos))
	}
	if len(problems) > 0 {
		return &ValidationError{Problems: problems}
	}
	return nil
}

func firstNamed(infos []*mesospb.NetworkInfo) int {
	for i, ni := range infos {
		if ni.GetName() != "" {
			return i
		}
	}
	return 0
}

func inRanges(v uint64, rs []*mesospb.Value_Range) bool {
	for _, r := range rs {
		if v >= r.GetBegin() && v <= r.GetEnd() {
			return true
		}
	}
	return false
}

func rangesText(rs []*mesospb.Value_Range) string {
	if len(rs) == 0 {
		return "none"
	}
	parts := make([]string, len(rs))
	for i, r := range rs {
		parts[i] = fmt.Sprintf("%d-%d", r.GetBegin(), r.GetEnd())
	}
	return "[" + strings.Join(parts, ",") + "]"
}
