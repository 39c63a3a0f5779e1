package dns

import (
	"net"
	"net/netip"
	"strings"

	"github.com/corral-sched/corral/proto/masterpb"
	"github.com/corral-sched/corral/proto/mesospb"
)

// cluster is what the records are made from: the part of the master's
// state that names need, kept up to date by the operator events. Only
// the follower's goroutine touches it.
type cluster struct {
	leader     string            // host:port of the master followed
	frameworks map[string]string // framework ID -> name
	agents     map[string]netip.Addr
	tasks      map[taskKey]*task
}

type taskKey struct{ framework, id string }

type task struct {
	name, agent string
	state       mesospb.TaskState
	ips         []netip.Addr // container IPs from the latest status that had any
	hostPorts   []uint32     // from the task's "ports" resources
	discovery   *mesospb.DiscoveryInfo
	labels      map[string]string
}

func newCluster() *cluster {
	return &cluster{frameworks: map[string]string{}, agents: map[string]netip.Addr{}, tasks: map[taskKey]*task{}}
}

// maxPortsPerTask bounds the SRV records one task's port ranges make: a
// task holding [1-65535] must not make 65,535 of them.
const maxPortsPerTask = 64

// apply changes the model by one operator event and reports whether the
// records may have changed.
func (c *cluster) apply(ev *masterpb.Event) bool {
	switch ev.GetType() {
	case masterpb.Event_SUBSCRIBED:
		st := ev.GetSubscribed().GetGetState()
		leader := c.leader
		*c = *newCluster()
		c.leader = leader
		for _, f := range st.GetGetFrameworks().GetFrameworks() {
			c.frameworks[f.GetFrameworkInfo().GetId().GetValue()] = f.GetFrameworkInfo().GetName()
		}
		for _, a := range st.GetGetAgents().GetAgents() {
			c.addAgent(a)
		}
		for _, t := range st.GetGetTasks().GetTasks() {
			c.addTask(t)
		}
	case masterpb.Event_TASK_ADDED:
		c.addTask(ev.GetTaskAdded().GetTask())
	case masterpb.Event_TASK_UPDATED:
		u := ev.GetTaskUpdated()
		k := taskKey{u.GetFrameworkId().GetValue(), u.GetStatus().GetTaskId().GetValue()}
		t, ok := c.tasks[k]
		if !ok {
			return false
		}
		if mesospb.IsTerminal(u.GetState()) {
			delete(c.tasks, k)
			return true
		}
		t.state = u.GetState()
		if ips := statusIPs(u.GetStatus()); len(ips) > 0 {
			t.ips = ips
		}
	case masterpb.Event_FRAMEWORK_ADDED:
		f := ev.GetFrameworkAdded().GetFramework().GetFrameworkInfo()
		c.frameworks[f.GetId().GetValue()] = f.GetName()
	case masterpb.Event_FRAMEWORK_UPDATED:
		f := ev.GetFrameworkUpdated().GetFramework().GetFrameworkInfo()
		c.frameworks[f.GetId().GetValue()] = f.GetName()
	case masterpb.Event_FRAMEWORK_REMOVED:
		id := ev.GetFrameworkRemoved().GetFrameworkInfo().GetId().GetValue()
		delete(c.frameworks, id)
		for k := range c.tasks {
			if k.framework == id {
				delete(c.tasks, k)
			}
		}
	case masterpb.Event_AGENT_ADDED:
		c.addAgent(ev.GetAgentAdded().GetAgent())
	case masterpb.Event_AGENT_REMOVED:
		delete(c.agents, ev.GetAgentRemoved().GetAgentId().GetValue())
	default:
		return false
	}
	return true
}

func (c *cluster) addAgent(a *masterpb.Response_GetAgents_Agent) {
	if ip, ok := agentIP(a); ok {
		c.agents[a.GetAgentInfo().GetId().GetValue()] = ip
	}
}

// agentIP is the address the master saw the agent at (its pid,
// "agent@ip:port"), else its hostname if that is an address. Hostnames
// are not resolved: a lookup here would stall every name behind it.
func agentIP(a *masterpb.Response_GetAgents_Agent) (netip.Addr, bool) {
	if _, hostport, ok := strings.Cut(a.GetPid(), "@"); ok {
		if host, _, err := net.SplitHostPort(hostport); err == nil {
			if ip, err := netip.ParseAddr(host); err == nil {
				return ip.Unmap(), true
			}
		}
	}
	if ip, err := netip.ParseAddr(a.GetAgentInfo().GetHostname()); err == nil {
		return ip.Unmap(), true
	}
	return netip.Addr{}, false
}

func (c *cluster) addTask(t *mesospb.Task) {
	if mesospb.IsTerminal(t.GetState()) {
		return
	}
	nt := &task{name: t.GetName(), agent: t.GetAgentId().GetValue(), state: t.GetState(), discovery: t.GetDiscovery(),
		labels: map[string]string{}}
	for _, st := range t.GetStatuses() {
		if ips := statusIPs(st); len(ips) > 0 {
			nt.ips = ips
		}
	}
	for _, r := range t.GetResources() {
		if r.GetName() != "ports" || r.GetType() != mesospb.Value_RANGES {
			continue
		}
		for _, rg := range r.GetRanges().GetRange() {
			for p := rg.GetBegin(); p <= rg.GetEnd() && p <= 65535 && len(nt.hostPorts) < maxPortsPerTask; p++ {
				nt.hostPorts = append(nt.hostPorts, uint32(p))
			}
		}
	}
	for _, l := range t.GetLabels().GetLabels() {
		nt.labels[l.GetKey()] = l.GetValue()
	}
	c.tasks[taskKey{t.GetFrameworkId().GetValue(), t.GetTaskId().GetValue()}] = nt
}

// statusIPs reads container_status.network_infos[].ip_addresses.
func statusIPs(st *mesospb.TaskStatus) []netip.Addr {
	var out []netip.Addr
	for _, ni := range st.GetContainerStatus().GetNetworkInfos() {
		for _, a := range ni.GetIpAddresses() {
			if ip, err := netip.ParseAddr(a.GetIpAddress()); err == nil {
				out = append(out, ip.Unmap())
			}
		}
	}
	return out
}
