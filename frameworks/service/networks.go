package service

import (
	"fmt"
	"maps"
	"net"
	"regexp"
	"slices"
	"strconv"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/proto/mesospb"
)

// Networks as Marathon 1.5 declares them (issue 20): "host" (the default)
// runs an instance on its agent's network with host ports from
// portDefinitions; "container" joins the CNI network it names, with an
// address of its own per instance, and "container/bridge" the agents'
// bridge network (Marathon's mesos-bridge); both take their ports from
// container.portMappings, where a hostPort (0: any, from the offer)
// reaches the container port through the agent.

// Network modes.
const (
	networkHost      = "host"
	networkContainer = "container"
	networkBridge    = "container/bridge"
)

// DefaultBridgeNetwork is the CNI network a container/bridge app joins,
// as Marathon's --mesos_bridge_name.
const DefaultBridgeNetwork = "mesos-bridge"

// PortMapping maps a host port to a container port on a container
// network.
type PortMapping struct {
	ContainerPort int `json:"containerPort"`
	// HostPort is nil for none (container mode's default); 0 takes any
	// port of the offer.
	HostPort *int              `json:"hostPort,omitempty"`
	Protocol string            `json:"protocol,omitempty"`
	Name     string            `json:"name,omitempty"`
	Labels   map[string]string `json:"labels,omitempty"`
	// NetworkNames names the container network the mapping is on; by
	// default the first.
	NetworkNames []string `json:"networkNames,omitempty"`
	// ServicePort is Marathon's port for its load balancers, which corral
	// does not run: accepted as 0 only, so that a GET can be PUT back.
	ServicePort int `json:"servicePort,omitempty"`
}

// containerNetworking reports whether the app's instances have networks
// of their own.
func (a *App) containerNetworking() bool {
	return len(a.Networks) > 0 && a.Networks[0].Mode != networkHost
}

// portMappings are the app's port mappings; none on the host network.
func (a *App) portMappings() []PortMapping {
	if a.Container == nil {
		return nil
	}
	return a.Container.PortMappings
}

var networkName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.\-]*$`)

func (a *App) normalizeNetworks(v *ValidationError) {
	names := map[string]bool{}
	for i := range a.Networks {
		n := &a.Networks[i]
		path := fmt.Sprintf("/networks/%d", i)
		if n.Mode == "" {
			n.Mode = networkContainer
		}
		switch n.Mode {
		case networkHost, networkBridge:
			if n.Name != "" {
				v.add(path+"/name", "%s networking takes no name", n.Mode)
			}
			if len(a.Networks) > 1 {
				v.add("/networks", "%s networking cannot be combined with other networks", n.Mode)
			}
		case networkContainer:
			switch {
			case n.Name == "":
				v.add(path+"/name", "container networking needs the name of a CNI network")
			case !networkName.MatchString(n.Name):
				v.add(path+"/name", "%q: use letters, digits, '_', '.' and '-', starting with a letter or digit", n.Name)
			case names[n.Name]:
				v.add(path+"/name", "network %q is named twice", n.Name)
			}
			names[n.Name] = true
		default:
			v.add(path+"/mode", "must be host, container or container/bridge, got %q", n.Mode)
		}
	}
	mappings := a.portMappings()
	if !a.containerNetworking() {
		if len(mappings) > 0 {
			v.add("/container/portMappings", "port mappings need container networking (networks: [{mode: container, name: ...}] or [{mode: container/bridge}]); on the host network use portDefinitions")
		}
		return
	}
	if len(a.PortDefinitions) > 0 {
		v.add("/portDefinitions", "with container networking an app's ports are container.portMappings")
	}
	if a.RequirePorts {
		v.add("/requirePorts", "only for host networking: with container networking a mapping's hostPort says which host port it needs")
	}
	seen, hostSeen, named := map[string]int{}, map[int]int{}, map[string]bool{}
	for i := range mappings {
		m := &mappings[i]
		path := fmt.Sprintf("/container/portMappings/%d", i)
		if m.Protocol == "" {
			m.Protocol = "tcp"
		}
		if m.Protocol != "tcp" && m.Protocol != "udp" {
			v.add(path+"/protocol", "must be tcp or udp (map both as two mappings), got %q", m.Protocol)
		}
		if m.ContainerPort < 1 || m.ContainerPort > 65535 {
			v.add(path+"/containerPort", "must be between 1 and 65535, got %d", m.ContainerPort)
		}
		key := strconv.Itoa(m.ContainerPort) + "/" + m.Protocol
		if j, dup := seen[key]; dup {
			v.add(path+"/containerPort", "%s is already mapped by portMappings/%d", key, j)
		}
		seen[key] = i
		if m.HostPort == nil && a.Networks[0].Mode == networkBridge {
			zero := 0 // container/bridge maps every port, as Marathon does
			m.HostPort = &zero
		}
		if hp := m.HostPort; hp != nil {
			if *hp < 0 || *hp > 65535 {
				v.add(path+"/hostPort", "must be between 0 and 65535, got %d", *hp)
			} else if j, dup := hostSeen[*hp]; dup && *hp != 0 {
				v.add(path+"/hostPort", "%d is already used by portMappings/%d", *hp, j)
			}
			hostSeen[*hp] = i
		}
		if m.ServicePort != 0 {
			v.add(path+"/servicePort", "service ports are for Marathon's load balancers, which corral does not run; find instances by name with corral dns")
		}
		if len(m.NetworkNames) > 1 || (len(m.NetworkNames) == 1 && !names[m.NetworkNames[0]]) {
			v.add(path+"/networkNames", "%q: name one of the app's container networks", m.NetworkNames)
		}
		if m.Name != "" {
			if named[m.Name] {
				v.add(path+"/name", "port name %q is used twice", m.Name)
			}
			named[m.Name] = true
		}
	}
}

// portCount is how many ports a health check's portIndex can name.
func (a *App) portCount() int {
	if a.containerNetworking() {
		return len(a.portMappings())
	}
	return len(a.PortDefinitions)
}

// hasPortNamed reports whether a port of the app has that name.
func (a *App) hasPortNamed(name string) bool {
	if a.containerNetworking() {
		return slices.ContainsFunc(a.portMappings(), func(m PortMapping) bool { return m.Name == name })
	}
	return slices.ContainsFunc(a.PortDefinitions, func(p PortDefinition) bool { return p.Name == name })
}

// portDecl is a host port an instance is given, as declared: its name
// and its number in the app (the host port asked for, or the container
// port it maps to), for the PORT_<name> and PORT_<port> variables.
type portDecl struct {
	name string
	port int
	// fixed is the host port required; 0 takes any.
	fixed int
}

// hostPortDecls are the host ports an instance takes from its offer, in
// order: its portDefinitions, or its mappings that have a hostPort.
func (a *App) hostPortDecls() []portDecl {
	var out []portDecl
	if !a.containerNetworking() {
		for _, p := range a.PortDefinitions {
			d := portDecl{name: p.Name, port: p.Port}
			if a.RequirePorts {
				d.fixed = p.Port
			}
			out = append(out, d)
		}
		return out
	}
	for _, m := range a.portMappings() {
		if m.HostPort != nil {
			out = append(out, portDecl{name: m.Name, port: m.ContainerPort, fixed: *m.HostPort})
		}
	}
	return out
}

// checkPorts are the ports a health check's portIndex names: the host
// ports given, or on a container network the container ports (the agent
// checks from inside the container's network).
func (a *App) checkPorts(hostPorts []int) []int {
	if !a.containerNetworking() {
		return hostPorts
	}
	var out []int
	for _, m := range a.portMappings() {
		out = append(out, m.ContainerPort)
	}
	return out
}

// networkInfos are what an instance's ContainerInfo asks for: each
// container network by name, with the port mappings on it from the host
// ports the instance was given. bridge names container/bridge's network.
func (a *App) networkInfos(bridge string, hostPorts []int) []*mesospb.NetworkInfo {
	if !a.containerNetworking() {
		return nil
	}
	var out []*mesospb.NetworkInfo
	index := map[string]*mesospb.NetworkInfo{}
	for _, n := range a.Networks {
		name := n.Name
		if n.Mode == networkBridge {
			name = bridge
		}
		ni := &mesospb.NetworkInfo{Name: proto.String(name)}
		for _, k := range slices.Sorted(maps.Keys(n.Labels)) {
			if ni.Labels == nil {
				ni.Labels = &mesospb.Labels{}
			}
			ni.Labels.Labels = append(ni.Labels.Labels, &mesospb.Label{Key: proto.String(k), Value: proto.String(n.Labels[k])})
		}
		out = append(out, ni)
		index[n.Name] = ni
	}
	next := 0
	for _, m := range a.portMappings() {
		if m.HostPort == nil {
			continue
		}
		if next >= len(hostPorts) {
			break
		}
		ni := out[0]
		if len(m.NetworkNames) == 1 && index[m.NetworkNames[0]] != nil {
			ni = index[m.NetworkNames[0]]
		}
		ni.PortMappings = append(ni.PortMappings, &mesospb.NetworkInfo_PortMapping{HostPort: proto.Uint32(uint32(hostPorts[next])),
			ContainerPort: proto.Uint32(uint32(m.ContainerPort)), Protocol: proto.String(m.Protocol)})
		next++
	}
	return out
}

// readinessTarget is where the readiness check on port name reaches an
// instance: its host port, or on a container network its own address and
// the container port; "" while that is not known yet.
func (a *App) readinessTarget(in *Instance, name string) string {
	if a.containerNetworking() {
		if len(in.ContainerIPs) == 0 {
			return ""
		}
		for _, m := range a.portMappings() {
			if m.Name == name {
				return net.JoinHostPort(in.ContainerIPs[0], strconv.Itoa(m.ContainerPort))
			}
		}
		return ""
	}
	for i, p := range a.PortDefinitions {
		if p.Name == name && i < len(in.Ports) {
			host := in.IP
			if host == "" {
				host = in.Host
			}
			return net.JoinHostPort(host, strconv.Itoa(in.Ports[i]))
		}
	}
	return ""
}

// ipAddresses are an instance's addresses as Marathon's task JSON shows
// them: its own on container networks, else its agent's.
func (in *Instance) ipAddresses() []map[string]string {
	out := []map[string]string{}
	for _, ip := range in.ContainerIPs {
		proto := "IPv4"
		if addr := net.ParseIP(ip); addr != nil && addr.To4() == nil {
			proto = "IPv6"
		}
		out = append(out, map[string]string{"ipAddress": ip, "protocol": proto})
	}
	if len(out) == 0 && in.IP != "" {
		out = append(out, map[string]string{"ipAddress": in.IP, "protocol": "IPv4"})
	}
	return out
}

// statusIPs are the container addresses a status reports.
func statusIPs(st *mesospb.TaskStatus) []string {
	var out []string
	for _, ni := range st.GetContainerStatus().GetNetworkInfos() {
		for _, ip := range ni.GetIpAddresses() {
			if ip.GetIpAddress() != "" {
				out = append(out, ip.GetIpAddress())
			}
		}
	}
	return out
}
